//! From the tables as written (`raw`) to the typed configuration, with every problem found.

use std::collections::HashSet;
use std::ops::Range;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use regex::Regex;
use url::Url;

use super::problem::{humanize, Lines, Problem};
use super::raw::{
    read_table, table_name, RawConfig, RawSettings, RawSink, RawSource, RawUser, TOP_LEVEL,
};
use super::{
    CloudConfig, Config, Forward, GatewayConfig, KindSettings, Settings, SinkConfig, SinkSettings,
    SourceConfig, SourceKind, UserConfig, WebhookConfig, DEFAULT_EMERGENCY_EVERY, DEFAULT_EVERY,
    DEFAULT_MAX_FETCH, MAX_MESSAGES_PER_SECOND,
};
use crate::schedule::{QuietHours, Schedule};

const DAY: u64 = 86_400;

/// Problems of one table, with where its keys are.
struct Table<'a> {
    lines: &'a Lines<'a>,
    span: Range<usize>,
    /// "[settings]", "source \"comune\"", …
    what: String,
    /// Keys given with a value that could not be read (already reported).
    bad: HashSet<String>,
    problems: &'a mut Vec<Problem>,
}

impl Table<'_> {
    fn problem(&mut self, key: &str, message: impl Into<String>, hint: Option<&str>) {
        let message = message.into();
        self.problems.push(Problem {
            line: self.lines.key(self.span.clone(), key),
            message: format!("{}: {message}", self.what),
            hint: hint.map(str::to_owned),
        });
    }

    /// A duration written the human way ("30s", "5m", "1h30m", "2d"), within bounds.
    fn duration(
        &mut self,
        key: &str,
        raw: Option<String>,
        bounds: (Duration, Duration),
    ) -> Option<Duration> {
        let raw = raw?;
        let (min, max) = bounds;
        match humantime::parse_duration(raw.trim()) {
            Ok(d) if d >= min && d <= max => Some(d),
            Ok(_) => {
                let (min, max) = (
                    humantime::format_duration(min),
                    humantime::format_duration(max),
                );
                self.problem(key, format!("{key} must be between {min} and {max}"), None);
                None
            }
            Err(_) => {
                self.problem(
                    key,
                    format!("{key} {raw:?} is not a duration"),
                    Some("write e.g. \"30s\", \"5m\", \"1h\" or \"2d\""),
                );
                None
            }
        }
    }

    /// An http(s) URL.
    fn url(&mut self, key: &str, raw: &str) -> Option<Url> {
        match Url::parse(raw.trim()) {
            Ok(u) if matches!(u.scheme(), "http" | "https") => Some(u),
            Ok(u) => {
                self.problem(
                    key,
                    format!("{key} {raw:?}: the {:?} scheme is not fetched", u.scheme()),
                    Some("use an http:// or https:// address"),
                );
                None
            }
            Err(e) => {
                self.problem(
                    key,
                    format!("{key} {raw:?} is not a valid address ({e})"),
                    Some("write the full address, e.g. https://www.comune.example.it/feed/"),
                );
                None
            }
        }
    }

    /// A required key.
    fn need<T>(&mut self, key: &str, value: Option<T>, example: &str) -> Option<T> {
        if value.is_none() && !self.bad.contains(key) {
            self.problem(key, format!("needs {key}"), Some(example));
        }
        value
    }

    /// The name of an environment variable (never a secret itself).
    fn env_var(&mut self, key: &str, var: Option<String>) -> Option<String> {
        let var = var?;
        if var.is_empty() || !var.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            self.problem(
                key,
                format!("{key} must name an environment variable, not hold a secret"),
                Some("e.g. token_env = \"WHATSAPP_TOKEN\", then export WHATSAPP_TOKEN=…"),
            );
            return None;
        }
        Some(var)
    }
}

