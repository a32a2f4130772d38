//! From the tables as written (`raw`) to the typed configuration, with every problem found.

mod public;
mod settings;
mod sink;
mod source;
mod topics;

use std::collections::{HashMap, HashSet};
use std::ops::Range;
use std::sync::Arc;
use std::time::Duration;

use url::Url;

use super::problem::{Lines, Problem};
use super::raw::{read_table, table_name, RawConfig, TOP_LEVEL};
use super::{Config, KindSettings, Settings, SinkConfig, SinkSettings, SourceConfig};
use settings::settings;
use sink::{sink, user};
use source::source;

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
                let shown = crate::link::redacted(&u);
                self.problem(
                    key,
                    format!(
                        "{key} {shown:?}: the {:?} scheme is not fetched",
                        u.scheme()
                    ),
                    Some("use an http:// or https:// address"),
                );
                None
            }
            Err(e) => {
                // Not an address, so not redactable as one: shown up to any credential.
                let shown: String = raw
                    .trim()
                    .split(['@', '?'])
                    .next()
                    .unwrap_or_default()
                    .chars()
                    .take(80)
                    .collect();
                let cut = if shown == raw.trim() { "" } else { "…" };
                self.problem(
                    key,
                    format!("{key} {shown:?}{cut} is not a valid address ({e})"),
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

    /// A required http(s) URL.
    fn need_url(&mut self, key: &str, raw: Option<String>, example: &str) -> Option<Url> {
        self.need(key, raw, example).and_then(|u| self.url(key, &u))
    }

    /// An example of a variable's name for `key` in this table ("TELEGRAM_TOKEN").
    fn what_var(&self, key: &str) -> String {
        // `sink "telegram"`: the table's name.
        let name: String = self
            .what
            .split('"')
            .nth(1)
            .unwrap_or("banditore")
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() {
                    c.to_ascii_uppercase()
                } else {
                    '_'
                }
            })
            .collect();
        let key = key.trim_end_matches("_env").to_uppercase();
        format!("{name}_{key}")
    }

    /// A required environment variable's name.
    fn need_env(&mut self, key: &str, raw: Option<String>, example: &str) -> Option<String> {
        let var = self.need(key, raw, example);
        self.env_var(key, var)
    }

    /// The name of an environment variable (never a secret itself): capitals, digits and
    /// underscores, as environment variables are named. Anything else (a token pasted in
    /// the wrong place, such as Meta's "EAAG…") is refused without being repeated.
    fn env_var(&mut self, key: &str, var: Option<String>) -> Option<String> {
        let var = var?;
        let named = (1..=64).contains(&var.len())
            && !var.starts_with(|c: char| c.is_ascii_digit())
            && var
                .chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
        if !named {
            self.problem(
                key,
                format!("{key} must name an environment variable, not hold a secret"),
                Some(&format!(
                    "e.g. {key} = \"{}\", then export {0}=…",
                    self.what_var(key)
                )),
            );
            return None;
        }
        Some(var)
    }
}

