//! Dates as comune sites write them: RFC 3339, RFC 822/2822 (also with Italian day and month
//! names: "mer, 16 nov 2022 10:00:00 +0100"), and the plain Italian forms found in pages
//! ("25 novembre 2025", "martedì 25 novembre 2025 ore 14:30", "25/11/2025").
//! A date without a zone is local time in the configured timezone.

use std::sync::LazyLock;

use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;
use regex::Regex;

const MONTHS: [(&str, &str); 24] = [
    ("gennaio", "jan"),
    ("febbraio", "feb"),
    ("marzo", "mar"),
    ("aprile", "apr"),
    ("maggio", "may"),
    ("giugno", "jun"),
    ("luglio", "jul"),
    ("agosto", "aug"),
    ("settembre", "sep"),
    ("ottobre", "oct"),
    ("novembre", "nov"),
    ("dicembre", "dec"),
    ("gen", "jan"),
    ("feb", "feb"),
    ("mar", "mar"),
    ("apr", "apr"),
    ("mag", "may"),
    ("giu", "jun"),
    ("lug", "jul"),
    ("ago", "aug"),
    ("set", "sep"),
    ("ott", "oct"),
    ("nov", "nov"),
    ("dic", "dec"),
];

static WEEKDAY: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i)^\s*(?:lunedì|lunedi|martedì|martedi|mercoledì|mercoledi|giovedì|giovedi|venerdì|venerdi|sabato|domenica|lun|mar|mer|gio|ven|sab|dom|mon|tue|wed|thu|fri|sat|sun)[a-z]*\.?(?:,\s*|\s+)(\d)",
    )
    .expect("static regex")
});

static DAY_MONTH_YEAR: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\b(\d{1,2})(?:°|º)?\s+([a-zà-ù]{3,10})\.?,?\s+(\d{4})\b")
        .expect("static regex")
});

static NUMERIC: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\b(\d{1,2})[/.-](\d{1,2})[/.-](\d{4})\b").expect("static regex"));

static TIME: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\b([01]?\d|2[0-3])[:.]([0-5]\d)(?::([0-5]\d))?\b").expect("static regex")
});

static ZONE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)(?:\s|\d)([+-]\d{2}:?\d{2}|z|utc|gmt|ut|cet|cest)\s*$").expect("static regex")
});

/// Parses a date from a feed or a page; `None` when it cannot be read (a missing date is fine).
pub fn parse_date(s: &str, tz: Tz) -> Option<DateTime<Utc>> {
    let s = s.trim();
    if s.is_empty() || s.len() > 200 {
        return None;
    }
    if let Ok(d) = DateTime::parse_from_rfc3339(s) {
        return Some(d.with_timezone(&Utc));
    }
    if let Ok(d) = DateTime::parse_from_rfc2822(s) {
        return Some(d.with_timezone(&Utc));
    }
    if let Some(d) = parse_iso_local(s, tz) {
        return Some(d);
    }
    parse_loose(s, tz)
}

/// "2025-11-25T10:00:00", "2025-11-25 10:00", "2025-11-25": ISO without a zone.
fn parse_iso_local(s: &str, tz: Tz) -> Option<DateTime<Utc>> {
    for fmt in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M",
    ] {
        if let Ok(naive) = NaiveDateTime::parse_from_str(s, fmt) {
            return local(naive, tz);
        }
    }
    if let Ok(d) = DateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f%z") {
        return Some(d.with_timezone(&Utc));
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .and_then(|d| local(d.and_time(NaiveTime::MIN), tz))
}

/// Day, month (Italian or English name, or number) and year, an optional time, an optional zone.
fn parse_loose(s: &str, tz: Tz) -> Option<DateTime<Utc>> {
    let s = WEEKDAY.replace(s, "${1}");
    let (date, rest) = if let Some(c) = DAY_MONTH_YEAR.captures(&s) {
        let day: u32 = c.get(1)?.as_str().parse().ok()?;
        let month = month_number(c.get(2)?.as_str())?;
        let year: i32 = c.get(3)?.as_str().parse().ok()?;
        (
            NaiveDate::from_ymd_opt(year, month, day)?,
            &s[c.get(0)?.end()..],
        )
    } else if let Some(c) = NUMERIC.captures(&s) {
        let day: u32 = c.get(1)?.as_str().parse().ok()?;
        let month: u32 = c.get(2)?.as_str().parse().ok()?;
        let year: i32 = c.get(3)?.as_str().parse().ok()?;
        (
            NaiveDate::from_ymd_opt(year, month, day)?,
            &s[c.get(0)?.end()..],
        )
    } else {
        return None;
    };
    let time = TIME
        .captures(rest)
        .and_then(|c| {
            let h = c.get(1)?.as_str().parse().ok()?;
            let m = c.get(2)?.as_str().parse().ok()?;
            let sec = c.get(3).map_or(Some(0), |x| x.as_str().parse().ok())?;
            NaiveTime::from_hms_opt(h, m, sec)
        })
        .unwrap_or(NaiveTime::MIN);
    let naive = date.and_time(time);
    match ZONE.captures(rest).and_then(|c| c.get(1)) {
        Some(zone) => {
            let offset = zone_offset_seconds(zone.as_str())?;
            let fixed = chrono::FixedOffset::east_opt(offset)?;
            fixed
                .from_local_datetime(&naive)
                .single()
                .map(|d| d.with_timezone(&Utc))
        }
        None => local(naive, tz),
    }
}