/// Checks configuration text, returning the typed configuration or every problem found.
pub fn parse(text: &str) -> Result<Config, Vec<Problem>> {
    let lines = Lines::new(text);
    let shape = shape_problems(text, &lines);
    if !shape.is_empty() {
        return Err(shape);
    }
    let raw: RawConfig = match toml::from_str(text) {
        Ok(raw) => raw,
        Err(e) => {
            return Err(vec![Problem {
                line: e.span().map(|s| lines.line_of(s.start)),
                message: e.message().trim().to_owned(),
                hint: None,
            }])
        }
    };
    let mut problems = Vec::new();
    let mut warnings = Vec::new();
    let settings = match raw.settings {
        None => Settings::default(),
        Some(spanned) => {
            let span = spanned.span();
            let (raw, bad) = read_table(
                spanned.into_inner(),
                span.clone(),
                "[settings]",
                &lines,
                &mut problems,
            );
            let mut table = Table {
                lines: &lines,
                span,
                what: "[settings]".into(),
                bad,
                problems: &mut problems,
            };
            settings(raw, &mut table)
        }
    };
    let mut sources = Vec::new();
    let mut names = HashSet::new();
    for (i, spanned) in raw.source.into_iter().enumerate() {
        let span = spanned.span();
        let table = spanned.into_inner();
        let what = table_name(&table, "source", i + 1);
        let (raw, bad): (RawSource, _) =
            read_table(table, span.clone(), &what, &lines, &mut problems);
        let mut table = Table {
            lines: &lines,
            span: span.clone(),
            what,
            bad,
            problems: &mut problems,
        };
        if let Some(src) = source(raw, &settings, &mut names, &mut table) {
            if let KindSettings::Cap { geocodes, .. } = &src.settings {
                if geocodes.is_empty() && settings.location.is_none() {
                    warnings.push(Problem {
                        line: Some(lines.line_of(span.start)),
                        message: format!(
                            "source {:?}: neither geocodes nor settings.location: every alert in the feed would be sent, wherever it is",
                            src.name
                        ),
                        hint: Some("geocodes = [\"EMMA_ID:IT003\"], or [settings] location = { lat = …, lon = … }".into()),
                    });
                }
            }
            sources.push(src);
        }
    }
    let mut sinks = Vec::new();
    let mut sink_names = HashSet::new();
    for (i, spanned) in raw.sink.into_iter().enumerate() {
        let span = spanned.span();
        let table = spanned.into_inner();
        let what = table_name(&table, "sink", i + 1);
        let (raw, bad): (RawSink, _) =
            read_table(table, span.clone(), &what, &lines, &mut problems);
        let mut table = Table {
            lines: &lines,
            span: span.clone(),
            what,
            bad,
            problems: &mut problems,
        };
        if let Some(sink) = sink(raw, &mut sink_names, &mut table) {
            if matches!(sink.settings, SinkSettings::WhatsappCloud(_))
                && settings.webhook_listen.is_none()
            {
                warnings.push(Problem {
                    line: Some(lines.line_of(span.start)),
                    message: format!(
                        "sink {:?}: without settings.webhook_listen nobody can subscribe (ISCRIVIMI never arrives) and delivery statuses are lost",
                        sink.name
                    ),
                    hint: Some("[settings] webhook_listen = \"127.0.0.1:8081\", behind the comune's HTTPS proxy".into()),
                });
            }
            sinks.push(sink);
        }
    }
    let mut users = Vec::new();
    let mut user_names = HashSet::new();
    for (i, spanned) in raw.user.into_iter().enumerate() {
        let span = spanned.span();
        let table = spanned.into_inner();
        let what = table_name(&table, "user", i + 1);
        let (raw, bad): (RawUser, _) =
            read_table(table, span.clone(), &what, &lines, &mut problems);
        let mut table = Table {
            lines: &lines,
            span,
            what,
            bad,
            problems: &mut problems,
        };
        users.extend(user(raw, &mut user_names, &mut table));
    }
    if sinks.is_empty() && problems.is_empty() {
        problems.push(Problem {
            line: None,
            message: "no [[sink]]: messages would have nowhere to go".into(),
            hint: Some(
                "add [[sink]] name = \"log\" kind = \"file\" path = \"data/messages.jsonl\"".into(),
            ),
        });
    }
    if problems.is_empty() {
        Ok(Config {
            settings,
            sources,
            sinks,
            users,
            warnings,
        })
    } else {
        problems.sort_by_key(|p| p.line.unwrap_or(0));
        Err(problems)
    }
}

