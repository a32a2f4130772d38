//! CAP 1.1/1.2 alerts (Civil Protection, Meteoalarm, national weather services), and Atom/RSS
//! indexes of them.
//!
//! XML is read with roxmltree with DTDs refused outright: no entity expansion, no external
//! entities. Element names are matched by local name, so `cap:alert` and `alert` both work.
//! Only `status = Actual` and `scope = Public` alerts become items; the area, severity and
//! expiry filters come from the source's configuration through [`AlertFilter`].

use chrono::{DateTime, Utc};
use geo::{Contains, Coord, Distance, Haversine, LineString, Point, Polygon};
use roxmltree::{Document, Node, ParsingOptions};
use url::Url;

use super::feed::http_url;
use super::{guarded, ParseContext, ParseError};
use crate::config::{Location, Priority, Severity};
use crate::dates::{italian_when, parse_date};
use crate::item::{AlertMeta, Item, MsgType};
use crate::text::{html_to_text, truncate};

/// What a CAP source is filtered by.
#[derive(Debug, Clone, Default)]
pub struct AlertFilter {
    pub location: Option<Location>,
    /// (valueName, value) pairs.
    pub geocodes: Vec<(String, String)>,
    pub min_severity: Option<Severity>,
    /// The official page when an alert has no `<web>`.
    pub link: Option<Url>,
    /// Alerts expired before this are dropped; `None` keeps them (preview).
    pub now: Option<DateTime<Utc>>,
}