fn month_number(name: &str) -> Option<u32> {
    let name = name.to_lowercase();
    let english = MONTHS
        .iter()
        .find(|(it, _)| *it == name)
        .map(|(_, en)| *en)
        .unwrap_or(name.as_str());
    const EN: [&str; 12] = [
        "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
    ];
    let key: String = english.chars().take(3).collect();
    EN.iter().position(|m| *m == key).map(|i| i as u32 + 1)
}

fn zone_offset_seconds(zone: &str) -> Option<i32> {
    let zone = zone.to_ascii_lowercase();
    match zone.as_str() {
        "z" | "utc" | "gmt" | "ut" => Some(0),
        "cet" => Some(3600),
        "cest" => Some(7200),
        _ if zone.starts_with(['+', '-']) => {
            let sign = if zone.starts_with('-') { -1 } else { 1 };
            let digits: String = zone.chars().filter(char::is_ascii_digit).collect();
            let h: i32 = digits.get(0..2)?.parse().ok()?;
            let m: i32 = digits.get(2..4)?.parse().ok()?;
            Some(sign * (h * 3600 + m * 60))
        }
        _ => None,
    }
}

fn local(naive: NaiveDateTime, tz: Tz) -> Option<DateTime<Utc>> {
    tz.from_local_datetime(&naive)
        .earliest()
        .map(|d| d.with_timezone(&Utc))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROME: Tz = chrono_tz::Europe::Rome;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn standard_forms() {
        assert_eq!(
            parse_date("2025-11-25T10:00:00+01:00", ROME),
            Some(utc("2025-11-25T09:00:00Z"))
        );
        assert_eq!(
            parse_date("Tue, 25 Nov 2025 10:00:00 +0100", ROME),
            Some(utc("2025-11-25T09:00:00Z"))
        );
        assert_eq!(
            parse_date("Tue, 25 Nov 2025 10:00:00 GMT", ROME),
            Some(utc("2025-11-25T10:00:00Z"))
        );
        assert_eq!(
            parse_date("25 Nov 2025 10:00:00 Z", ROME),
            Some(utc("2025-11-25T10:00:00Z"))
        );
    }

    #[test]
    fn italian_rfc822() {
        // Il Messaggero's pubDate form
        assert_eq!(
            parse_date("mer, 16 nov 2022 10:22:33 +0100", ROME),
            Some(utc("2022-11-16T09:22:33Z"))
        );
        assert_eq!(
            parse_date("mar, 25 nov 2025", ROME),
            Some(utc("2025-11-24T23:00:00Z"))
        );
    }

    #[test]
    fn italian_long_forms() {
        assert_eq!(
            parse_date("25 novembre 2025", ROME),
            Some(utc("2025-11-24T23:00:00Z"))
        );
        assert_eq!(
            parse_date("martedì 25 novembre 2025 ore 14:30", ROME),
            Some(utc("2025-11-25T13:30:00Z"))
        );
        assert_eq!(
            parse_date("1° luglio 2025", ROME),
            Some(utc("2025-06-30T22:00:00Z"))
        );
        assert_eq!(
            parse_date("25/11/2025 08.15", ROME),
            Some(utc("2025-11-25T07:15:00Z"))
        );
        assert_eq!(
            parse_date("3 mar 2025", ROME),
            Some(utc("2025-03-02T23:00:00Z"))
        );
    }

    #[test]
    fn iso_without_zone_is_local() {
        assert_eq!(
            parse_date("2025-07-01T12:00:00", ROME),
            Some(utc("2025-07-01T10:00:00Z"))
        );
        assert_eq!(
            parse_date("2025-07-01", ROME),
            Some(utc("2025-06-30T22:00:00Z"))
        );
    }

    #[test]
    fn rubbish_is_none() {
        for s in [
            "",
            "domani",
            "31 febbraio 2025",
            "99/99/2025",
            "Fri, 99 Foo",
        ] {
            assert_eq!(parse_date(s, ROME), None, "{s}");
        }
    }
}

/// The days of the week in Italian, from Monday.
pub const DAYS_IT: [&str; 7] = [
    "lunedì",
    "martedì",
    "mercoledì",
    "giovedì",
    "venerdì",
    "sabato",
    "domenica",
];
/// The months in Italian, from January.
pub const MONTHS_IT: [&str; 12] = [
    "gennaio",
    "febbraio",
    "marzo",
    "aprile",
    "maggio",
    "giugno",
    "luglio",
    "agosto",
    "settembre",
    "ottobre",
    "novembre",
    "dicembre",
];

