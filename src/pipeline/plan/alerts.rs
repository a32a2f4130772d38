//! Emergencies in a plan: CAP threading (an alert's story told to the end), bulletins that
//! repeat their level, earthquake swarms told as one message, and the order of urgent items.

use chrono::{DateTime, Utc};

use super::Known;
use crate::config::Priority;
use crate::item::{AlertMeta, Item, MsgType};
use crate::policy::Verdict;
use crate::store::{Level, StoreError};

/// Three or more earthquakes to send from one poll are a sequence, told as one message.
pub(super) const SWARM_MIN: usize = 3;

/// Threads CAP updates and cancellations to the alerts they refer to, and silences bulletins
/// that repeat the level already announced. Returns the verdict and whether the item continues
/// the story of an alert that was sent (then freshness and flood protection do not apply).
pub(super) fn thread_alert(
    item: &mut Item,
    known: &dyn Known,
    now: DateTime<Utc>,
) -> Result<(Verdict, bool), StoreError> {
    let Some(alert) = item.alert.clone() else {
        return Ok((Verdict::Send, false));
    };
    let mut original = None;
    for reference in &alert.references {
        if let Some(sent) = known.sent_alert(reference)? {
            original = Some(sent);
            // The message names the alert it continues (the archive links the two).
            item.extra
                .insert("cap_follows".into(), reference.clone().into());
            break;
        }
    }
    match (alert.msg_type, original) {
        (MsgType::Cancel, None) => Ok((
            Verdict::Drop("cancels an alert that was not sent".into()),
            false,
        )),
        (MsgType::Cancel, Some(original)) => {
            if item.title == "REVOCA: Allerta" {
                item.title = format!("REVOCA: {}", original.title);
            }
            if item.url.is_none() {
                item.url = url::Url::parse(&original.url).ok();
            }
            if original.urgent {
                item.priority = Some(Priority::Urgent);
            }
            Ok((Verdict::Send, true))
        }
        (MsgType::Update, Some(original)) => {
            item.title = format!("AGGIORNAMENTO: {}", item.title);
            if let Some(change) = level_change(original.colour.as_deref(), alert.colour.as_deref())
            {
                item.summary = if item.summary.is_empty() {
                    change
                } else {
                    format!("{change}\n\n{}", item.summary)
                };
            }
            if original.urgent {
                item.priority = Some(Priority::Urgent);
            }
            Ok((Verdict::Send, true))
        }
        (_, _) if alert.below_min_severity => Ok((
            Verdict::Drop(
                "below the source's min_severity, and updates no alert that was sent".into(),
            ),
            false,
        )),
        _ => {
            if let Some(key) = &alert.level_key {
                if let Some(previous) = known.level(key)? {
                    let current = previous.expires.is_none_or(|e| e > now);
                    if current && previous.level == alert.level {
                        return Ok((
                            Verdict::Drop(
                                "the bulletin repeats the level already announced".into(),
                            ),
                            false,
                        ));
                    }
                }
            }
            Ok((Verdict::Send, false))
        }
    }
}

/// The colours of Italian alerts, from the lowest.
const COLOURS: [&str; 4] = ["verde", "gialla", "arancione", "rossa"];

/// "Allerta declassata da arancione a gialla." when the level changed and both are known.
fn level_change(before: Option<&str>, after: Option<&str>) -> Option<String> {
    let (before, after) = (before?, after?);
    let rank = |c: &str| COLOURS.iter().position(|k| *k == c);
    let (b, a) = (rank(before)?, rank(after)?);
    let to = |c: &str| {
        if c.starts_with(['a', 'e', 'i', 'o', 'u']) {
            format!("ad {c}")
        } else {
            format!("a {c}")
        }
    };
    match a.cmp(&b) {
        std::cmp::Ordering::Less => Some(format!("Allerta declassata da {before} {}.", to(after))),
        std::cmp::Ordering::Greater => {
            Some(format!("Allerta innalzata da {before} {}.", to(after)))
        }
        std::cmp::Ordering::Equal => None,
    }
}

/// The level record a bulletin leaves, if it is one.
pub(super) fn bulletin_level(alert: &AlertMeta) -> Option<(String, Level)> {
    alert.level_key.clone().map(|key| {
        (
            key,
            Level {
                level: alert.level.clone(),
                expires: alert.expires,
                at: None,
            },
        )
    })
}

/// How strong an emergency item is, to rank it: an earthquake's magnitude, a CAP alert's
/// severity (Extreme = 9, Severe = 7, …); 0 for anything else.
pub(super) fn strength(extra: &serde_json::Map<String, serde_json::Value>) -> f64 {
    if let Some(m) = extra.get("magnitude").and_then(|m| m.as_f64()) {
        return m;
    }
    match extra.get("severity").and_then(|s| s.as_str()) {
        Some("Extreme") => 9.0,
        Some("Severe") => 7.0,
        Some("Moderate") => 5.0,
        Some("Minor") => 3.0,
        _ => 0.0,
    }
}

/// Two earthquakes of one sequence: epicentres within [`SEQUENCE_KM`] and times within
/// [`SEQUENCE_HOURS`] of each other (an event without a position or a time is not).
pub(super) fn same_sequence(a: &Item, b: &Item) -> bool {
    use geo::{Distance, Haversine, Point};
    let at = |i: &Item| -> Option<Point> {
        let lat = i.extra.get("latitude")?.as_f64()?;
        let lon = i.extra.get("longitude")?.as_f64()?;
        Some(Point::new(lon, lat))
    };
    let (Some(pa), Some(pb), Some(ta), Some(tb)) = (at(a), at(b), a.published, b.published) else {
        return false;
    };
    Haversine.distance(pa, pb) / 1000.0 <= SEQUENCE_KM
        && (ta - tb).num_hours().abs() <= SEQUENCE_HOURS
}

/// How far apart the epicentres of one sequence may be…
const SEQUENCE_KM: f64 = 30.0;
/// … and their times.
const SEQUENCE_HOURS: i64 = 48;

/// Turns the strongest of an earthquake sequence into the sequence's message: the others'
/// count and time span go in front of its own text.
pub(super) fn tell_swarm(strongest: &mut Item, count: usize, first: &str, last: &str) {
    let magnitude = strength(&strongest.extra);
    strongest.title =
        format!("Sequenza sismica: {count} terremoti, il più forte di magnitudo {magnitude:.1}");
    strongest.summary = format!(
        "Tra le {first} e le {last} l'INGV ha registrato {count} terremoti. Il più forte:\n\n{}",
        strongest.summary
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn level_changes_read_naturally() {
        assert_eq!(
            level_change(Some("arancione"), Some("gialla")).as_deref(),
            Some("Allerta declassata da arancione a gialla.")
        );
        assert_eq!(
            level_change(Some("gialla"), Some("arancione")).as_deref(),
            Some("Allerta innalzata da gialla ad arancione.")
        );
        assert_eq!(level_change(Some("rossa"), Some("rossa")), None);
        assert_eq!(level_change(None, Some("rossa")), None);
    }
}