/// Checks configuration text, returning the typed configuration or every problem found.
pub fn parse(text: &str) -> Result<Config, Rejected> {
    let lines = Lines::new(text);
    let rejected = |problems| Rejected {
        problems,
        warnings: Vec::new(),
    };
    let shape = shape_problems(text, &lines);
    if !shape.is_empty() {
        // Tables with the wrong brackets are read as meant, so that the rest of the file is
        // checked too: every problem at once.
        let mut problems = shape;
        let mut warnings = Vec::new();
        if let Some(repaired) = with_brackets_mended(text) {
            if let Err(more) = parse(&repaired) {
                for p in more.problems {
                    if !problems.contains(&p) {
                        problems.push(p);
                    }
                }
                warnings = more.warnings;
            }
        }
        problems.sort_by_key(|p| p.line.unwrap_or(usize::MAX));
        return Err(Rejected { problems, warnings });
    }
    let raw: RawConfig = match toml::from_str(text) {
        Ok(raw) => raw,
        Err(e) => {
            return Err(rejected(vec![Problem {
                line: e.span().map(|s| lines.line_of(s.start)),
                message: e.message().trim().to_owned(),
                hint: None,
            }]))
        }
    };
    let mut problems = Vec::new();
    let mut warnings = Vec::new();
    // toml spans a table by its header (`[[source]]`); its keys run to the next header.
    let headers: Vec<usize> = raw
        .settings
        .iter()
        .chain(&raw.source)
        .chain(&raw.sink)
        .chain(&raw.user)
        .chain(&raw.topic)
        .chain(&raw.zone)
        .map(|t| t.span().start)
        .collect();
    let table_span = |header: Range<usize>| {
        let end = headers.iter().copied().filter(|&s| s > header.start).min();
        header.start..end.unwrap_or(text.len()).max(header.end)
    };
    let settings = match raw.settings {
        None => Settings::default(),
        Some(spanned) => {
            let span = table_span(spanned.span());
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
    let mut names = HashSet::new();
    let sources = each_table(
        raw.source,
        "source",
        &lines,
        &table_span,
        &mut problems,
        |raw, t| source(raw, &settings, &mut names, t),
    );
    let mut names = HashSet::new();
    let sinks = each_table(
        raw.sink,
        "sink",
        &lines,
        &table_span,
        &mut problems,
        |raw, t| sink(raw, &mut names, t),
    );
    let mut names = HashSet::new();
    let users = each_table(
        raw.user,
        "user",
        &lines,
        &table_span,
        &mut problems,
        |raw, t| user(raw, &mut names, t),
    );
    let chosen = topics::check(
        (raw.topic, raw.zone),
        &sources,
        &sinks,
        &lines,
        &table_span,
        &mut problems,
    );
    // One source per address: a second would find the same items and send them again.
    let mut followed: HashMap<String, &str> = HashMap::new();
    for (src, line) in &sources {
        if let Some(first) = followed.insert(same_address(&src.url), &src.name) {
            problems.push(Problem {
                line: Some(*line),
                message: format!(
                    "source {:?} follows the same address as source {first:?}: its items would be sent twice",
                    src.name
                ),
                hint: Some("keep one source per address; put every option on that one".into()),
            });
        }
    }
    for (src, line) in &sources {
        if let KindSettings::Cap { geocodes, .. } = &src.settings {
            if geocodes.is_empty() && settings.location.is_none() {
                warnings.push(Problem {
                    line: Some(*line),
                    message: format!(
                        "source {:?}: neither geocodes nor settings.location: every alert in the feed would be sent, wherever it is",
                        src.name
                    ),
                    hint: Some("geocodes = [\"EMMA_ID:IT003\"], or [settings] location = { lat = …, lon = … }".into()),
                });
            }
        }
    }
    for (sink, line) in &sinks {
        if let SinkSettings::WhatsappCloud(cloud) = &sink.settings {
            if cloud.template.is_none() {
                warnings.push(Problem {
                    line: Some(*line),
                    message: format!(
                        "sink {:?}: without a template, subscribers who have not written in the last 24 hours receive nothing (WhatsApp refuses free text to them: error 131047)",
                        sink.name
                    ),
                    hint: Some("template = { name = \"avviso_comune\", language = \"it\" }, approved by Meta (docs/whatsapp.md)".into()),
                });
            }
        }
        let alerting = settings.alerts.sinks.contains(&sink.name);
        if let SinkSettings::WhatsappCloud(cloud) = &sink.settings {
            if !cloud.admins.is_empty() && !alerting {
                problems.push(Problem {
                    line: Some(*line),
                    message: format!(
                        "sink {:?}: admins is for a sink that sends admin alerts, and this one is not in settings.alerts",
                        sink.name
                    ),
                    hint: Some(format!("[settings] alerts = [{:?}] (it then carries no news), or remove admins", sink.name)),
                });
            }
        }
        if matches!(sink.settings, SinkSettings::WhatsappCloud(_))
            && settings.webhook_listen.is_none()
            && !alerting
        {
            warnings.push(Problem {
                line: Some(*line),
                message: format!(
                    "sink {:?}: without settings.webhook_listen nobody can subscribe (ISCRIVIMI never arrives) and delivery statuses are lost",
                    sink.name
                ),
                hint: Some("[settings] webhook_listen = \"127.0.0.1:8081\", behind the comune's HTTPS proxy".into()),
            });
        }
    }
    public::check(&settings, &sinks, &mut problems, &mut warnings);
    // Alerts go to sinks that carry no news, and never to citizens.
    for name in &settings.alerts.sinks {
        let sink = sinks.iter().find(|(s, _)| &s.name == name).map(|(s, _)| s);
        let problem = match sink.map(|s| &s.settings) {
            None => Some(format!("alerts names {name:?}, which is no [[sink]]")),
            Some(SinkSettings::WhatsappCloud(c)) if c.admins.is_empty() => Some(format!(
                "alerts names {name:?}, a whatsapp-cloud sink without admins: admin alerts would go to citizens"
            )),
            Some(SinkSettings::WhatsappGateway(_)) => Some(format!(
                "alerts names {name:?}, a whatsapp-gateway sink: admin alerts would go to citizens"
            )),
            Some(SinkSettings::Telegram(_)) => Some(format!(
                "alerts names {name:?}, a telegram sink: admin alerts would go to its channel's followers"
            )),
            Some(SinkSettings::Mastodon(_)) => Some(format!(
                "alerts names {name:?}, a mastodon sink: admin alerts would go to its followers"
            )),
            Some(_) => None,
        };
        if let Some(message) = problem {
            problems.push(Problem {
                line: None,
                message,
                hint: Some("a file, email, webhook or console sink, or a whatsapp-cloud sink with admins = [\"+39 340 123 4567\"]: [[sink]] name = \"allarmi\" kind = \"file\" path = \"allarmi.jsonl\", and [settings] alerts = [\"allarmi\"]".into()),
            });
        }
    }
    let sources: Vec<SourceConfig> = sources.into_iter().map(|(s, _)| s).collect();
    let sinks: Vec<SinkConfig> = sinks.into_iter().map(|(s, _)| s).collect();
    let users = users.into_iter().map(|(u, _)| u).collect();
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
            sources: sources.into_iter().map(Arc::new).collect(),
            sinks,
            users,
            audience: chosen,
            warnings,
        })
    } else {
        problems.sort_by_key(|p| p.line.unwrap_or(0));
        Err(Rejected { problems, warnings })
    }
}

