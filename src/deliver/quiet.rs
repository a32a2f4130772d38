//! Quiet hours: normal messages wait through the night; in the morning they go out paced
//! (one every [`PACE`] during the first [`MORNING`] after the end), and one that spoke of
//! the night ("stanotte", "stasera") is not sent at all, with its reason. Urgent messages
//! never wait. Pure: times come in as arguments.

use std::sync::LazyLock;

use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;
use regex::Regex;

use crate::schedule::QuietHours;

/// Night messages go out at most one every this long after quiet hours end…
pub const PACE: Duration = Duration::minutes(3);
/// … during this long after the end.
pub const MORNING: Duration = Duration::hours(2);

/// The comune's quiet hours, in its timezone.
#[derive(Debug, Clone, Copy)]
pub struct Night {
    pub hours: QuietHours,
    pub tz: Tz,
}

/// What happens now to a normal message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Wait {
    /// It goes.
    Go,
    /// It waits (quiet hours, or the morning's pace).
    Later,
    /// It waited through the night and is over by morning: recorded, not sent.
    Stale(String),
}

impl Night {
    /// Whether `now` is within quiet hours.
    pub fn quiet(&self, now: DateTime<Utc>) -> bool {
        self.hours.contains(now, self.tz)
    }

    /// When the last quiet hours ended, if that was less than [`MORNING`] ago.
    pub fn morning(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        if self.quiet(now) {
            return None;
        }
        let today = now.with_timezone(&self.tz).date_naive();
        [today, today.pred_opt()?]
            .into_iter()
            .filter_map(|day| {
                day.and_time(self.hours.end)
                    .and_local_timezone(self.tz)
                    .earliest()
            })
            .map(|end| end.with_timezone(&Utc))
            .find(|end| *end <= now)
            .filter(|end| now.signed_duration_since(*end) < MORNING)
    }

    /// What happens now to a normal message queued at `queued`, with `text`; `last_release`
    /// is when the last night message went out this morning.
    pub fn wait(
        &self,
        now: DateTime<Utc>,
        queued: DateTime<Utc>,
        text: &str,
        last_release: Option<DateTime<Utc>>,
    ) -> Wait {
        if self.quiet(now) {
            return Wait::Later;
        }
        let Some(end) = self.morning(now) else {
            return Wait::Go;
        };
        if queued >= end {
            return Wait::Go; // a morning item, not a night one
        }
        if let Some(word) = night_word(text, now.with_timezone(&self.tz).date_naive()) {
            return Wait::Stale(format!(
                "held through quiet hours, and it spoke of «{word}»: over by morning"
            ));
        }
        match last_release {
            Some(t) if t >= end && now.signed_duration_since(t) < PACE => Wait::Later,
            _ => Wait::Go,
        }
    }
}

