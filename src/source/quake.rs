//! Earthquakes from the INGV FDSN event web service, in its `text`, `geojson` or QuakeML
//! (the service's default) output, or from INGV's Atom feed of the same events (what an admin
//! finds on the INGV site: `…/feed/atom/…`, titles like "… Magnitude(ML) 1.7 - Place"). Events are filtered by distance from the comune and by
//! magnitude; the item's id is the event id, so a later revision of an event already sent is
//! not sent again, while one that first fell below the threshold and was revised above it is
//! sent then (events that do not pass are never recorded).

use chrono::{DateTime, NaiveDateTime, Utc};
use geo::{Distance, Haversine, Point};
use url::Url;

use super::{guarded, ParseContext, ParseError};
use crate::config::{Location, Priority, DEFAULT_URGENT_MAGNITUDE};
use crate::dates::italian_when;
use crate::item::Item;

/// What a quake source is filtered by.
#[derive(Debug, Clone, Default)]
pub struct QuakeFilter {
    pub location: Option<Location>,
    pub radius_km: Option<f64>,
    pub min_magnitude: Option<f64>,
    /// At or above: urgent. `None`: [`crate::config::DEFAULT_URGENT_MAGNITUDE`].
    pub urgent_magnitude: Option<f64>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub id: String,
    pub time: DateTime<Utc>,
    pub lat: f64,
    pub lon: f64,
    /// Not in INGV's Atom feed.
    pub depth_km: Option<f64>,
    pub magnitude: f64,
    pub mag_type: String,
    pub place: String,
}

impl Event {
    /// Whether its numbers can describe a real earthquake: finite, on the globe, and a
    /// magnitude between -3 and 10 (the largest ever recorded was 9.5). A feed that says
    /// "NaN", "inf" or 1e30 has a broken event, not an emergency.
    fn plausible(&self) -> bool {
        (-90.0..=90.0).contains(&self.lat)
            && (-180.0..=180.0).contains(&self.lon)
            && (-3.0..=10.0).contains(&self.magnitude)
            && self.depth_km.is_none_or(|d| (-10.0..=1000.0).contains(&d))
    }
}

/// Parses any of the three formats. Events with impossible numbers are left out (with a
/// log line): one broken event does not stop the others.
pub fn parse_events(text: &str) -> Result<Vec<Event>, ParseError> {
    let trimmed = text.trim_start_matches(['\u{feff}', ' ', '\t', '\r', '\n']);
    if trimmed.is_empty() {
        return Err(ParseError::Empty);
    }
    let mut events = if trimmed.starts_with('{') {
        parse_geojson(trimmed)?
    } else if trimmed.starts_with('<') {
        parse_quakeml(trimmed)?
    } else if trimmed.starts_with("#EventID") || trimmed.contains('|') {
        parse_text(trimmed)
    } else {
        return Err(ParseError::Malformed(
            "not an FDSN event response (text, GeoJSON or QuakeML)".into(),
        ));
    };
    events.retain(|e| {
        let ok = e.plausible();
        if !ok {
            tracing::warn!(event = %e.id, magnitude = e.magnitude, lat = e.lat, lon = e.lon, "earthquake with impossible numbers left out");
        }
        ok
    });
    Ok(events)
}

/// FDSN times are UTC, written without a zone ("2012-05-29T23:58:58.770000").
fn utc(s: &str) -> Option<DateTime<Utc>> {
    let s = s.trim();
    DateTime::parse_from_rfc3339(s)
        .map(|d| d.with_timezone(&Utc))
        .ok()
        .or_else(|| {
            NaiveDateTime::parse_from_str(s.trim_end_matches('Z'), "%Y-%m-%dT%H:%M:%S%.f")
                .ok()
                .map(|n| n.and_utc())
        })
}

/// `#EventID|Time|Latitude|Longitude|Depth/Km|Author|Catalog|Contributor|ContributorID|MagType|Magnitude|MagAuthor|EventLocationName|EventType`
fn parse_text(text: &str) -> Vec<Event> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|line| {
            let f: Vec<&str> = line.split('|').map(str::trim).collect();
            Some(Event {
                id: f.first()?.to_string(),
                time: utc(f.get(1)?)?,
                lat: f.get(2)?.parse().ok()?,
                lon: f.get(3)?.parse().ok()?,
                depth_km: f.get(4)?.parse().ok(),
                mag_type: f.get(9).unwrap_or(&"").to_string(),
                magnitude: f.get(10)?.parse().ok()?,
                place: f.get(12).unwrap_or(&"").to_string(),
            })
            .filter(|e| !e.id.is_empty())
        })
        .collect()
}

