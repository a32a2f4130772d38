//! Reading CAP documents and Atom/RSS indexes of them into [`Alert`]s and [`IndexEntry`]s:
//! element names by local name, values trimmed, nothing interpreted yet.

use chrono::{DateTime, Utc};
use roxmltree::Node;
use url::Url;

use super::{Alert, Area, IndexEntry, Info};
use crate::config::Severity;
use crate::dates::parse_date;
use crate::link::http_url;
use crate::text::html_to_text;

fn child<'a>(node: Node<'a, 'a>, name: &str) -> Option<Node<'a, 'a>> {
    node.children()
        .find(|c| c.is_element() && c.tag_name().name() == name)
}

fn children<'a>(node: Node<'a, 'a>, name: &'a str) -> impl Iterator<Item = Node<'a, 'a>> + 'a {
    node.children()
        .filter(move |c| c.is_element() && c.tag_name().name() == name)
}

fn text(node: Node, name: &str) -> String {
    child(node, name)
        .map(|c| c.text().unwrap_or_default().trim().to_owned())
        .unwrap_or_default()
}

fn time(node: Node, name: &str) -> Option<DateTime<Utc>> {
    parse_date(&text(node, name), chrono_tz::UTC)
}

/// `valueName`/`value` pairs, in order (NWS puts several pairs in one element).
fn pairs(node: Node) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut name = None;
    for c in node.children().filter(Node::is_element) {
        let t = c.text().unwrap_or_default().trim().to_owned();
        match c.tag_name().name() {
            "valueName" => name = Some(t),
            "value" => {
                if let Some(n) = name.take() {
                    out.push((n, t));
                }
            }
            _ => {}
        }
    }
    out
}

pub(super) fn read_alert(node: Node) -> Alert {
    Alert {
        identifier: text(node, "identifier"),
        sender: text(node, "sender"),
        sent: text(node, "sent"),
        status: text(node, "status"),
        msg_type: text(node, "msgType"),
        scope: text(node, "scope"),
        references: text(node, "references")
            .split_whitespace()
            .map(str::to_owned)
            .collect(),
        infos: children(node, "info").map(read_info).collect(),
    }
}

fn read_info(node: Node) -> Info {
    Info {
        language: text(node, "language"),
        event: text(node, "event"),
        urgency: text(node, "urgency"),
        severity: text(node, "severity"),
        certainty: text(node, "certainty"),
        effective: time(node, "effective"),
        onset: time(node, "onset"),
        expires: time(node, "expires"),
        headline: text(node, "headline"),
        description: text(node, "description"),
        instruction: text(node, "instruction"),
        web: http_url(&text(node, "web"), None),
        parameters: children(node, "parameter").flat_map(pairs).collect(),
        areas: children(node, "area").map(read_area).collect(),
    }
}

fn read_area(node: Node) -> Area {
    Area {
        desc: crate::text::collapse_whitespace(&text(node, "areaDesc")),
        polygons: children(node, "polygon")
            .filter_map(|p| parse_polygon(p.text().unwrap_or_default()))
            .collect(),
        circles: children(node, "circle")
            .filter_map(|c| parse_circle(c.text().unwrap_or_default()))
            .collect(),
        geocodes: children(node, "geocode").flat_map(pairs).collect(),
    }
}

/// "lat,lon lat,lon …", at least 4 pairs.
fn parse_polygon(s: &str) -> Option<Vec<(f64, f64)>> {
    let points: Option<Vec<(f64, f64)>> = s.split_whitespace().map(parse_pair).collect();
    points.filter(|p| p.len() >= 4)
}

fn parse_pair(s: &str) -> Option<(f64, f64)> {
    let (lat, lon) = s.split_once(',')?;
    let (lat, lon) = (
        lat.trim().parse::<f64>().ok()?,
        lon.trim().parse::<f64>().ok()?,
    );
    (lat.is_finite() && lon.is_finite() && lat.abs() <= 90.0 && lon.abs() <= 180.0)
        .then_some((lat, lon))
}

/// "lat,lon radius_km".
fn parse_circle(s: &str) -> Option<(f64, f64, f64)> {
    let mut parts = s.split_whitespace();
    let (lat, lon) = parse_pair(parts.next()?)?;
    let radius: f64 = parts.next()?.parse().ok()?;
    (radius.is_finite() && radius >= 0.0).then_some((lat, lon, radius))
}

