//! A `[[source]]`, checked.

use std::collections::HashSet;
use std::time::Duration;

use regex::Regex;

use super::{name, Table, DAY};
use crate::config::problem::Problem;
use crate::config::raw::RawSource;
use crate::config::{
    Forward, KindSettings, MessageTemplate, Settings, SourceConfig, SourceKind,
    DEFAULT_EMERGENCY_EVERY, DEFAULT_EVERY, DEFAULT_MAX_AGE, DEFAULT_MAX_FETCH,
    DEFAULT_URGENT_MAGNITUDE,
};
use crate::schedule::Schedule;

pub(super) fn source(
    raw: RawSource,
    settings: &Settings,
    names: &mut HashSet<String>,
    t: &mut Table,
) -> Option<SourceConfig> {
    let name = name(raw.name, names, "source", t);
    let kind = t.need(
        "kind",
        raw.kind,
        "kind = \"feed\" (feed, page, cap or quake)",
    );
    let url = t.need_url(
        "url",
        raw.url,
        "url = \"https://www.comune.example.it/feed/\"",
    );
    let secs = Duration::from_secs;
    let every = t.duration("every", raw.every, (secs(1), secs(365 * DAY)));
    let schedule = match (raw.cron, every) {
        (Some(_), Some(_)) => {
            t.problem("cron", "has both every and cron", Some("keep one of them"));
            None
        }
        (Some(expr), None) => match Schedule::parse_cron(&expr) {
            Ok(s) => Some(s),
            Err(e) => {
                t.problem(
                    "cron",
                    format!("cron {expr:?} is not valid: {e}"),
                    Some("six fields: second minute hour day-of-month month day-of-week, e.g. \"0 */5 * * * *\""),
                );
                None
            }
        },
        (None, Some(every)) => Some(Schedule::Every(every)),
        (None, None) => Some(Schedule::Every(
            if kind.is_some_and(SourceKind::is_emergency) {
                DEFAULT_EMERGENCY_EVERY
            } else {
                DEFAULT_EVERY
            },
        )),
    };
    let timeout = t.duration("timeout", raw.timeout, (secs(1), secs(3600)));
    let mut compile = |key: &str, patterns: Option<Vec<String>>| -> Vec<Regex> {
        patterns
            .unwrap_or_default()
            .into_iter()
            .filter_map(|p| match Regex::new(&p) {
                Ok(r) => Some(r),
                Err(e) => {
                    let why = e.to_string().lines().last().unwrap_or_default().to_owned();
                    t.problem(
                        key,
                        format!("{key} pattern {p:?} is not a valid regular expression"),
                        Some(&why),
                    );
                    None
                }
            })
            .collect()
    };
    let include = compile("include", raw.include);
    let exclude = compile("exclude", raw.exclude);
    let forward = raw.forward.unwrap_or_default();
    let tags = raw.tags.unwrap_or_default();
    if forward == Forward::Tagged && tags.is_empty() {
        t.problem(
            "forward",
            "forward = \"tagged\" but no tags",
            Some("tags = [\"whatsapp\"]: the CMS category editors set on items to send"),
        );
    }
    if let Some(max) = raw.max_chars.filter(|m| !(80..=3000).contains(m)) {
        t.problem(
            "max_chars",
            format!("max_chars {max} is out of range"),
            Some("between 80 and 3000; WhatsApp messages stay short"),
        );
    }
    let max_age = match raw.max_age.as_deref().map(str::trim) {
        None => Some(DEFAULT_MAX_AGE),
        Some("off") => None,
        Some(_) => t
            .duration("max_age", raw.max_age, (secs(3600), secs(3650 * DAY)))
            .or(Some(DEFAULT_MAX_AGE)),
    };
    let mut short = |key: &str, value: Option<String>, max: usize| -> Option<String> {
        let value = value
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())?;
        if value.chars().count() > max {
            t.problem(
                key,
                format!("{key} is longer than {max} characters"),
                Some("keep it short: it goes on every message"),
            );
        }
        Some(value)
    };
    let template = MessageTemplate {
        prefix: short("prefix", raw.prefix, 40),
        label: short("label", raw.label, 80),
        tag_prefixes: raw
            .tag_prefix
            .unwrap_or_default()
            .into_iter()
            .filter_map(|(tag, prefix)| {
                let prefix = short("tag_prefix", Some(prefix), 40)?;
                Some((tag.trim().to_owned(), prefix))
            })
            .collect(),
        show_date: raw.show_date.unwrap_or(false),
    };
    let kind = kind?;
    let only = |key: &str, set: bool, kinds: &[SourceKind], t: &mut Table| {
        if set && !kinds.contains(&kind) {
            let names: Vec<&str> = kinds.iter().map(|k| k.as_str()).collect();
            t.problem(
                key,
                format!("{key} applies to kind {} only", names.join(" or ")),
                Some(&format!("this source is kind = \"{}\"", kind.as_str())),
            );
        }
    };
    use SourceKind::{Cap, Page, Quake};
    only("preset", raw.preset.is_some(), &[Page], t);
    only("selectors", raw.selectors.is_some(), &[Page], t);
    only("geocodes", raw.geocodes.is_some(), &[Cap], t);
    only("min_severity", raw.min_severity.is_some(), &[Cap], t);
    only("link", raw.link.is_some(), &[Cap], t);
    only("radius_km", raw.radius_km.is_some(), &[Quake], t);
    only("min_magnitude", raw.min_magnitude.is_some(), &[Quake], t);
    only(
        "urgent_magnitude",
        raw.urgent_magnitude.is_some(),
        &[Quake],
        t,
    );
    only("max_fetch", raw.max_fetch.is_some(), &[Page, Cap], t);
    let max_fetch = match raw.max_fetch {
        Some(0) => {
            t.problem("max_fetch", "max_fetch must be at least 1", None);
            DEFAULT_MAX_FETCH
        }
        m => m.unwrap_or(DEFAULT_MAX_FETCH),
    };
    let kind_settings = match kind {
        SourceKind::Feed => KindSettings::Feed,
        SourceKind::Page => {
            let selectors = raw.selectors.unwrap_or_default();
            for (sel_name, sel) in selectors.given() {
                // The parser's own errors name its states ("EndOfLine"), not the mistake.
                if scraper::Selector::parse(sel).is_err() {
                    let hint =
                        "check the CSS syntax: e.g. \".card h3 a\", \"article .entry-title\""
                            .to_owned();
                    t.problems.push(Problem {
                        line: t.lines.value(t.span.clone(), "selectors", sel),
                        message: format!(
                            "{}: selector {sel_name} = {sel:?} is not valid CSS",
                            t.what
                        ),
                        hint: Some(hint),
                    });
                }
            }
            KindSettings::Page {
                preset: raw.preset.unwrap_or_default(),
                selectors,
                max_fetch,
            }
        }
        SourceKind::Cap => {
            let mut geocodes = Vec::new();
            for code in raw.geocodes.unwrap_or_default() {
                match code.split_once(':') {
                    Some((n, v)) if !n.trim().is_empty() && !v.trim().is_empty() => {
                        geocodes.push((n.trim().to_owned(), v.trim().to_owned()))
                    }
                    _ => t.problem(
                        "geocodes",
                        format!("geocode {code:?} has no name"),
                        Some("write NAME:VALUE, e.g. \"EMMA_ID:IT003\""),
                    ),
                }
            }
            KindSettings::Cap {
                geocodes,
                min_severity: raw.min_severity.unwrap_or_default(),
                link: raw.link.and_then(|l| t.url("link", &l)),
                max_fetch,
            }
        }
        SourceKind::Quake => {
            if settings.location.is_none() {
                t.problem(
                    "kind",
                    "an earthquake source needs settings.location",
                    Some("[settings] location = { lat = 45.133, lon = 10.027 }"),
                );
            }
            let radius_km = raw.radius_km.unwrap_or(100.0);
            if !(radius_km > 0.0 && radius_km <= 20_000.0) {
                t.problem(
                    "radius_km",
                    "radius_km must be more than 0 and at most 20000",
                    None,
                );
            }
            let min_magnitude = raw.min_magnitude.unwrap_or(3.0);
            if !(-2.0..=10.0).contains(&min_magnitude) {
                t.problem(
                    "min_magnitude",
                    "min_magnitude must be between -2 and 10",
                    None,
                );
            }
            let urgent_magnitude = raw.urgent_magnitude.unwrap_or(DEFAULT_URGENT_MAGNITUDE);
            if !(-2.0..=10.0).contains(&urgent_magnitude) {
                t.problem(
                    "urgent_magnitude",
                    "urgent_magnitude must be between -2 and 10",
                    None,
                );
            }
            KindSettings::Quake {
                radius_km,
                min_magnitude,
                urgent_magnitude,
            }
        }
    };
    Some(SourceConfig {
        name: name?,
        url: url?,
        schedule: schedule?,
        timeout,
        forward,
        tags,
        include,
        exclude,
        max_chars: raw.max_chars,
        footer: raw.footer,
        priority: raw.priority,
        review_urgent: raw.review_urgent.unwrap_or(false),
        max_age,
        corrections: raw.corrections.unwrap_or_default(),
        template,
        settings: kind_settings,
    })
}