fn parse_geojson(text: &str) -> Result<Vec<Event>, ParseError> {
    let doc: serde_json::Value =
        serde_json::from_str(text).map_err(|e| ParseError::Malformed(format!("GeoJSON: {e}")))?;
    let features = doc["features"]
        .as_array()
        .ok_or_else(|| ParseError::Malformed("GeoJSON without features".into()))?;
    Ok(features
        .iter()
        .filter_map(|f| {
            let p = &f["properties"];
            let c = f["geometry"]["coordinates"].as_array()?;
            let id = p["eventId"]
                .as_i64()
                .map(|i| i.to_string())
                .or_else(|| p["eventId"].as_str().map(str::to_owned))
                .or_else(|| f["id"].as_i64().map(|i| i.to_string()))
                .or_else(|| f["id"].as_str().map(str::to_owned))?;
            Some(Event {
                id,
                time: utc(p["time"].as_str()?)?,
                lon: c.first()?.as_f64()?,
                lat: c.get(1)?.as_f64()?,
                depth_km: c.get(2).and_then(|d| d.as_f64()),
                magnitude: p["mag"].as_f64()?,
                mag_type: p["magType"].as_str().unwrap_or_default().to_owned(),
                place: p["place"].as_str().unwrap_or_default().to_owned(),
            })
        })
        .collect())
}

fn parse_quakeml(text: &str) -> Result<Vec<Event>, ParseError> {
    guarded("QuakeML", || {
        let opts = roxmltree::ParsingOptions {
            allow_dtd: false,
            nodes_limit: 2_000_000,
            ..roxmltree::ParsingOptions::default()
        };
        let doc = roxmltree::Document::parse_with_options(text, opts).map_err(|e| match e {
            roxmltree::Error::DtdDetected => ParseError::Hostile("the document has a DTD".into()),
            e => ParseError::Malformed(e.to_string()),
        })?;
        fn el<'a, 'i>(n: roxmltree::Node<'a, 'i>, name: &str) -> Option<roxmltree::Node<'a, 'i>> {
            n.children()
                .find(|c| c.is_element() && c.tag_name().name() == name)
        }
        let value = |n: roxmltree::Node<'_, '_>, name: &str| {
            el(n, name)
                .and_then(|v| el(v, "value"))
                .and_then(|v| v.text())
                .map(|t| t.trim().to_owned())
        };
        if doc.root_element().tag_name().name() == "feed" {
            return Ok(ingv_atom(&doc));
        }
        Ok(doc
            .descendants()
            .filter(|n| n.is_element() && n.tag_name().name() == "event")
            .filter_map(|event| {
                let public_id = event.attribute("publicID").unwrap_or_default();
                let id = public_id
                    .rsplit("eventId=")
                    .next()
                    .filter(|s| !s.is_empty())?
                    .to_owned();
                let origin = el(event, "origin")?;
                let magnitude = el(event, "magnitude")?;
                Some(Event {
                    id,
                    time: utc(&value(origin, "time")?)?,
                    lat: value(origin, "latitude")?.parse().ok()?,
                    lon: value(origin, "longitude")?.parse().ok()?,
                    depth_km: value(origin, "depth")
                        .and_then(|d| d.parse::<f64>().ok())
                        .map(|m| m / 1000.0),
                    magnitude: value(magnitude, "mag")?.parse().ok()?,
                    mag_type: el(magnitude, "type")
                        .and_then(|t| t.text())
                        .unwrap_or_default()
                        .trim()
                        .to_owned(),
                    place: el(event, "description")
                        .and_then(|d| el(d, "text"))
                        .and_then(|t| t.text())
                        .unwrap_or_default()
                        .trim()
                        .to_owned(),
                })
            })
            .collect())
    })
}