/// Syntax errors, unknown top-level keys, and tables written with the wrong brackets.
fn shape_problems(text: &str, lines: &Lines) -> Vec<Problem> {
    let top: toml::Table = match toml::from_str(text) {
        Ok(t) => t,
        Err(e) => {
            return vec![Problem {
                line: e.span().map(|s| lines.line_of(s.start)),
                message: format!("not valid TOML: {}", e.message().trim()),
                hint: None,
            }]
        }
    };
    let whole = 0..text.len();
    let mut problems = Vec::new();
    for (key, value) in &top {
        let line = lines
            .find_key(whole.clone(), key)
            .or_else(|| text.find(&format!("[{key}")).map(|i| lines.line_of(i)));
        if !TOP_LEVEL.contains(&key.as_str()) {
            problems.push(Problem {
                line,
                message: format!("{key} is not a part of the configuration"),
                hint: Some("the file takes [settings], [[source]], [[sink]] and [[user]]".into()),
            });
        } else if key == "settings" && !value.is_table() {
            problems.push(Problem {
                line,
                message: "write [settings] (one table), not [[settings]]".into(),
                hint: None,
            });
        } else if key != "settings" && !value.is_array() {
            problems.push(Problem {
                line,
                message: format!("write [[{key}]] (one per {key}), not [{key}]"),
                hint: None,
            });
        }
    }
    problems
}

fn settings(raw: RawSettings, t: &mut Table) -> Settings {
    let d = Settings::default();
    let hour = Duration::from_secs(3600);
    let timezone = match raw.timezone {
        None => d.timezone,
        Some(name) => chrono_tz::Tz::from_str(name.trim()).unwrap_or_else(|_| {
            t.problem(
                "timezone",
                format!("timezone {name:?} is not a timezone"),
                Some("an IANA name such as \"Europe/Rome\""),
            );
            d.timezone
        }),
    };
    let mut at_least_one = |key: &str, v: Option<usize>, default: usize| match v {
        Some(0) => {
            t.problem(key, format!("{key} must be at least 1"), None);
            default
        }
        v => v.unwrap_or(default),
    };
    let concurrency = at_least_one("concurrency", raw.concurrency, d.concurrency);
    let per_host = at_least_one(
        "per_host_concurrency",
        raw.per_host_concurrency,
        d.per_host_concurrency,
    );
    let max_new = at_least_one("max_new_per_poll", raw.max_new_per_poll, d.max_new_per_poll);
    let max_body = at_least_one("max_body_bytes", raw.max_body_bytes, d.max_body_bytes);
    let quiet_hours = raw.quiet_hours.and_then(|q| match q.parse::<QuietHours>() {
        Ok(q) => Some(q),
        Err(e) => {
            t.problem(
                "quiet_hours",
                format!("quiet_hours {q:?}: {e}"),
                Some("quiet_hours = \"21:00-07:30\""),
            );
            None
        }
    });
    if let Some(loc) = raw.location {
        if !(-90.0..=90.0).contains(&loc.lat) || !(-180.0..=180.0).contains(&loc.lon) {
            t.problem(
                "location",
                "location is not on the map",
                Some("location = { lat = 45.133, lon = 10.027 } (degrees)"),
            );
        }
    }
    let secs = Duration::from_secs;
    Settings {
        timezone,
        admin_listen: raw.admin_listen,
        user_agent: raw.user_agent,
        connect_timeout: t
            .duration("connect_timeout", raw.connect_timeout, (secs(1), hour))
            .unwrap_or(d.connect_timeout),
        fetch_timeout: t
            .duration("fetch_timeout", raw.fetch_timeout, (secs(1), hour))
            .unwrap_or(d.fetch_timeout),
        max_body_bytes: max_body,
        concurrency,
        per_host_concurrency: per_host,
        seen_max_age: t
            .duration(
                "seen_max_age",
                raw.seen_max_age,
                (secs(7 * DAY), secs(3650 * DAY)),
            )
            .unwrap_or(d.seen_max_age),
        cache_mb: raw.cache_mb.unwrap_or(d.cache_mb),
        max_backoff: t
            .duration("max_backoff", raw.max_backoff, (secs(1), secs(7 * DAY)))
            .unwrap_or(d.max_backoff),
        max_new_per_poll: max_new,
        location: raw.location,
        webhook_listen: raw.webhook_listen,
        quiet_hours,
        review_expiry: t
            .duration(
                "review_expiry",
                raw.review_expiry,
                (secs(60), secs(365 * DAY)),
            )
            .unwrap_or(d.review_expiry),
        admin_secure_cookies: raw.admin_secure_cookies.unwrap_or(false),
        allow_private_sources: raw.allow_private_sources.unwrap_or(false),
    }
}