pub(super) fn read_index(root: Node, base: Option<&Url>) -> Vec<IndexEntry> {
    root.descendants()
        .filter(|n| n.is_element() && matches!(n.tag_name().name(), "entry" | "item"))
        .map(|entry| read_index_entry(entry, base))
        .collect()
}

fn is_cap_ns(n: &Node) -> bool {
    n.tag_name()
        .namespace()
        .is_some_and(|ns| ns.contains("emergency:cap"))
}

fn read_index_entry(entry: Node, base: Option<&Url>) -> IndexEntry {
    let links: Vec<(String, String, String)> = children(entry, "link")
        .map(|l| {
            let href = l
                .attribute("href")
                .map(str::to_owned)
                .unwrap_or_else(|| l.text().unwrap_or_default().trim().to_owned());
            (
                href,
                l.attribute("type").unwrap_or_default().to_owned(),
                l.attribute("rel").unwrap_or_default().to_owned(),
            )
        })
        .collect();
    let cap_link = links
        .iter()
        .find(|(_, ty, _)| ty.contains("cap"))
        .and_then(|(h, _, _)| http_url(h, base));
    let page_link = links
        .iter()
        .filter(|(_, ty, _)| !ty.contains("cap") && !ty.contains("atom"))
        .find_map(|(h, _, _)| http_url(h, base));
    let cap = |name: &str| {
        entry
            .children()
            .find(|c| c.is_element() && is_cap_ns(c) && c.tag_name().name() == name)
            .map(|c| c.text().unwrap_or_default().trim().to_owned())
            .filter(|t| !t.is_empty())
    };
    let has_inline = entry.children().any(|c| c.is_element() && is_cap_ns(&c));
    let atom = |name: &str| text(entry, name);
    let inline = has_inline.then(|| {
        let geocodes = entry
            .children()
            .filter(|c| c.is_element() && is_cap_ns(c) && c.tag_name().name() == "geocode")
            .flat_map(pairs)
            .collect();
        let polygons = cap("polygon")
            .and_then(|p| parse_polygon(&p))
            .into_iter()
            .collect();
        let when = |name: &str| cap(name).and_then(|t| parse_date(&t, chrono_tz::UTC));
        Alert {
            identifier: cap("identifier").unwrap_or_else(|| atom("id")),
            sender: cap("sender").unwrap_or_else(|| {
                child(entry, "author")
                    .map(|a| text(a, "name"))
                    .unwrap_or_default()
            }),
            sent: cap("sent").unwrap_or_else(|| {
                let published = atom("published");
                if published.is_empty() {
                    atom("updated")
                } else {
                    published
                }
            }),
            status: cap("status").unwrap_or_else(|| "Actual".into()),
            msg_type: cap("msgType")
                .or_else(|| cap("message_type"))
                .unwrap_or_else(|| "Alert".into()),
            scope: cap("scope").unwrap_or_else(|| "Public".into()),
            references: cap("references")
                .map(|r| r.split_whitespace().map(str::to_owned).collect())
                .unwrap_or_default(),
            infos: vec![Info {
                language: String::new(),
                event: cap("event").unwrap_or_default(),
                urgency: cap("urgency").unwrap_or_default(),
                severity: cap("severity").unwrap_or_default(),
                certainty: cap("certainty").unwrap_or_default(),
                effective: when("effective"),
                onset: when("onset"),
                expires: when("expires"),
                headline: cap("headline").unwrap_or_else(|| html_to_text(&atom("title"))),
                description: html_to_text(&atom("summary")),
                instruction: String::new(),
                web: page_link.clone(),
                parameters: vec![],
                areas: vec![Area {
                    desc: cap("areaDesc").unwrap_or_default(),
                    polygons,
                    circles: vec![],
                    geocodes,
                }],
            }],
        }
    });
    IndexEntry {
        link: cap_link.or(if has_inline { None } else { page_link }),
        inline,
    }
}

pub(super) fn severity(s: &str) -> Severity {
    match s.trim().to_ascii_lowercase().as_str() {
        "extreme" => Severity::Extreme,
        "severe" => Severity::Severe,
        "moderate" => Severity::Moderate,
        "minor" => Severity::Minor,
        _ => Severity::Unknown,
    }
}