/// INGV's Atom feed: the event id ends the entry's `<id>`, the origin time is `dc:date`, the
/// epicentre `georss:point` ("lat lon"), and the magnitude and place are in the title
/// ("2018-10-01 13:19:56 UTC - Magnitude(ML) 1.7 - Stretto di Messina (…)").
fn ingv_atom(doc: &roxmltree::Document<'_>) -> Vec<Event> {
    static TITLE: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
        regex::Regex::new(r"Magnitude\(\s*([A-Za-z]*)\s*\)\s*([0-9]+(?:\.[0-9]+)?)\s*-\s*(.*)$")
            .expect("static regex")
    });
    fn text_of<'a>(entry: roxmltree::Node<'a, '_>, name: &str) -> Option<&'a str> {
        entry
            .children()
            .find(|c| c.is_element() && c.tag_name().name() == name)
            .and_then(|n| n.text())
            .map(str::trim)
    }
    doc.root_element()
        .children()
        .filter(|n| n.is_element() && n.tag_name().name() == "entry")
        .filter_map(|entry| {
            let id = text_of(entry, "id")?
                .rsplit("eventId=")
                .next()
                .filter(|s| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric()))?
                .to_owned();
            let title = text_of(entry, "title")?;
            let caps = TITLE.captures(title)?;
            let (lat, lon) = text_of(entry, "point")?.split_once(char::is_whitespace)?;
            Some(Event {
                id,
                time: utc(text_of(entry, "date").or_else(|| text_of(entry, "updated"))?)?,
                lat: lat.trim().parse().ok()?,
                lon: lon.trim().parse().ok()?,
                depth_km: None,
                magnitude: caps.get(2)?.as_str().parse().ok()?,
                mag_type: caps.get(1).map_or("", |m| m.as_str()).to_owned(),
                place: caps.get(3).map_or("", |m| m.as_str()).trim().to_owned(),
            })
        })
        .collect()
}

fn distance_km(a: Location, lat: f64, lon: f64) -> f64 {
    Haversine.distance(Point::new(a.lon, a.lat), Point::new(lon, lat)) / 1000.0
}

/// The item for an event that passes the filter.
pub fn event_item(ev: &Event, ctx: &ParseContext) -> Option<Item> {
    let f = &ctx.quakes;
    let distance = f.location.map(|l| distance_km(l, ev.lat, ev.lon));
    if let (Some(d), Some(r)) = (distance, f.radius_km) {
        if d > r {
            return None;
        }
    }
    if f.min_magnitude.is_some_and(|m| ev.magnitude < m) {
        return None;
    }
    let tz = ctx.tz;
    let year = ev
        .time
        .with_timezone(&tz)
        .format("%Y")
        .to_string()
        .parse()
        .unwrap_or(2000);
    let mag_type = if ev.mag_type.is_empty() {
        String::new()
    } else {
        format!(" ({})", ev.mag_type)
    };
    let place = if ev.place.is_empty() {
        "zona non indicata".to_owned()
    } else {
        ev.place.clone()
    };
    let depth = ev
        .depth_km
        .map(|d| format!(", a {d:.0} km di profondità"))
        .unwrap_or_default();
    let mut paragraphs = vec![format!(
        "L'INGV ha registrato un terremoto di magnitudo {:.1}{mag_type} alle {}{depth}.",
        ev.magnitude,
        italian_when(ev.time, tz, year),
    )];
    if let Some(d) = distance {
        paragraphs.push(format!("Epicentro: {place}, a circa {d:.0} km dal comune."));
    } else {
        paragraphs.push(format!("Epicentro: {place}."));
    }
    // Urgent only when strong enough to matter in the comune: the source's radius already
    // bounds the distance, the magnitude decides (a tremor nobody felt wakes nobody).
    let urgent_at = f.urgent_magnitude.unwrap_or(DEFAULT_URGENT_MAGNITUDE);
    let priority = if ev.magnitude >= urgent_at {
        Priority::Urgent
    } else {
        Priority::Normal
    };
    let url = Url::parse(&format!("https://terremoti.ingv.it/event/{}", ev.id)).ok();
    let mut extra = serde_json::Map::new();
    extra.insert("magnitude".into(), ev.magnitude.into());
    if let Some(d) = ev.depth_km {
        extra.insert("depth_km".into(), d.into());
    }
    extra.insert("area".into(), place.clone().into());
    extra.insert("latitude".into(), ev.lat.into());
    extra.insert("longitude".into(), ev.lon.into());
    if let Some(d) = distance {
        extra.insert("distance_km".into(), ((d * 10.0).round() / 10.0).into());
    }
    Some(Item {
        guid: Some(format!("ingv:{}", ev.id)),
        strict_id: true,
        url,
        title: format!("Terremoto di magnitudo {:.1} – {place}", ev.magnitude),
        summary: paragraphs.join("\n\n"),
        plain: true,
        published: Some(ev.time),
        priority: Some(priority),
        extra,
        ..Item::default()
    })
}

