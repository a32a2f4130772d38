//! CAP 1.1/1.2 alerts (Civil Protection, Meteoalarm, national weather services), and Atom/RSS
//! indexes of them.
//!
//! XML is read with roxmltree with DTDs refused outright: no entity expansion, no external
//! entities. Element names are matched by local name, so `cap:alert` and `alert` both work.
//! Only `status = Actual` and `scope = Public` alerts become items; the area, severity and
//! expiry filters come from the source's configuration through [`AlertFilter`].

use chrono::{DateTime, Utc};
use geo::{Contains, Coord, Distance, Haversine, LineString, Point, Polygon};
use roxmltree::{Document, ParsingOptions};
use url::Url;

mod read;

use super::{guarded, ParseContext, ParseError};
use crate::config::{Location, Priority, Severity};
use crate::dates::{italian_when, parse_date};
use crate::item::{AlertMeta, Item, MsgType};
use crate::text::{html_to_text, truncate};
use read::{read_alert, read_index, severity};

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
            "html" => Err(ParseError::NotAFeed { feed: None }),
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
        // An Update under the threshold may still end the story of an alert that was sent:
        // the plan decides (see `AlertMeta::below_min_severity`).
        if msg_type == MsgType::Alert {
            if let Some(min) = filter.min_severity {
                if severity(&info.severity) < min {
                    return None;
                }
            }
        }
        if msg_type != MsgType::Cancel {
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
    let colour = info.and_then(colour_of);
    let mut paragraphs = Vec::new();
    if msg_type == MsgType::Cancel {
        paragraphs.push("L'allerta è stata revocata dall'ente che l'aveva emessa.".to_owned());
    }
    // The order citizens act on: level and event, area, when, what to do; the description
    // last, so that it is what a short message cuts.
    if let Some(info) = info {
        // The level, unless the headline already says it; a cancellation has none left.
        let event = info.event.trim();
        let said = colour
            .as_ref()
            .is_some_and(|c| headline.to_lowercase().contains(&format!("allerta {c}")));
        match (&colour, meaningful(event)) {
            _ if said || msg_type == MsgType::Cancel => {}
            (Some(c), true) => paragraphs.push(format!("Allerta {c}: {event}")),
            (Some(c), false) => paragraphs.push(format!("Allerta {c}")),
            (None, _) => {}
        }
        // The area, unless the headline already names it ("Yerong Creek Structure Fire").
        let named = area_names
            .iter()
            .all(|a| headline.to_lowercase().contains(&a.to_lowercase()));
        if !area_names.is_empty() && !named {
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
            if let Some(when) = window(info.onset.or(info.effective), info.expires, tz, year) {
                paragraphs.push(when);
            }
            let instruction = strip_label(&html_to_text(&info.instruction.replace('\n', " ")));
            if meaningful(&instruction) {
                paragraphs.push(format!("Cosa fare: {instruction}"));
            }
            let description = html_to_text(&info.description.replace('\n', " "));
            if meaningful(&description) && !repeats(&description, &headline) {
                paragraphs.push(truncate(&description, 320));
            }
        }
    }
    let sev = info
        .map(|i| severity(&i.severity))
        .unwrap_or(Severity::Unknown);
    // Urgent means Severe or Extreme; a Moderate alert is news, however immediate.
    let urgent = matches!(sev, Severity::Severe | Severity::Extreme);
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
            // For the one line a template carries outside WhatsApp's 24-hour window.
            extra.insert("until_it".into(), italian_when(e, tz, year).into());
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
            colour,
            below_min_severity: filter
                .min_severity
                .is_some_and(|min| msg_type == MsgType::Update && sev < min),
        }),
        ..Item::default()
    })
}

/// The level as Italians read it: Meteoalarm's `awareness_level` ("3; orange; Severe"), else
/// the severity's colour.
fn colour_of(info: &Info) -> Option<String> {
    let from_param = info.parameter("awareness_level").and_then(|level| {
        let level = level.to_ascii_lowercase();
        [
            ("red", "rossa"),
            ("orange", "arancione"),
            ("yellow", "gialla"),
            ("green", "verde"),
        ]
        .into_iter()
        .find(|(en, _)| level.contains(en))
        .map(|(_, it)| it)
    });
    let colour = from_param.or(match severity(&info.severity) {
        Severity::Extreme => Some("rossa"),
        Severity::Severe => Some("arancione"),
        Severity::Moderate => Some("gialla"),
        Severity::Minor | Severity::Unknown => None,
    });
    colour.map(str::to_owned)
}

/// An instruction without the label the sender put in front of it ("Recommended Actions:",
/// "Cosa fare:", "Istruzioni:"): banditore writes its own.
fn strip_label(text: &str) -> String {
    let lower = text.to_lowercase();
    for label in [
        "recommended actions:",
        "recommended action:",
        "instructions:",
        "cosa fare:",
        "istruzioni:",
        "comportamenti da adottare:",
    ] {
        if lower.starts_with(label) {
            return text
                .get(label.len()..)
                .unwrap_or_default()
                .trim()
                .to_owned();
        }
    }
    text.to_owned()
}

/// A field worth printing: not empty, not a placeholder ("None", "Not Applicable", "N/A").
fn meaningful(text: &str) -> bool {
    let t = text.trim().trim_end_matches('.').to_ascii_lowercase();
    !matches!(
        t.as_str(),
        "" | "none" | "not applicable" | "n/a" | "na" | "-" | "nessuna" | "null" | "unknown"
    )
}

/// The description only repeats the headline.
fn repeats(description: &str, headline: &str) -> bool {
    let norm = |s: &str| crate::ident::normalise_title(s);
    let (d, h) = (norm(description), norm(headline));
    !h.is_empty() && (d == h || (d.starts_with(&h) && d.len() < h.len() + 12))
}

/// When an alert applies: one day named once ("Dalle 14:00 alle 20:00 di martedì 3
/// dicembre."), never a window that ends before it starts.
fn window(
    start: Option<DateTime<Utc>>,
    end: Option<DateTime<Utc>>,
    tz: chrono_tz::Tz,
    year: i32,
) -> Option<String> {
    // An end before the start, or minutes after it (a placeholder), is no end.
    let end = end.filter(|e| start.is_none_or(|s| *e - s >= chrono::Duration::minutes(15)));
    Some(match (start, end) {
        (Some(s), Some(e)) => {
            let (ls, le) = (s.with_timezone(&tz), e.with_timezone(&tz));
            if ls.date_naive() == le.date_naive() {
                format!(
                    "Dalle {} alle {}.",
                    ls.format("%H:%M"),
                    italian_when(e, tz, year)
                )
            } else {
                format!(
                    "Dalle {} alle {}.",
                    italian_when(s, tz, year),
                    italian_when(e, tz, year)
                )
            }
        }
        (Some(s), None) => format!("Dalle {}.", italian_when(s, tz, year)),
        (None, Some(e)) => format!("Fino alle {}.", italian_when(e, tz, year)),
        (None, None) => return None,
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
mod tests;