/// A configuration that does not check: its problems, and the warnings found beside them.
pub struct Rejected {
    pub problems: Vec<Problem>,
    pub warnings: Vec<Problem>,
}

/// Reads and checks every `[[kind]]` table with `check`; returns what checked, with the line
/// of its header.
fn each_table<R, T>(
    tables: Vec<toml::Spanned<toml::Table>>,
    kind: &str,
    lines: &Lines,
    table_span: &dyn Fn(Range<usize>) -> Range<usize>,
    problems: &mut Vec<Problem>,
    mut check: impl FnMut(R, &mut Table) -> Option<T>,
) -> Vec<(T, usize)>
where
    R: serde::de::DeserializeOwned + Default,
{
    let mut out = Vec::new();
    for (i, spanned) in tables.into_iter().enumerate() {
        let span = table_span(spanned.span());
        let table = spanned.into_inner();
        let what = table_name(&table, kind, i + 1);
        let (raw, bad) = read_table(table, span.clone(), &what, lines, problems);
        let line = lines.line_of(span.start);
        let mut table = Table {
            lines,
            span,
            what,
            bad,
            problems,
        };
        out.extend(check(raw, &mut table).map(|t| (t, line)));
    }
    out
}

/// An address as far as "the same feed" goes: http and https, a trailing slash, `www.` and a
/// fragment make no difference. (`ident::canonical_url` is stricter about queries, and sits
/// above this module.)
fn same_address(url: &Url) -> String {
    let host = url.host_str().unwrap_or_default();
    let host = host.strip_prefix("www.").unwrap_or(host);
    let port = url.port().map(|p| format!(":{p}")).unwrap_or_default();
    let path = url.path().trim_end_matches('/');
    let query = url.query().map(|q| format!("?{q}")).unwrap_or_default();
    format!("{host}{port}{path}{query}")
}

/// The text with `[[settings]]` written `[settings]` and `[source]`, `[sink]`, `[user]`
/// written with double brackets, on the same lines; `None` when nothing changed, or when a
/// second `[[settings]]` would make two tables.
fn with_brackets_mended(text: &str) -> Option<String> {
    let mut settings = 0;
    let mut changed = false;
    let mut out = String::with_capacity(text.len() + 16);
    for line in text.split_inclusive('\n') {
        let (body, end) = match line.strip_suffix('\n') {
            Some(body) => (body, "\n"),
            None => (line, ""),
        };
        let header = body.trim();
        let mended = if header == "[[settings]]" {
            settings += 1;
            Some("[settings]".to_owned())
        } else {
            ["source", "sink", "user"]
                .into_iter()
                .find(|k| header == format!("[{k}]"))
                .map(|k| format!("[[{k}]]"))
        };
        match mended {
            Some(m) => {
                changed = true;
                out.push_str(&m);
            }
            None => out.push_str(body),
        }
        out.push_str(end);
    }
    (changed && settings <= 1).then_some(out)
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
                hint: Some(
                    "the file takes include = [...], [settings], [[source]], [[sink]] and [[user]]"
                        .into(),
                ),
            });
        } else if key == "include" {
            if !value
                .as_array()
                .is_some_and(|a| a.iter().all(toml::Value::is_str))
            {
                problems.push(Problem {
                    line,
                    message: "include must be a list of file patterns".into(),
                    hint: Some("include = [\"sources.d/*.toml\"]".into()),
                });
            }
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