/// Items of an FDSN response, filtered.
pub fn parse(text: &str, ctx: &ParseContext) -> Result<Vec<Item>, ParseError> {
    Ok(parse_events(text)?
        .iter()
        .filter_map(|e| event_item(e, ctx))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> String {
        std::fs::read_to_string(format!(
            "{}/fixtures/quake/{name}",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap()
    }

    #[test]
    fn impossible_numbers_are_left_out() {
        let header = "#EventID|Time|Latitude|Longitude|Depth/Km|Author|Catalog|Contributor|ContributorID|MagType|Magnitude|MagAuthor|EventLocationName|EventType\n";
        let row = |id: &str, lat: &str, mag: &str| {
            format!("{id}|2026-12-01T03:01:00.000000|{lat}|10.0|10.0|SURVEY-INGV||||ML|{mag}|--|Cremona|earthquake\n")
        };
        let text = [
            header.to_owned(),
            row("1", "45.1", "NaN"),
            row("2", "45.1", "inf"),
            row("3", "45.1", "1e30"),
            row("4", "NaN", "4.0"),
            row("5", "95.0", "4.0"),
            row("6", "45.1", "4.2"),
        ]
        .concat();
        let ids: Vec<String> = parse_events(&text)
            .unwrap()
            .into_iter()
            .map(|e| e.id)
            .collect();
        assert_eq!(ids, ["6"]);
    }

    #[test]
    fn text_format_with_radius_and_magnitude() {
        let text = fixture("fdsn-text-sample.txt");
        let all = parse_events(&text).unwrap();
        assert!(all.len() >= 3);
        assert_eq!(all[0].id, "863301");
        let mut ctx = ParseContext::new(None, chrono_tz::Europe::Rome);
        // Mirandola (MO), in the 2012 Emilia sequence.
        ctx.quakes = QuakeFilter {
            urgent_magnitude: None,
            location: Some(Location {
                lat: 44.887,
                lon: 11.066,
            }),
            radius_km: Some(20.0),
            min_magnitude: Some(2.5),
        };
        let items = parse(&text, &ctx).unwrap();
        assert!(!items.is_empty());
        assert!(items
            .iter()
            .all(|i| i.extra["magnitude"].as_f64().unwrap() >= 2.5));
        let first = &items[0];
        assert_eq!(
            first.url.as_ref().unwrap().as_str(),
            "https://terremoti.ingv.it/event/863291"
        );
        assert!(
            first.summary.contains("alle 01:58 di mercoledì 30 maggio,"),
            "{}",
            first.summary
        );
        ctx.quakes.location = Some(Location {
            lat: 45.133,
            lon: 7.6,
        });
        assert!(parse(&text, &ctx).unwrap().is_empty());
    }

    #[test]
    fn quakeml_and_geojson() {
        let events = parse_events(&fixture("quakeml-ingv-event-30116321.xml")).unwrap();
        assert_eq!(events[0].id, "30116321");
        assert_eq!(events[0].place, "4 km S Campotosto (AQ)");
        assert!(events[0].depth_km.is_some_and(|d| (d - 14.5).abs() < 1e-9));
        let geojson = r#"{"type":"FeatureCollection","features":[{"type":"Feature","properties":{"eventId":30116321,"time":"2022-03-01T22:53:55.680000","mag":3.9,"magType":"ML","place":"4 km S Campotosto (AQ)"},"geometry":{"type":"Point","coordinates":[13.3833,42.5218,14.5]}}]}"#;
        let g = parse_events(geojson).unwrap();
        assert_eq!(g[0].id, "30116321");
        assert_eq!(g[0].lat, 42.5218);
    }

    #[test]
    fn ingv_atom_feed() {
        let text = fixture("ingv-cnt-atom-3.xml");
        assert_eq!(
            crate::source::detect_kind(&text),
            crate::config::SourceKind::Quake
        );
        let events = parse_events(&text).unwrap();
        assert_eq!(events.len(), 3);
        let first = &events[0];
        assert_eq!(first.id, "20814801");
        assert_eq!(first.magnitude, 1.7);
        assert_eq!(first.mag_type, "ML");
        assert_eq!(
            first.place,
            "Stretto di Messina (Reggio di Calabria, Messina)"
        );
        assert_eq!((first.lat, first.lon), (38.3728, 15.7213));
        assert_eq!(first.depth_km, None);
        assert_eq!(first.time.to_rfc3339(), "2018-10-01T13:19:56+00:00");
        let ctx = ParseContext::new(None, chrono_tz::Europe::Rome);
        let items = parse(&text, &ctx).unwrap();
        assert!(
            !items[0].summary.contains("profondità"),
            "{}",
            items[0].summary
        );
        assert_eq!(items[0].guid.as_deref(), Some("ingv:20814801"));
    }

    #[test]
    fn garbage_is_an_error() {
        assert!(parse_events("hello").is_err());
        assert!(parse_events("{\"x\":1}").is_err());
        assert!(parse_events("").is_err());
    }
}