/// A word that makes a message about the night just past, read on the morning of `today`:
/// "stanotte", "stasera" as words ("questa serata" is not "questa sera"), in a message that
/// names no day from today on ("scuole chiuse domani", "giovedì 3 dicembre": still to come).
fn night_word(text: &str, today: chrono::NaiveDate) -> Option<&'static str> {
    static NIGHT: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"(?i)\b(stanotte|questa notte|stasera|questa sera)\b").expect("static regex")
    });
    static LATER: LazyLock<Regex> = LazyLock::new(|| {
        let days = crate::dates::DAYS_IT.join("|");
        Regex::new(&format!(
            r"(?i)\b(oggi|domani|dopodomani|prossim[aoie]|{days})\b"
        ))
        .expect("static regex")
    });
    let word = NIGHT.captures(text)?.get(1)?.as_str().to_lowercase();
    if LATER.is_match(text)
        || crate::dates::days_mentioned(text, today)
            .iter()
            .any(|d| *d >= today)
    {
        return None;
    }
    ["stanotte", "questa notte", "stasera", "questa sera"]
        .into_iter()
        .find(|w| *w == word)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn rome(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
        chrono_tz::Europe::Rome
            .with_ymd_and_hms(y, mo, d, h, mi, 0)
            .single()
            .unwrap()
            .with_timezone(&Utc)
    }

    fn night() -> Night {
        Night {
            hours: "21:00-07:30".parse().unwrap(),
            tz: chrono_tz::Europe::Rome,
        }
    }

    #[test]
    fn boundaries_including_both_dst_nights() {
        let n = night();
        // (moment, quiet?) on an ordinary night and on the two nights the clocks change
        // (29 March 2026: 02:00 → 03:00; 25 October 2026: 03:00 → 02:00).
        let cases = [
            (rome(2026, 11, 24, 20, 59), false),
            (rome(2026, 11, 24, 21, 0), true),
            (rome(2026, 11, 25, 7, 29), true),
            (rome(2026, 11, 25, 7, 30), false),
            (rome(2026, 3, 28, 21, 0), true),
            (rome(2026, 3, 29, 7, 29), true),
            (rome(2026, 3, 29, 7, 30), false),
            (rome(2026, 10, 24, 21, 0), true),
            (rome(2026, 10, 25, 7, 29), true),
            (rome(2026, 10, 25, 7, 30), false),
        ];
        for (at, quiet) in cases {
            assert_eq!(n.quiet(at), quiet, "{at}");
        }
        assert_eq!(
            n.morning(rome(2026, 3, 29, 8, 0)),
            Some(rome(2026, 3, 29, 7, 30))
        );
        assert_eq!(
            n.morning(rome(2026, 10, 25, 7, 45)),
            Some(rome(2026, 10, 25, 7, 30))
        );
        assert_eq!(n.morning(rome(2026, 10, 25, 12, 0)), None);
    }

    #[test]
    fn night_messages_go_out_paced_and_stale_ones_not_at_all() {
        let n = night();
        let queued = rome(2026, 11, 24, 22, 40);
        let text = "*Mercato di Natale domenica*";
        assert_eq!(
            n.wait(rome(2026, 11, 25, 6, 0), queued, text, None),
            Wait::Later
        );
        let first = rome(2026, 11, 25, 7, 31);
        assert_eq!(n.wait(first, queued, text, None), Wait::Go);
        // The next waits for the pace…
        assert_eq!(
            n.wait(rome(2026, 11, 25, 7, 32), queued, text, Some(first)),
            Wait::Later
        );
        assert_eq!(
            n.wait(rome(2026, 11, 25, 7, 34), queued, text, Some(first)),
            Wait::Go
        );
        // … a release of yesterday's morning does not count …
        assert_eq!(
            n.wait(first, queued, text, Some(rome(2026, 11, 24, 7, 35))),
            Wait::Go
        );
        // … a morning item is not paced, and by mid-day nothing is.
        assert_eq!(
            n.wait(
                rome(2026, 11, 25, 7, 40),
                rome(2026, 11, 25, 7, 39),
                text,
                Some(first)
            ),
            Wait::Go
        );
        let stale = "*Strada chiusa stanotte dalle 22 alle 5 per lavori*";
        assert!(
            matches!(n.wait(first, queued, stale, None), Wait::Stale(r) if r.contains("«stanotte»"))
        );
        // An evening notice about the day to come goes: it names today, tomorrow, a weekday.
        for still_to_come in [
            "*Neve: scuole chiuse mercoledì 25 novembre*\n\nIl sindaco ha firmato stasera l'ordinanza.",
            "*Neve*\n\nNevicate previste questa notte: scuole chiuse domani.",
            "*Neve*\n\nOrdinanza firmata stasera: scuole chiuse il 25 novembre.",
            "*Concerto*\n\nNella serata di ieri, questa serata di musica ha riempito la piazza.",
        ] {
            assert_eq!(
                n.wait(first, queued, still_to_come, None),
                Wait::Go,
                "{still_to_come}"
            );
        }
    }
}