/// A name: 1 to 64 characters among a-z, 0-9 and -, unique among its kind.
fn name(
    raw: Option<String>,
    seen: &mut HashSet<String>,
    what: &str,
    t: &mut Table,
) -> Option<String> {
    let name = t.need("name", raw, &format!("name = \"comune-{what}\""))?;
    let valid = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if !valid {
        t.problem(
            "name",
            format!("{what} name {name:?} is not valid"),
            Some("use 1 to 64 characters among a-z, 0-9 and -"),
        );
        return None;
    }
    if !seen.insert(name.clone()) {
        t.problem(
            "name",
            format!("{what} name {name:?} is used twice"),
            Some(&format!("every {what} needs its own name")),
        );
        return None;
    }
    Some(name)
}

fn source(
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
    let url = t
        .need(
            "url",
            raw.url,
            "url = \"https://www.comune.example.it/feed/\"",
        )
        .and_then(|u| t.url("url", &u));
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
                if let Err(e) = scraper::Selector::parse(sel) {
                    let hint: String = format!("{e:?}").chars().take(160).collect();
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
            KindSettings::Quake {
                radius_km,
                min_magnitude,
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
        settings: kind_settings,
    })
}

/// The keys each kind of sink takes besides `name`, `kind` and `timeout`.
fn sink_keys(kind: &str) -> Option<&'static [&'static str]> {
    Some(match kind {
        "console" => &[],
        "file" => &["path"],
        "whatsapp-cloud" => &[
            "api_base",
            "api_version",
            "phone_number_id",
            "token_env",
            "app_secret_env",
            "verify_token_env",
            "template",
            "messages_per_second",
        ],
        "whatsapp-gateway" => &[
            "api_base",
            "session",
            "chat_id",
            "api_key_env",
            "hmac_key_env",
        ],
        "webhook" => &["url", "secret_env"],
        _ => return None,
    })
}