impl AlertFilter {
    fn filters_area(&self) -> bool {
        self.location.is_some() || !self.geocodes.is_empty()
    }
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Alert {
    pub identifier: String,
    pub sender: String,
    pub sent: String,
    pub status: String,
    pub msg_type: String,
    pub scope: String,
    pub references: Vec<String>,
    pub infos: Vec<Info>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Info {
    pub language: String,
    pub event: String,
    pub urgency: String,
    pub severity: String,
    pub certainty: String,
    pub effective: Option<DateTime<Utc>>,
    pub onset: Option<DateTime<Utc>>,
    pub expires: Option<DateTime<Utc>>,
    pub headline: String,
    pub description: String,
    pub instruction: String,
    pub web: Option<Url>,
    pub parameters: Vec<(String, String)>,
    pub areas: Vec<Area>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Area {
    pub desc: String,
    /// Rings of (lat, lon).
    pub polygons: Vec<Vec<(f64, f64)>>,
    /// (lat, lon, radius km).
    pub circles: Vec<(f64, f64, f64)>,
    pub geocodes: Vec<(String, String)>,
}

/// One entry of an index: the CAP document it links to and/or the alert its `cap:` fields
/// describe inline.
#[derive(Debug, Clone, PartialEq)]
pub struct IndexEntry {
    pub link: Option<Url>,
    pub inline: Option<Alert>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum CapDocument {
    Alert(Alert),
    Index(Vec<IndexEntry>),
}

/// Parses a CAP alert or an index of alerts.
pub fn parse_document(text: &str, base: Option<&Url>) -> Result<CapDocument, ParseError> {
    let text = text.trim_start_matches(['\u{feff}', ' ', '\t', '\r', '\n']);
    if text.is_empty() {
        return Err(ParseError::Empty);
    }
    guarded("CAP", || {
        let opts = ParsingOptions {
            allow_dtd: false,
            nodes_limit: 1_000_000,
            ..ParsingOptions::default()
        };
        let doc = Document::parse_with_options(text, opts).map_err(|e| match e {
            roxmltree::Error::DtdDetected => ParseError::Hostile(
                "the document has a DTD (<!DOCTYPE>), which CAP alerts never need".into(),
            ),
            e => ParseError::Malformed(e.to_string()),
        })?;
        let root = doc.root_element();
        match root.tag_name().name() {
            "alert" => Ok(CapDocument::Alert(read_alert(root))),
            "feed" | "rss" | "RDF" => Ok(CapDocument::Index(read_index(root, base))),
            "html" => Err(ParseError::NotAFeed { hint: None }),
            other => Err(ParseError::Malformed(format!(
                "expected a CAP <alert> or an Atom/RSS index of alerts, found <{other}>"
            ))),
        }
    })
}

/// Whether a document is CAP (an alert, or an index whose entries carry `cap:` fields).
pub fn looks_like_cap(text: &str) -> bool {
    let head: String = text.chars().take(2000).collect();
    head.contains("urn:oasis:names:tc:emergency:cap") || head.contains("<alert")
}

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

fn read_alert(node: Node) -> Alert {
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

fn read_index(root: Node, base: Option<&Url>) -> Vec<IndexEntry> {
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

fn severity(s: &str) -> Severity {
    match s.trim().to_ascii_lowercase().as_str() {
        "extreme" => Severity::Extreme,
        "severe" => Severity::Severe,
        "moderate" => Severity::Moderate,
        "minor" => Severity::Minor,
        _ => Severity::Unknown,
    }
}

/// `sender,identifier,sent`: how CAP refers to an alert.
pub fn reference(alert: &Alert) -> String {
    format!("{},{},{}", alert.sender, alert.identifier, alert.sent)
}

impl Area {
    fn contains(&self, loc: Location) -> bool {
        let point = Point::new(loc.lon, loc.lat);
        self.polygons.iter().any(|ring| {
            let coords: Vec<Coord> = ring
                .iter()
                .map(|&(lat, lon)| Coord { x: lon, y: lat })
                .collect();
            Polygon::new(LineString::from(coords), vec![]).contains(&point)
        }) || self.circles.iter().any(|&(lat, lon, radius_km)| {
            Haversine.distance(Point::new(lon, lat), point) / 1000.0 <= radius_km
        })
    }

    fn has_geocode(&self, wanted: &[(String, String)]) -> bool {
        self.geocodes.iter().any(|(n, v)| {
            wanted
                .iter()
                .any(|(wn, wv)| wn.eq_ignore_ascii_case(n) && wv == v)
        })
    }
}

impl Info {
    /// The areas of this info that concern the comune (all of them when no filter is set).
    fn matching_areas(&self, filter: &AlertFilter) -> Vec<&Area> {
        if !filter.filters_area() {
            return self.areas.iter().collect();
        }
        self.areas
            .iter()
            .filter(|a| {
                a.has_geocode(&filter.geocodes) || filter.location.is_some_and(|l| a.contains(l))
            })
            .collect()
    }

    fn parameter(&self, name: &str) -> Option<&str> {
        self.parameters
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// The info blocks in order of preference: Italian, then English, then the rest.
fn by_language(alert: &Alert) -> Vec<&Info> {
    let rank = |i: &&Info| {
        let l = i.language.to_ascii_lowercase();
        if l.starts_with("it") {
            0
        } else if l.starts_with("en") || l.is_empty() {
            1
        } else {
            2
        }
    };
    let mut infos: Vec<&Info> = alert.infos.iter().collect();
    infos.sort_by_key(rank);
    infos
}

/// The item an alert gives for the comune, if any.
pub fn alert_item(alert: &Alert, ctx: &ParseContext) -> Option<Item> {
    let filter = &ctx.alerts;
    if !alert.status.eq_ignore_ascii_case("actual") || !alert.scope.eq_ignore_ascii_case("public") {
        return None;
    }
    let msg_type = MsgType::parse(&alert.msg_type)?;
    let sent = parse_date(&alert.sent, chrono_tz::UTC);
    let infos = by_language(alert);
    let chosen = infos.iter().find_map(|info| {
        let areas = info.matching_areas(filter);
        if areas.is_empty() && filter.filters_area() {
            return None;
        }
        if msg_type != MsgType::Cancel {
            if let Some(min) = filter.min_severity {
                if severity(&info.severity) < min {
                    return None;
                }
            }
            if let (Some(now), Some(expires)) = (filter.now, info.expires) {
                if expires <= now {
                    return None;
                }
            }
        }
        Some((*info, areas))
    });
    // A Cancel may carry no <info> at all; it still withdraws what it references.
    let (info, areas) = match chosen {
        Some(c) => (Some(c.0), c.1),
        None if msg_type == MsgType::Cancel && alert.infos.is_empty() => (None, vec![]),
        None => return None,
    };
    let url = info
        .and_then(|i| i.web.clone())
        .or_else(|| filter.link.clone())
        .or_else(|| ctx.base.clone());
    let tz = ctx.tz;
    let year = sent.map_or(2000, |s| {
        s.with_timezone(&tz)
            .format("%Y")
            .to_string()
            .parse()
            .unwrap_or(2000)
    });
    let headline = info
        .map(|i| {
            if i.headline.is_empty() {
                i.event.clone()
            } else {
                i.headline.clone()
            }
        })
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "Allerta".into());
    let area_names: Vec<&str> = areas
        .iter()
        .map(|a| a.desc.as_str())
        .filter(|d| !d.is_empty())
        .collect();
    let mut paragraphs = Vec::new();
    if msg_type == MsgType::Cancel {
        paragraphs.push("L'allerta è stata revocata dall'ente che l'aveva emessa.".to_owned());
    }
    if let Some(info) = info {
        if !area_names.is_empty() {
            let shown: Vec<&str> = area_names.iter().take(4).copied().collect();
            let more = area_names.len().saturating_sub(shown.len());
            let mut zone = format!("Zona: {}", shown.join(", "));
            if more > 0 {
                zone.push_str(&format!(" e altre {more}"));
            }
            paragraphs.push(zone);
        }
        // A cancellation says only what ends and where.
        if msg_type != MsgType::Cancel {
            let start = info.onset.or(info.effective);
            match (start, info.expires) {
                (Some(s), Some(e)) => paragraphs.push(format!(
                    "Dalle {} alle {}.",
                    italian_when(s, tz, year),
                    italian_when(e, tz, year)
                )),
                (Some(s), None) => paragraphs.push(format!("Dalle {}.", italian_when(s, tz, year))),
                (None, Some(e)) => {
                    paragraphs.push(format!("Fino alle {}.", italian_when(e, tz, year)))
                }
                (None, None) => {}
            }
            let description = html_to_text(&info.description.replace('\n', " "));
            if !description.is_empty() {
                paragraphs.push(truncate(&description, 320));
            }
            let instruction = html_to_text(&info.instruction.replace('\n', " "));
            if !instruction.is_empty() {
                paragraphs.push(format!("Cosa fare: {}", truncate(&instruction, 240)));
            }
        }
    }
    let sev = info
        .map(|i| severity(&i.severity))
        .unwrap_or(Severity::Unknown);
    let urgent = matches!(sev, Severity::Severe | Severity::Extreme)
        || info.is_some_and(|i| i.urgency.eq_ignore_ascii_case("immediate"));
    let mut extra = serde_json::Map::new();
    extra.insert("msg_type".into(), msg_type.as_str().into());
    if let Some(i) = info {
        extra.insert("severity".into(), format!("{sev:?}").into());
        extra.insert("urgency".into(), i.urgency.clone().into());
        extra.insert("event".into(), i.event.clone().into());
        if let Some(e) = i.expires {
            extra.insert(
                "expires".into(),
                e.to_rfc3339_opts(chrono::SecondsFormat::Secs, true).into(),
            );
        }
    }
    if !area_names.is_empty() {
        extra.insert("area".into(), area_names.join(", ").into());
    }
    let this = reference(alert);
    extra.insert("cap_ref".into(), this.clone().into());
    let level = info
        .map(|i| {
            format!(
                "{}|{}|{}",
                i.event,
                i.severity,
                i.parameter("awareness_level").unwrap_or_default()
            )
        })
        .unwrap_or_default();
    let level_key = (msg_type == MsgType::Alert && alert.references.is_empty())
        .then(|| format!("{}|{}", alert.sender, area_names.join(",")));
    let title = match msg_type {
        MsgType::Cancel => format!("REVOCA: {headline}"),
        _ => headline,
    };
    Some(Item {
        guid: Some(format!("cap:{this}")),
        strict_id: true,
        url,
        title,
        summary: paragraphs.join("\n\n"),
        plain: true,
        published: sent,
        priority: Some(if urgent {
            Priority::Urgent
        } else {
            Priority::Normal
        }),
        extra,
        alert: Some(AlertMeta {
            reference: this,
            msg_type,
            references: alert.references.clone(),
            level_key,
            level,
            expires: info.and_then(|i| i.expires),
        }),
        ..Item::default()
    })
}

/// Items of a CAP document for preview and for index entries carrying inline fields. Entries
/// that only link to a CAP document give nothing here; the pipeline fetches them.
pub fn parse(text: &str, ctx: &ParseContext) -> Result<Vec<Item>, ParseError> {
    Ok(match parse_document(text, ctx.base.as_ref())? {
        CapDocument::Alert(alert) => alert_item(&alert, ctx).into_iter().collect(),
        CapDocument::Index(entries) => entries
            .iter()
            .filter_map(|e| e.inline.as_ref())
            .filter_map(|a| alert_item(a, ctx))
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> String {
        std::fs::read_to_string(format!(
            "{}/fixtures/cap/{name}",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap()
    }

    fn ctx() -> ParseContext {
        ParseContext::new(None, chrono_tz::Europe::Rome)
    }

    fn at(s: &str) -> Option<DateTime<Utc>> {
        Some(DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc))
    }

    #[test]
    fn thunderstorm_polygon_inside_and_outside() {
        let text = fixture("a2-thunderstorm.xml");
        let mut c = ctx();
        c.base = Some(Url::parse("https://comune.example.it/allerte").unwrap());
        // Inside the warned polygon (Sacramento area, as in the CAP 1.2 example).
        c.alerts.location = Some(Location {
            lat: 38.49,
            lon: -119.93,
        });
        let items = parse(&text, &c).unwrap();
        assert_eq!(items.len(), 1);
        assert_eq!(items[0].priority, Some(Priority::Urgent));
        c.alerts.location = Some(Location {
            lat: 45.133,
            lon: 10.027,
        });
        assert!(parse(&text, &c).unwrap().is_empty());
    }

    #[test]
    fn test_exercise_and_restricted_give_nothing() {
        let base = fixture("a1-homeland-security.xml");
        assert_eq!(parse(&base, &ctx()).unwrap().len(), 1);
        for (from, to) in [
            ("<status>Actual</status>", "<status>Test</status>"),
            ("<status>Actual</status>", "<status>Exercise</status>"),
            ("<scope>Public</scope>", "<scope>Restricted</scope>"),
        ] {
            let changed = base.replace(from, to);
            assert_ne!(changed, base);
            assert!(parse(&changed, &ctx()).unwrap().is_empty(), "{to}");
        }
    }

    #[test]
    fn italian_info_is_preferred() {
        let text = fixture("a1-homeland-security.xml").replace(
            "</info>",
            "</info><info><language>it-IT</language><category>Security</category><event>Allerta</event>\
             <urgency>Immediate</urgency><severity>Severe</severity><certainty>Likely</certainty>\
             <headline>Allerta sicurezza nazionale</headline><description>Testo italiano.</description></info>",
        );
        let items = parse(&text, &ctx()).unwrap();
        assert_eq!(items[0].title, "Allerta sicurezza nazionale");
    }

    #[test]
    fn expired_alerts_are_dropped() {
        let text = fixture("a2-thunderstorm.xml");
        let mut c = ctx();
        c.base = Some(Url::parse("https://comune.example.it/allerte").unwrap());
        c.alerts.now = at("2003-06-17T15:00:00-07:00");
        assert_eq!(parse(&text, &c).unwrap().len(), 1);
        c.alerts.now = at("2003-06-17T17:00:00-07:00");
        assert!(parse(&text, &c).unwrap().is_empty());
    }

    #[test]
    fn update_and_cancel_reference_the_original() {
        let text = fixture("a3-earthquake-update.xml");
        let items = parse(&text, &ctx()).unwrap();
        let meta = items[0].alert.as_ref().unwrap();
        assert_eq!(meta.msg_type, MsgType::Update);
        assert_eq!(meta.references.len(), 1);
        assert!(
            meta.references[0].starts_with("hsas@dhs.gov,") || meta.references[0].contains(','),
            "{:?}",
            meta.references
        );
        let cancel = fixture("cancel-ipaws-nv-2019-04-19.xml");
        let items = parse(&cancel, &ctx()).unwrap();
        assert_eq!(items.len(), 1);
        assert!(items[0].title.starts_with("REVOCA"));
        assert_eq!(items[0].alert.as_ref().unwrap().msg_type, MsgType::Cancel);
    }

    #[test]
    fn min_severity_filters() {
        let text = fixture("a2-thunderstorm.xml");
        let mut c = ctx();
        c.base = Some(Url::parse("https://comune.example.it/allerte").unwrap());
        c.alerts.min_severity = Some(Severity::Extreme);
        assert!(parse(&text, &c).unwrap().is_empty());
    }

    #[test]
    fn hostile_xml_is_refused_without_reading_files() {
        let xxe = r#"<?xml version="1.0"?><!DOCTYPE alert [<!ENTITY x SYSTEM "file:///etc/passwd">]><alert><identifier>&x;</identifier></alert>"#;
        assert!(matches!(
            parse_document(xxe, None),
            Err(ParseError::Hostile(_))
        ));
        let mut laughs =
            String::from("<?xml version=\"1.0\"?><!DOCTYPE l [<!ENTITY a \"aaaaaaaaaa\">");
        for i in 1..10 {
            laughs.push_str(&format!(
                "<!ENTITY a{i} \"{}\">",
                format!(
                    "&a{};",
                    if i == 1 {
                        String::new()
                    } else {
                        (i - 1).to_string()
                    }
                )
                .repeat(10)
            ));
        }
        laughs.push_str("]><alert>&a9;</alert>");
        assert!(matches!(
            parse_document(&laughs, None),
            Err(ParseError::Hostile(_))
        ));
    }

    #[test]
    fn meteoalarm_index_inline_fields_and_geocodes() {
        let text = fixture("meteoalarm_france_legacy.atom.xml");
        let CapDocument::Index(entries) = parse_document(&text, None).unwrap() else {
            panic!()
        };
        assert!(entries.len() > 5);
        assert!(entries.iter().all(|e| e
            .link
            .as_ref()
            .is_some_and(|l| l.as_str().contains("feeds-france"))));
        let mut c = ctx();
        c.alerts.geocodes = vec![("NUTS3".into(), "FR718".into())];
        let items = parse(&text, &c).unwrap();
        assert!(!items.is_empty());
        assert!(
            items.iter().all(|i| i.extra["area"] == "Haute Savoie"),
            "{items:#?}"
        );
    }
}