/// A month's Italian name ("dicembre"), from 0 for January.
pub fn italian_month(month0: u32) -> &'static str {
    MONTHS_IT.get(month0 as usize).copied().unwrap_or("?")
}

/// A moment written the Italian way in local time: "14:00 di martedì 25 novembre"; the year
/// is added when it is not `year`.
pub fn italian_when(t: DateTime<Utc>, tz: Tz, year: i32) -> String {
    use chrono::{Datelike, Timelike};
    let local = t.with_timezone(&tz);
    let day = DAYS_IT[local.weekday().num_days_from_monday() as usize];
    let month = MONTHS_IT[local.month0() as usize];
    let mut out = format!(
        "{:02}:{:02} di {day} {} {month}",
        local.hour(),
        local.minute(),
        local.day()
    );
    if local.year() != year {
        out.push_str(&format!(" {}", local.year()));
    }
    out
}

/// A day written the Italian way in local time: "venerdì 28 novembre 2026".
pub fn italian_day(t: DateTime<Utc>, tz: Tz) -> String {
    italian_date(t.with_timezone(&tz).date_naive())
}

/// A date written the Italian way: "venerdì 28 novembre 2026".
pub fn italian_date(d: NaiveDate) -> String {
    use chrono::Datelike;
    let day = DAYS_IT[d.weekday().num_days_from_monday() as usize];
    let month = MONTHS_IT[d.month0() as usize];
    format!("{day} {} {month} {}", d.day(), d.year())
}

/// "8 dicembre", "1° gennaio 2027", "08/12/2026", "8.12.26": a day written in a text.
static DAY_IN_TEXT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i)\b(\d{1,2})(?:°|º)?\s+(gennaio|febbraio|marzo|aprile|maggio|giugno|luglio|agosto|settembre|ottobre|novembre|dicembre)(?:\s+(\d{4}))?\b|\b(\d{1,2})[/.](\d{1,2})[/.](\d{4}|\d{2})\b",
    )
    .expect("static regex")
});

/// The days a text names ("dal 6 all'8 dicembre": the 8th; "fino al 12/01/2027"), each
/// without a year taken in the year that puts it nearest to `today`.
pub fn days_mentioned(text: &str, today: NaiveDate) -> Vec<NaiveDate> {
    use chrono::Datelike;
    let nearest = |month: u32, day: u32| {
        [today.year() - 1, today.year(), today.year() + 1]
            .into_iter()
            .filter_map(|y| NaiveDate::from_ymd_opt(y, month, day))
            .min_by_key(|d| (*d - today).num_days().abs())
    };
    let number = |m: Option<regex::Match>| m.and_then(|m| m.as_str().parse::<u32>().ok());
    DAY_IN_TEXT
        .captures_iter(text)
        .filter_map(|c| {
            if let (Some(day), Some(name)) = (number(c.get(1)), c.get(2)) {
                let name = name.as_str().to_lowercase();
                let month = MONTHS_IT.iter().position(|m| *m == name)? as u32 + 1;
                return match number(c.get(3)) {
                    Some(year) => NaiveDate::from_ymd_opt(i32::try_from(year).ok()?, month, day),
                    None => nearest(month, day),
                };
            }
            let (day, month, year) = (number(c.get(4))?, number(c.get(5))?, number(c.get(6))?);
            let year = if year < 100 { 2000 + year } else { year };
            NaiveDate::from_ymd_opt(i32::try_from(year).ok()?, month, day)
        })
        .collect()
}

#[cfg(test)]
mod italian_tests {
    use super::*;

    #[test]
    fn italian_when_reads_naturally() {
        let t = DateTime::parse_from_rfc3339("2025-11-25T13:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(
            italian_when(t, chrono_tz::Europe::Rome, 2025),
            "14:00 di martedì 25 novembre"
        );
        assert_eq!(
            italian_when(t, chrono_tz::Europe::Rome, 2026),
            "14:00 di martedì 25 novembre 2025"
        );
    }

    #[test]
    fn days_a_text_names() {
        let today = NaiveDate::from_ymd_opt(2026, 12, 3).unwrap();
        let day = |y, m, d| NaiveDate::from_ymd_opt(y, m, d).unwrap();
        let cases: [(&str, Vec<NaiveDate>); 6] = [
            (
                "Dal 6 all'8 dicembre bancarelle in piazza",
                vec![day(2026, 12, 8)],
            ),
            (
                "Concerto il 20 Dicembre; prenotazioni entro il 30 novembre",
                vec![day(2026, 12, 20), day(2026, 11, 30)],
            ),
            ("Capodanno: 1° gennaio in piazza", vec![day(2027, 1, 1)]),
            ("La festa del 15 agosto 2026", vec![day(2026, 8, 15)]),
            (
                "Mostra fino al 12/01/2027, inaugurazione 5.12.26",
                vec![day(2027, 1, 12), day(2026, 12, 5)],
            ),
            ("Nessuna data: 31 febbraio, 99/99/2026, ore 8.30", vec![]),
        ];
        for (text, expected) in cases {
            assert_eq!(days_mentioned(text, today), expected, "{text}");
        }
    }
}