fn sink(raw: RawSink, names: &mut HashSet<String>, t: &mut Table) -> Option<SinkConfig> {
    let name = name(raw.name.clone(), names, "sink", t);
    let kind = t.need(
        "kind",
        raw.kind.clone(),
        "kind = \"file\" (console, file, whatsapp-cloud, whatsapp-gateway or webhook)",
    )?;
    let Some(allowed) = sink_keys(&kind) else {
        let (message, _) = humanize(&format!(
            "unknown variant `{kind}`, expected one of `console`, `file`, `whatsapp-cloud`, `whatsapp-gateway`, `webhook`"
        ));
        t.problem("kind", format!("kind {message}"), None);
        return None;
    };
    let given = [
        ("path", raw.path.is_some()),
        ("api_base", raw.api_base.is_some()),
        ("api_version", raw.api_version.is_some()),
        ("phone_number_id", raw.phone_number_id.is_some()),
        ("token_env", raw.token_env.is_some()),
        ("app_secret_env", raw.app_secret_env.is_some()),
        ("verify_token_env", raw.verify_token_env.is_some()),
        ("template", raw.template.is_some()),
        ("messages_per_second", raw.messages_per_second.is_some()),
        ("session", raw.session.is_some()),
        ("chat_id", raw.chat_id.is_some()),
        ("api_key_env", raw.api_key_env.is_some()),
        ("hmac_key_env", raw.hmac_key_env.is_some()),
        ("url", raw.url.is_some()),
        ("secret_env", raw.secret_env.is_some()),
    ];
    for (key, present) in given {
        if present && !allowed.contains(&key) {
            t.problem(key, format!("{key} does not apply to a {kind} sink"), None);
        }
    }
    let timeout = t.duration(
        "timeout",
        raw.timeout,
        (Duration::from_secs(1), Duration::from_secs(3600)),
    );
    let settings = match kind.as_str() {
        "console" => Some(SinkSettings::Console),
        "file" => t
            .need("path", raw.path, "path = \"data/messages.jsonl\"")
            .map(|p| SinkSettings::File {
                path: PathBuf::from(p),
            }),
        "whatsapp-cloud" => {
            let mps = raw.messages_per_second.unwrap_or(20);
            if mps == 0 || mps > MAX_MESSAGES_PER_SECOND {
                t.problem(
                    "messages_per_second",
                    format!("messages_per_second must be between 1 and {MAX_MESSAGES_PER_SECOND}"),
                    Some("Meta allows at most 80 messages per second per phone number"),
                );
            }
            let api_base = t.url(
                "api_base",
                raw.api_base
                    .as_deref()
                    .unwrap_or("https://graph.facebook.com"),
            );
            let phone = t.need(
                "phone_number_id",
                raw.phone_number_id,
                "phone_number_id = \"123456789012345\"",
            );
            let token = t.need(
                "token_env",
                raw.token_env,
                "token_env = \"WHATSAPP_TOKEN\" (the token itself stays in the environment)",
            );
            let secret = t.need(
                "app_secret_env",
                raw.app_secret_env,
                "app_secret_env = \"WHATSAPP_APP_SECRET\" (verifies webhook signatures)",
            );
            let verify = t.need(
                "verify_token_env",
                raw.verify_token_env,
                "verify_token_env = \"WHATSAPP_VERIFY_TOKEN\"",
            );
            let token = t.env_var("token_env", token);
            let secret = t.env_var("app_secret_env", secret);
            let verify = t.env_var("verify_token_env", verify);
            match (api_base, phone, token, secret, verify) {
                (
                    Some(api_base),
                    Some(phone_number_id),
                    Some(token_env),
                    Some(app_secret_env),
                    Some(verify_token_env),
                ) => Some(SinkSettings::WhatsappCloud(CloudConfig {
                    api_base,
                    api_version: raw.api_version.unwrap_or_else(|| "v23.0".into()),
                    phone_number_id,
                    token_env,
                    app_secret_env,
                    verify_token_env,
                    template: raw.template,
                    messages_per_second: mps,
                })),
                _ => None,
            }
        }
        "whatsapp-gateway" => {
            let api_base = t
                .need(
                    "api_base",
                    raw.api_base,
                    "api_base = \"http://127.0.0.1:3000\"",
                )
                .and_then(|u| t.url("api_base", &u));
            let chat_id = t.need(
                "chat_id",
                raw.chat_id,
                "chat_id = \"120363000000000000@newsletter\"",
            );
            let hmac = t.need(
                "hmac_key_env",
                raw.hmac_key_env,
                "hmac_key_env = \"WAHA_HMAC\": the key the gateway signs its webhooks with (acks without a valid signature are refused)",
            );
            let hmac = t.env_var("hmac_key_env", hmac);
            let api_key_env = t.env_var("api_key_env", raw.api_key_env);
            match (api_base, chat_id, hmac) {
                (Some(api_base), Some(chat_id), Some(hmac_key_env)) => {
                    Some(SinkSettings::WhatsappGateway(GatewayConfig {
                        api_base,
                        session: raw.session.unwrap_or_else(|| "default".into()),
                        chat_id,
                        api_key_env,
                        hmac_key_env,
                    }))
                }
                _ => None,
            }
        }
        _ => {
            let url = t
                .need(
                    "url",
                    raw.url,
                    "url = \"https://automation.example.it/hook\"",
                )
                .and_then(|u| t.url("url", &u));
            let secret = t.need(
                "secret_env",
                raw.secret_env,
                "secret_env = \"WEBHOOK_SECRET\"",
            );
            let secret = t.env_var("secret_env", secret);
            match (url, secret) {
                (Some(url), Some(secret_env)) => {
                    Some(SinkSettings::Webhook(WebhookConfig { url, secret_env }))
                }
                _ => None,
            }
        }
    };
    Some(SinkConfig {
        name: name?,
        timeout,
        settings: settings?,
    })
}

fn user(raw: RawUser, names: &mut HashSet<String>, t: &mut Table) -> Option<UserConfig> {
    let name = t.need("name", raw.name, "name = \"redazione\"");
    let role = t.need("role", raw.role, "role = \"editor\" (or \"admin\")");
    let hash = t.need(
        "password_hash",
        raw.password_hash,
        "create one with `banditore hash-password`",
    );
    if let Some(n) = &name {
        if n.trim().is_empty() || !names.insert(n.clone()) {
            t.problem(
                "name",
                format!("user name {n:?} is empty or used twice"),
                None,
            );
        }
    }
    if let Some(h) = &hash {
        if argon2::PasswordHash::new(h).is_err() {
            t.problem(
                "password_hash",
                "password_hash is not an argon2 hash",
                Some("create one with `banditore hash-password`; never write the password itself"),
            );
            return None;
        }
    }
    Some(UserConfig {
        name: name?,
        role: role?,
        password_hash: hash?,
    })
}
