//! Configuration: `sources.toml`, strictly validated.
//!
//! Loading never stops at the first mistake: every `[[source]]` and `[[sink]]` table is
//! deserialised on its own, then checked for meaning (unique names, URLs, schedules, regexes),
//! and every problem is reported with its line and, where we can, a hint. `banditore check`
//! prints them all; every other command refuses to start on an invalid file.

use std::collections::HashSet;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use serde::Deserialize;
use url::Url;

use crate::schedule::Schedule;

/// One problem found in the configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// 1-based line in the file, when known.
    pub line: Option<usize>,
    pub message: String,
    pub hint: Option<String>,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "line {line}: {}", self.message)?,
            None => write!(f, "{}", self.message)?,
        }
        if let Some(hint) = &self.hint {
            write!(f, "\n  hint: {hint}")?;
        }
        Ok(())
    }
}

/// Everything wrong with a configuration file.
#[derive(Debug, thiserror::Error)]
pub struct ConfigError {
    pub path: PathBuf,
    pub problems: Vec<Problem>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.problems.len();
        writeln!(
            f,
            "{}: {n} problem{}",
            self.path.display(),
            if n == 1 { "" } else { "s" }
        )?;
        for p in &self.problems {
            writeln!(f, "  {}", p.to_string().replace('\n', "\n  "))?;
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SourceKind {
    /// RSS, Atom or JSON Feed.
    Feed,
    /// A press-release listing page read with CSS selectors.
    Page,
    /// A CAP alert, or an Atom/RSS index of CAP alerts.
    Cap,
    /// The INGV FDSN event service.
    Quake,
}

impl SourceKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SourceKind::Feed => "feed",
            SourceKind::Page => "page",
            SourceKind::Cap => "cap",
            SourceKind::Quake => "quake",
        }
    }

    /// Emergency sources poll often and their messages go ahead of the others.
    pub fn is_emergency(self) -> bool {
        matches!(self, SourceKind::Cap | SourceKind::Quake)
    }
}

/// A point on the map (the comune), WGS84 degrees.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Location {
    pub lat: f64,
    pub lon: f64,
}

/// Page templates banditore knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Preset {
    /// The Design Comuni Italia template most Italian comuni use.
    DesignComuni,
    /// Common WordPress themes.
    Wordpress,
    /// No selectors: finds article links and reads each article's metadata.
    #[default]
    Auto,
}

/// CSS selectors for a listing page; each is optional and overrides the preset's.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Selectors {
    pub item: Option<String>,
    pub link: Option<String>,
    pub title: Option<String>,
    pub date: Option<String>,
    pub summary: Option<String>,
    pub image: Option<String>,
}

/// CAP severities, in order.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default, Deserialize, serde::Serialize,
)]
pub enum Severity {
    Unknown,
    Minor,
    #[default]
    Moderate,
    Severe,
    Extreme,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Priority {
    #[default]
    Normal,
    Urgent,
}

/// What an editor wants forwarded from a source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Forward {
    /// Every new item.
    #[default]
    All,
    /// Only items carrying one of the source's `tags` (set by editors in the site's CMS).
    Tagged,
    /// Every new item waits in the review queue for an editor.
    Review,
}

/// `[settings]`: process-wide knobs. All have defaults.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    pub timezone: String,
    pub admin_listen: Option<String>,
    /// User-Agent sent with every request; a contact URL helps webmasters.
    pub user_agent: Option<String>,
    #[serde(with = "humantime_serde_compat")]
    pub connect_timeout: Duration,
    /// Total time for one fetch (connect, headers and body); a source may override it.
    #[serde(with = "humantime_serde_compat")]
    pub fetch_timeout: Duration,
    /// Largest body accepted, in bytes.
    pub max_body_bytes: usize,
    /// Fetches in flight at once, over all hosts.
    pub concurrency: usize,
    /// Fetches in flight at once to one host.
    pub per_host_concurrency: usize,
    /// Seen keys not met again for this long are forgotten (items still in their feed never are).
    #[serde(with = "humantime_serde_compat")]
    pub seen_max_age: Duration,
    /// sled page cache, in megabytes (sled's own default is 1 GB).
    pub cache_mb: u64,
    /// Longest back-off between retries of a failing source.
    #[serde(with = "humantime_serde_compat")]
    pub max_backoff: Duration,
    /// Most new items one poll of one source may enqueue; the rest are recorded as seen and logged.
    pub max_new_per_poll: usize,
    /// The comune: CAP areas and earthquake distances are measured from here.
    pub location: Option<Location>,
    /// Public endpoint for provider webhooks (WhatsApp subscriptions and statuses).
    pub webhook_listen: Option<String>,
    /// "21:00-07:30": normal messages wait until the end; urgent ones go at once.
    pub quiet_hours: Option<String>,
    /// Items waiting for review longer than this expire.
    #[serde(with = "humantime_serde_compat")]
    pub review_expiry: Duration,
    /// Mark session cookies `Secure` (set when the admin UI is served behind TLS).
    pub admin_secure_cookies: bool,
    /// Let admins add sources on loopback, link-local or private addresses (off: no SSRF
    /// through the admin UI).
    pub allow_private_sources: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            timezone: "Europe/Rome".into(),
            admin_listen: None,
            user_agent: None,
            connect_timeout: Duration::from_secs(10),
            fetch_timeout: Duration::from_secs(30),
            max_body_bytes: 10 * 1024 * 1024,
            concurrency: 32,
            per_host_concurrency: 4,
            seen_max_age: Duration::from_secs(180 * 86_400),
            cache_mb: 64,
            max_backoff: Duration::from_secs(3600),
            max_new_per_poll: 10,
            location: None,
            webhook_listen: None,
            quiet_hours: None,
            review_expiry: Duration::from_secs(48 * 3600),
            admin_secure_cookies: false,
            allow_private_sources: false,
        }
    }
}

impl Settings {
    pub fn tz(&self) -> chrono_tz::Tz {
        chrono_tz::Tz::from_str(&self.timezone).unwrap_or(chrono_tz::Europe::Rome)
    }

    /// The quiet window, when one is configured (validated when the file was loaded).
    pub fn quiet_hours(&self) -> Option<crate::schedule::QuietHours> {
        self.quiet_hours.as_deref().and_then(|q| q.parse().ok())
    }

    pub fn user_agent(&self) -> String {
        self.user_agent.clone().unwrap_or_else(|| {
            format!(
                "banditore/{} (+https://github.com/banditore/banditore)",
                env!("CARGO_PKG_VERSION")
            )
        })
    }
}

/// A `[[source]]` table as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceConfig {
    pub name: String,
    pub kind: SourceKind,
    pub url: String,
    #[serde(default, with = "humantime_serde_compat::option")]
    pub every: Option<Duration>,
    pub cron: Option<String>,
    #[serde(default, with = "humantime_serde_compat::option")]
    pub timeout: Option<Duration>,
    #[serde(default)]
    pub forward: Forward,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default)]
    pub include: Vec<String>,
    #[serde(default)]
    pub exclude: Vec<String>,
    pub max_chars: Option<usize>,
    pub footer: Option<String>,
    pub priority: Option<Priority>,
    /// `page`: a known template.
    pub preset: Option<Preset>,
    /// `page`: CSS selectors (override the preset's).
    pub selectors: Option<Selectors>,
    /// `page` and `cap` indexes: most documents fetched per poll.
    pub max_fetch: Option<usize>,
    /// `cap`: forward alerts whose area carries one of these geocodes ("EMMA_ID:IT003").
    #[serde(default)]
    pub geocodes: Vec<String>,
    /// `cap`: the least severity forwarded.
    pub min_severity: Option<Severity>,
    /// `cap`: the official page to link when an alert has no `<web>`.
    pub link: Option<String>,
    /// `quake`: distance from `settings.location`.
    pub radius_km: Option<f64>,
    /// `quake`: the least magnitude forwarded.
    pub min_magnitude: Option<f64>,
    /// With `forward = "review"`: urgent items wait for review too (by default they skip it).
    #[serde(default)]
    pub review_urgent: bool,
}

/// How often an emergency source without `every` or `cron` is polled.
pub const DEFAULT_EMERGENCY_EVERY: Duration = Duration::from_secs(60);

impl SourceConfig {
    /// A source with every option at its default: the preview of a document that no
    /// configured source names.
    pub fn adhoc(name: &str, kind: SourceKind, url: &str) -> SourceConfig {
        SourceConfig {
            name: name.to_owned(),
            kind,
            url: url.to_owned(),
            every: None,
            cron: None,
            timeout: None,
            forward: Forward::default(),
            tags: Vec::new(),
            include: Vec::new(),
            exclude: Vec::new(),
            max_chars: None,
            footer: None,
            priority: None,
            preset: None,
            selectors: None,
            max_fetch: None,
            geocodes: Vec::new(),
            min_severity: None,
            link: None,
            radius_km: None,
            min_magnitude: None,
            review_urgent: false,
        }
    }

    pub fn schedule(&self) -> Schedule {
        let default = if self.kind.is_emergency() {
            DEFAULT_EMERGENCY_EVERY
        } else {
            DEFAULT_EVERY
        };
        match (&self.cron, self.every) {
            (Some(expr), _) => Schedule::parse_cron(expr).unwrap_or(Schedule::Every(default)),
            (None, Some(every)) => Schedule::Every(every),
            (None, None) => Schedule::Every(default),
        }
    }

    /// The priority of this source's messages unless an item says otherwise: emergency
    /// sources default to urgent.
    pub fn default_priority(&self) -> Priority {
        self.priority.unwrap_or(if self.kind == SourceKind::Quake {
            Priority::Urgent
        } else {
            Priority::Normal
        })
    }

    /// Most documents (articles, CAP alerts) fetched in one poll.
    pub fn max_fetch(&self) -> usize {
        self.max_fetch.unwrap_or(10)
    }

    pub fn url(&self) -> Option<Url> {
        Url::parse(&self.url).ok()
    }
}

/// How often a source without `every` or `cron` is polled.
pub const DEFAULT_EVERY: Duration = Duration::from_secs(300);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SinkKind {
    Console,
    File,
    /// Meta's WhatsApp Cloud API, to opted-in subscribers.
    WhatsappCloud,
    /// A WAHA-compatible gateway, e.g. to post in a WhatsApp Channel.
    WhatsappGateway,
    /// A signed JSON POST of the message.
    Webhook,
}

impl SinkKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SinkKind::Console => "console",
            SinkKind::File => "file",
            SinkKind::WhatsappCloud => "whatsapp-cloud",
            SinkKind::WhatsappGateway => "whatsapp-gateway",
            SinkKind::Webhook => "webhook",
        }
    }
}

/// An approved WhatsApp message template: body parameters {{1}} = title, {{2}} = link.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Template {
    pub name: String,
    pub language: String,
}

/// A `[[sink]]` table as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SinkConfig {
    pub name: String,
    pub kind: SinkKind,
    /// `file` sink: where message JSON lines are appended (relative to the working directory).
    pub path: Option<PathBuf>,
    /// `whatsapp-cloud` and `whatsapp-gateway`: the API's base URL.
    pub api_base: Option<String>,
    /// `whatsapp-cloud`: Graph API version, e.g. "v23.0".
    pub api_version: Option<String>,
    /// `whatsapp-cloud`: the sending phone number's id.
    pub phone_number_id: Option<String>,
    /// `whatsapp-cloud`: environment variables holding the secrets.
    pub token_env: Option<String>,
    pub app_secret_env: Option<String>,
    pub verify_token_env: Option<String>,
    /// `whatsapp-cloud`: the template used outside the 24-hour window.
    pub template: Option<Template>,
    /// `whatsapp-cloud`: send rate (at most 80, Meta's limit for a number).
    pub messages_per_second: Option<u32>,
    /// `whatsapp-gateway`: session name and chat id (a Channel ends in "@newsletter").
    pub session: Option<String>,
    pub chat_id: Option<String>,
    pub api_key_env: Option<String>,
    /// `whatsapp-gateway`: the HMAC key (SHA-512) the gateway signs its webhooks with.
    pub hmac_key_env: Option<String>,
    /// `webhook`: where to POST, and the environment variable holding the signing secret.
    pub url: Option<String>,
    pub secret_env: Option<String>,
    /// Time for one request to the provider.
    #[serde(default, with = "humantime_serde_compat::option")]
    pub timeout: Option<Duration>,
}

/// Meta's throughput ceiling for one phone number.
pub const MAX_MESSAGES_PER_SECOND: u32 = 80;

impl SinkConfig {}

/// Who may use the admin UI.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// The review queue and the sent log.
    Editor,
    /// Everything, sources included.
    Admin,
}

/// A `[[user]]` of the admin UI. The password is stored only as an argon2 hash.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserConfig {
    pub name: String,
    pub role: Role,
    /// A PHC string, e.g. from `banditore hash-password`.
    pub password_hash: String,
}

/// A validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub settings: Settings,
    pub sources: Vec<SourceConfig>,
    pub sinks: Vec<SinkConfig>,
    pub users: Vec<UserConfig>,
}

/// The file's shape before each table is checked on its own.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    settings: Option<toml::Spanned<toml::Table>>,
    #[serde(default)]
    source: Vec<toml::Spanned<toml::Table>>,
    #[serde(default)]
    sink: Vec<toml::Spanned<toml::Table>>,
    #[serde(default)]
    user: Vec<toml::Spanned<toml::Table>>,
}

impl Config {
    /// Reads and validates a file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            path: path.to_owned(),
            problems: vec![Problem {
                line: None,
                message: format!("cannot read the configuration: {e}"),
                hint: Some("pass --config FILE or set BANDITORE_CONFIG".into()),
            }],
        })?;
        Config::parse(&text).map_err(|problems| ConfigError {
            path: path.to_owned(),
            problems,
        })
    }

    /// Validates configuration text, returning every problem found.
    pub fn parse(text: &str) -> Result<Config, Vec<Problem>> {
        let lines = LineIndex::new(text);
        let raw: RawConfig = match toml::from_str(text) {
            Ok(raw) => raw,
            Err(e) => {
                let line = e.span().map(|s| lines.line_of(s.start));
                return Err(vec![Problem {
                    line,
                    message: e.message().to_string(),
                    hint: top_level_hint(e.message()),
                }]);
            }
        };
        let mut problems = Vec::new();
        // toml spans a table by its header (`[[source]]`); its keys run to the next header.
        let headers: Vec<usize> = raw
            .settings
            .iter()
            .chain(&raw.source)
            .chain(&raw.sink)
            .chain(&raw.user)
            .map(|t| t.span().start)
            .collect();
        let table_span = |header: std::ops::Range<usize>| {
            let end = headers.iter().copied().filter(|&s| s > header.start).min();
            header.start..end.unwrap_or(text.len()).max(header.end)
        };

        let settings = match raw.settings {
            None => Settings::default(),
            Some(spanned) => {
                let span = table_span(spanned.span());
                match Settings::deserialize(toml::Value::Table(spanned.into_inner())) {
                    Ok(s) => s,
                    Err(e) => {
                        problems.push(table_problem(text, &lines, span, "settings", &e));
                        Settings::default()
                    }
                }
            }
        };
        if chrono_tz::Tz::from_str(&settings.timezone).is_err() {
            problems.push(Problem {
                line: find_key_line(text, &lines, 0..text.len(), "timezone"),
                message: format!("unknown timezone {:?}", settings.timezone),
                hint: Some("an IANA name such as \"Europe/Rome\"".into()),
            });
        }
        if settings.concurrency == 0 || settings.per_host_concurrency == 0 {
            problems.push(Problem {
                line: None,
                message: "concurrency and per_host_concurrency must be at least 1".into(),
                hint: None,
            });
        }
        if let Some(q) = &settings.quiet_hours {
            if let Err(e) = q.parse::<crate::schedule::QuietHours>() {
                problems.push(Problem {
                    line: find_key_line(text, &lines, 0..text.len(), "quiet_hours"),
                    message: format!("quiet_hours {q:?}: {e}"),
                    hint: Some("quiet_hours = \"21:00-07:30\"".into()),
                });
            }
        }
        const DAY: u64 = 86_400;
        for (key, value, max) in [
            (
                "connect_timeout",
                settings.connect_timeout,
                Duration::from_secs(3600),
            ),
            (
                "fetch_timeout",
                settings.fetch_timeout,
                Duration::from_secs(3600),
            ),
            (
                "seen_max_age",
                settings.seen_max_age,
                Duration::from_secs(3650 * DAY),
            ),
            (
                "max_backoff",
                settings.max_backoff,
                Duration::from_secs(7 * DAY),
            ),
            (
                "review_expiry",
                settings.review_expiry,
                Duration::from_secs(365 * DAY),
            ),
        ] {
            if value > max || value.is_zero() {
                problems.push(Problem {
                    line: find_key_line(text, &lines, 0..text.len(), key),
                    message: format!(
                        "{key} must be more than 0 and at most {}",
                        humantime::format_duration(max)
                    ),
                    hint: None,
                });
            }
        }
        if settings.seen_max_age < Duration::from_secs(7 * 86_400) {
            problems.push(Problem {
                line: find_key_line(text, &lines, 0..text.len(), "seen_max_age"),
                message: "seen_max_age must be at least 7d".into(),
                hint: Some("shorter memories would re-send items that are still in a feed".into()),
            });
        }

        if let Some(loc) = settings.location {
            if !(-90.0..=90.0).contains(&loc.lat) || !(-180.0..=180.0).contains(&loc.lon) {
                problems.push(Problem {
                    line: find_key_line(text, &lines, 0..text.len(), "location"),
                    message: "location is not on the map".into(),
                    hint: Some("location = { lat = 45.133, lon = 10.027 } (degrees)".into()),
                });
            }
        }
        let mut sources = Vec::new();
        let mut names = HashSet::new();
        for spanned in raw.source {
            let span = table_span(spanned.span());
            let table = spanned.into_inner();
            match SourceConfig::deserialize(toml::Value::Table(table)) {
                Ok(src) => {
                    if src.kind == SourceKind::Quake && settings.location.is_none() {
                        problems.push(Problem {
                            line: Some(lines.line_of(span.start)),
                            message: format!(
                                "source {:?}: an earthquake source needs settings.location",
                                src.name
                            ),
                            hint: Some(
                                "[settings] location = { lat = 45.133, lon = 10.027 }".into(),
                            ),
                        });
                    }
                    check_source(text, &lines, span, &src, &mut names, &mut problems);
                    sources.push(src);
                }
                Err(e) => problems.push(table_problem(text, &lines, span, "source", &e)),
            }
        }

        let mut sinks = Vec::new();
        let mut sink_names = HashSet::new();
        for spanned in raw.sink {
            let span = table_span(spanned.span());
            match SinkConfig::deserialize(toml::Value::Table(spanned.into_inner())) {
                Ok(sink) => {
                    let line = Some(lines.line_of(span.start));
                    check_name(&sink.name, line, "sink", &mut sink_names, &mut problems);
                    check_sink(text, &lines, span, &sink, &mut problems);
                    sinks.push(sink);
                }
                Err(e) => problems.push(table_problem(text, &lines, span, "sink", &e)),
            }
        }
        let mut users = Vec::new();
        let mut user_names = HashSet::new();
        for spanned in raw.user {
            let span = table_span(spanned.span());
            match UserConfig::deserialize(toml::Value::Table(spanned.into_inner())) {
                Ok(user) => {
                    let line = Some(lines.line_of(span.start));
                    if user.name.trim().is_empty() || !user_names.insert(user.name.clone()) {
                        problems.push(Problem {
                            line,
                            message: format!("user name {:?} is empty or used twice", user.name),
                            hint: None,
                        });
                    }
                    if argon2::PasswordHash::new(&user.password_hash).is_err() {
                        problems.push(Problem {
                            line: find_key_line(text, &lines, span.clone(), "password_hash").or(line),
                            message: format!("user {:?}: password_hash is not an argon2 hash", user.name),
                            hint: Some("create one with `banditore hash-password`; never write the password itself".into()),
                        });
                    }
                    users.push(user);
                }
                Err(e) => problems.push(table_problem(text, &lines, span, "user", &e)),
            }
        }

        if sinks.is_empty() && problems.is_empty() {
            problems.push(Problem {
                line: None,
                message: "no [[sink]]: messages would have nowhere to go".into(),
                hint: Some(
                    "add [[sink]] name = \"log\" kind = \"file\" path = \"data/messages.jsonl\""
                        .into(),
                ),
            });
        }

        if problems.is_empty() {
            Ok(Config {
                settings,
                sources,
                sinks,
                users,
            })
        } else {
            problems.sort_by_key(|p| p.line.unwrap_or(0));
            Err(problems)
        }
    }

    pub fn source(&self, name: &str) -> Option<&SourceConfig> {
        self.sources.iter().find(|s| s.name == name)
    }
}

fn check_name(
    name: &str,
    line: Option<usize>,
    what: &str,
    seen: &mut HashSet<String>,
    problems: &mut Vec<Problem>,
) {
    let valid = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if !valid {
        problems.push(Problem {
            line,
            message: format!("{what} name {name:?} is not valid"),
            hint: Some("use 1 to 64 characters among a-z, 0-9 and -".into()),
        });
    }
    if !seen.insert(name.to_owned()) {
        problems.push(Problem {
            line,
            message: format!("{what} name {name:?} is used twice"),
            hint: Some(format!("every {what} needs its own name")),
        });
    }
}

fn check_source(
    text: &str,
    lines: &LineIndex,
    span: std::ops::Range<usize>,
    src: &SourceConfig,
    names: &mut HashSet<String>,
    problems: &mut Vec<Problem>,
) {
    let table_line = Some(lines.line_of(span.start));
    let key_line = |key: &str| find_key_line(text, lines, span.clone(), key).or(table_line);
    check_name(&src.name, key_line("name"), "source", names, problems);
    match Url::parse(&src.url) {
        Ok(u) if u.scheme() == "http" || u.scheme() == "https" => {}
        Ok(u) => problems.push(Problem {
            line: key_line("url"),
            message: format!(
                "source {:?}: scheme {:?} is not fetched",
                src.name,
                u.scheme()
            ),
            hint: Some("use an http:// or https:// URL".into()),
        }),
        Err(e) => problems.push(Problem {
            line: key_line("url"),
            message: format!("source {:?}: url {:?} is not valid: {e}", src.name, src.url),
            hint: Some("write the full address, e.g. https://www.comune.example.it/feed/".into()),
        }),
    }
    if src.every.is_some() && src.cron.is_some() {
        problems.push(Problem {
            line: key_line("cron"),
            message: format!("source {:?} has both every and cron", src.name),
            hint: Some("keep one of them".into()),
        });
    }
    if let Some(every) = src.every {
        if every < Duration::from_secs(1) || every > Duration::from_secs(365 * 86_400) {
            problems.push(Problem {
                line: key_line("every"),
                message: format!("source {:?}: every must be between 1s and 365d", src.name),
                hint: None,
            });
        }
    }
    if src
        .timeout
        .is_some_and(|t| t.is_zero() || t > Duration::from_secs(3600))
    {
        problems.push(Problem {
            line: key_line("timeout"),
            message: format!(
                "source {:?}: timeout must be more than 0 and at most 1h",
                src.name
            ),
            hint: None,
        });
    }
    if let Some(expr) = &src.cron {
        if let Err(e) = Schedule::parse_cron(expr) {
            problems.push(Problem {
                line: key_line("cron"),
                message: format!("source {:?}: cron {expr:?} is not valid: {e}", src.name),
                hint: Some(
                    "six fields: second minute hour day-of-month month day-of-week, e.g. \"0 */5 * * * *\""
                        .into(),
                ),
            });
        }
    }
    for (key, patterns) in [("include", &src.include), ("exclude", &src.exclude)] {
        for p in patterns {
            if let Err(e) = regex::Regex::new(p) {
                problems.push(Problem {
                    line: key_line(key),
                    message: format!("source {:?}: {key} pattern {p:?} is not valid", src.name),
                    hint: Some(e.to_string().lines().last().unwrap_or_default().to_owned()),
                });
            }
        }
    }
    let only_for = |key: &str, set: bool, kinds: &[SourceKind], problems: &mut Vec<Problem>| {
        if set && !kinds.contains(&src.kind) {
            let names: Vec<&str> = kinds.iter().map(|k| k.as_str()).collect();
            problems.push(Problem {
                line: key_line(key),
                message: format!(
                    "source {:?}: {key} applies to kind {} only",
                    src.name,
                    names.join(" or ")
                ),
                hint: Some(format!("this source is kind = \"{}\"", src.kind.as_str())),
            });
        }
    };
    only_for(
        "preset",
        src.preset.is_some(),
        &[SourceKind::Page],
        problems,
    );
    only_for(
        "selectors",
        src.selectors.is_some(),
        &[SourceKind::Page],
        problems,
    );
    only_for(
        "geocodes",
        !src.geocodes.is_empty(),
        &[SourceKind::Cap],
        problems,
    );
    only_for(
        "min_severity",
        src.min_severity.is_some(),
        &[SourceKind::Cap],
        problems,
    );
    only_for("link", src.link.is_some(), &[SourceKind::Cap], problems);
    only_for(
        "radius_km",
        src.radius_km.is_some(),
        &[SourceKind::Quake],
        problems,
    );
    only_for(
        "min_magnitude",
        src.min_magnitude.is_some(),
        &[SourceKind::Quake],
        problems,
    );
    only_for(
        "max_fetch",
        src.max_fetch.is_some(),
        &[SourceKind::Page, SourceKind::Cap],
        problems,
    );
    if let Some(selectors) = &src.selectors {
        for (name, sel) in [
            ("item", &selectors.item),
            ("link", &selectors.link),
            ("title", &selectors.title),
            ("date", &selectors.date),
            ("summary", &selectors.summary),
            ("image", &selectors.image),
        ] {
            if let Some(sel) = sel {
                if let Err(e) = scraper::Selector::parse(sel) {
                    problems.push(Problem {
                        line: find_value_line(text, lines, span.clone(), sel).or(table_line),
                        message: format!(
                            "source {:?}: selector {name} = {sel:?} is not valid CSS",
                            src.name
                        ),
                        hint: Some(format!("{e:?}").chars().take(160).collect()),
                    });
                }
            }
        }
    }
    for code in &src.geocodes {
        if !code.contains(':') {
            problems.push(Problem {
                line: key_line("geocodes"),
                message: format!("source {:?}: geocode {code:?} has no name", src.name),
                hint: Some("write NAME:VALUE, e.g. \"EMMA_ID:IT003\"".into()),
            });
        }
    }
    if let Some(link) = &src.link {
        if Url::parse(link).is_err() {
            problems.push(Problem {
                line: key_line("link"),
                message: format!("source {:?}: link {link:?} is not a URL", src.name),
                hint: None,
            });
        }
    }
    if let Some(r) = src.radius_km {
        if !(r > 0.0 && r <= 20_000.0) {
            problems.push(Problem {
                line: key_line("radius_km"),
                message: format!("source {:?}: radius_km must be positive", src.name),
                hint: None,
            });
        }
    }
    if src.forward == Forward::Tagged && src.tags.is_empty() {
        problems.push(Problem {
            line: key_line("forward"),
            message: format!("source {:?}: forward = \"tagged\" but no tags", src.name),
            hint: Some(
                "tags = [\"whatsapp\"]: the CMS category editors set on items to send".into(),
            ),
        });
    }
    if let Some(max) = src.max_chars {
        if !(80..=3000).contains(&max) {
            problems.push(Problem {
                line: key_line("max_chars"),
                message: format!("source {:?}: max_chars {max} is out of range", src.name),
                hint: Some("between 80 and 3000; WhatsApp messages stay short".into()),
            });
        }
    }
}

fn check_sink(
    text: &str,
    lines: &LineIndex,
    span: std::ops::Range<usize>,
    sink: &SinkConfig,
    problems: &mut Vec<Problem>,
) {
    let table_line = Some(lines.line_of(span.start));
    let key_line = |key: &str| find_key_line(text, lines, span.clone(), key).or(table_line);
    let kind = sink.kind.as_str();
    let mut need = |key: &str, present: bool, example: &str| {
        if !present {
            problems.push(Problem {
                line: table_line,
                message: format!("{kind} sink {:?} needs {key}", sink.name),
                hint: Some(example.to_owned()),
            });
        }
    };
    let allowed: &[&str] = match sink.kind {
        SinkKind::Console => &[],
        SinkKind::File => {
            need(
                "path",
                sink.path.is_some(),
                "path = \"data/messages.jsonl\"",
            );
            &["path"]
        }
        SinkKind::WhatsappCloud => {
            need(
                "phone_number_id",
                sink.phone_number_id.is_some(),
                "phone_number_id = \"123456789012345\"",
            );
            need(
                "token_env",
                sink.token_env.is_some(),
                "token_env = \"WHATSAPP_TOKEN\" (the token itself stays in the environment)",
            );
            need(
                "app_secret_env",
                sink.app_secret_env.is_some(),
                "app_secret_env = \"WHATSAPP_APP_SECRET\" (verifies webhook signatures)",
            );
            need(
                "verify_token_env",
                sink.verify_token_env.is_some(),
                "verify_token_env = \"WHATSAPP_VERIFY_TOKEN\"",
            );
            &[
                "api_base",
                "api_version",
                "phone_number_id",
                "token_env",
                "app_secret_env",
                "verify_token_env",
                "template",
                "messages_per_second",
                "timeout",
            ]
        }
        SinkKind::WhatsappGateway => {
            need(
                "api_base",
                sink.api_base.is_some(),
                "api_base = \"http://127.0.0.1:3000\"",
            );
            need(
                "chat_id",
                sink.chat_id.is_some(),
                "chat_id = \"120363000000000000@newsletter\"",
            );
            &[
                "api_base",
                "session",
                "chat_id",
                "api_key_env",
                "hmac_key_env",
                "timeout",
            ]
        }
        SinkKind::Webhook => {
            need(
                "url",
                sink.url.is_some(),
                "url = \"https://automation.example.it/hook\"",
            );
            need(
                "secret_env",
                sink.secret_env.is_some(),
                "secret_env = \"WEBHOOK_SECRET\"",
            );
            &["url", "secret_env", "timeout"]
        }
    };
    let set: [(&str, bool); 16] = [
        ("hmac_key_env", sink.hmac_key_env.is_some()),
        ("path", sink.path.is_some()),
        ("api_base", sink.api_base.is_some()),
        ("api_version", sink.api_version.is_some()),
        ("phone_number_id", sink.phone_number_id.is_some()),
        ("token_env", sink.token_env.is_some()),
        ("app_secret_env", sink.app_secret_env.is_some()),
        ("verify_token_env", sink.verify_token_env.is_some()),
        ("template", sink.template.is_some()),
        ("messages_per_second", sink.messages_per_second.is_some()),
        ("session", sink.session.is_some()),
        ("chat_id", sink.chat_id.is_some()),
        ("api_key_env", sink.api_key_env.is_some()),
        ("url", sink.url.is_some()),
        ("secret_env", sink.secret_env.is_some()),
        ("timeout", sink.timeout.is_some()),
    ];
    for (key, present) in set {
        if present && !allowed.contains(&key) {
            problems.push(Problem {
                line: key_line(key),
                message: format!("{key} does not apply to a {kind} sink"),
                hint: None,
            });
        }
    }
    if let Some(mps) = sink.messages_per_second {
        if mps == 0 || mps > MAX_MESSAGES_PER_SECOND {
            problems.push(Problem {
                line: key_line("messages_per_second"),
                message: format!(
                    "messages_per_second must be between 1 and {MAX_MESSAGES_PER_SECOND}"
                ),
                hint: Some("Meta allows at most 80 messages per second per phone number".into()),
            });
        }
    }
    for (key, value) in [("api_base", &sink.api_base), ("url", &sink.url)] {
        if let Some(v) = value {
            if !Url::parse(v).is_ok_and(|u| matches!(u.scheme(), "http" | "https")) {
                problems.push(Problem {
                    line: key_line(key),
                    message: format!("{key} {v:?} is not an http(s) URL"),
                    hint: None,
                });
            }
        }
    }
    for (key, var) in [
        ("token_env", &sink.token_env),
        ("app_secret_env", &sink.app_secret_env),
        ("verify_token_env", &sink.verify_token_env),
        ("api_key_env", &sink.api_key_env),
        ("hmac_key_env", &sink.hmac_key_env),
        ("secret_env", &sink.secret_env),
    ] {
        if let Some(var) = var {
            if !var.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') || var.is_empty() {
                problems.push(Problem {
                    line: key_line(key),
                    message: format!("{key} must name an environment variable, not hold a secret"),
                    hint: Some(
                        "e.g. token_env = \"WHATSAPP_TOKEN\", then export WHATSAPP_TOKEN=…".into(),
                    ),
                });
            }
        }
    }
}

/// Turns a serde error inside one table into a problem on the right line.
fn table_problem(
    text: &str,
    lines: &LineIndex,
    span: std::ops::Range<usize>,
    what: &str,
    err: &toml::de::Error,
) -> Problem {
    let message = err.message().trim().to_string();
    // serde names the offending key (or value) in backticks: "unknown field `evry`, expected …",
    // "unknown variant `fed`, expected …". Find the first one that is a key or a quoted value.
    // Our own errors quote the offending value instead: "\"5 minuti\" is not a duration".
    let first_token = message.split('`').nth(1).unwrap_or_default();
    let first_quoted = message.split('"').nth(1).unwrap_or_default();
    let line = find_key_line(text, lines, span.clone(), first_token)
        .or_else(|| find_value_line(text, lines, span.clone(), first_token))
        .or_else(|| find_value_line(text, lines, span.clone(), first_quoted))
        .unwrap_or_else(|| lines.line_of(span.start));
    let hint = if message.starts_with("unknown field") {
        Some(
            "check the spelling; the keys each table takes are listed in docs/configuration.md"
                .into(),
        )
    } else if message.starts_with("missing field") {
        Some(format!("every [[{what}]] needs it"))
    } else if message.contains("unknown variant") {
        Some("the accepted values are listed after \"expected\"".into())
    } else {
        None
    };
    Problem {
        line: Some(line),
        message: format!("[[{what}]]: {message}"),
        hint,
    }
}

fn top_level_hint(message: &str) -> Option<String> {
    if message.contains("unknown field") {
        Some("the top level takes [settings], [[source]] and [[sink]]".into())
    } else {
        None
    }
}

/// Line of `key = …` inside a byte range of the file.
fn find_key_line(
    text: &str,
    lines: &LineIndex,
    span: std::ops::Range<usize>,
    key: &str,
) -> Option<usize> {
    if key.is_empty() || key.contains(char::is_whitespace) {
        return None;
    }
    let start = span.start.min(text.len());
    let end = span.end.min(text.len());
    let region = text.get(start..end)?;
    let mut offset = 0;
    for line in region.split_inclusive('\n') {
        let trimmed = line.trim_start();
        if let Some(rest) = trimmed.strip_prefix(key) {
            if rest.trim_start().starts_with('=') {
                return Some(lines.line_of(start + offset));
            }
        }
        offset += line.len();
    }
    None
}

/// Line of the quoted value `"value"` inside a byte range of the file.
fn find_value_line(
    text: &str,
    lines: &LineIndex,
    span: std::ops::Range<usize>,
    value: &str,
) -> Option<usize> {
    if value.is_empty() {
        return None;
    }
    let start = span.start.min(text.len());
    let region = text.get(start..span.end.min(text.len()))?;
    let quoted = format!("\"{value}\"");
    region.find(&quoted).map(|i| lines.line_of(start + i))
}

/// Byte offset to 1-based line number.
struct LineIndex {
    starts: Vec<usize>,
}

impl LineIndex {
    fn new(text: &str) -> Self {
        let mut starts = vec![0];
        starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        LineIndex { starts }
    }

    fn line_of(&self, offset: usize) -> usize {
        match self.starts.binary_search(&offset) {
            Ok(i) => i + 1,
            Err(i) => i,
        }
    }
}

/// Durations written the human way: "30s", "5m", "1h30m", "2d".
mod humantime_serde_compat {
    use serde::{Deserialize, Deserializer};
    use std::time::Duration;

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let s = String::deserialize(d)?;
        parse(&s).map_err(serde::de::Error::custom)
    }

    pub fn parse(s: &str) -> Result<Duration, String> {
        humantime::parse_duration(s.trim()).map_err(|e| {
            format!("{s:?} is not a duration ({e}); write e.g. \"30s\", \"5m\", \"1h\" or \"2d\"")
        })
    }

    pub mod option {
        use super::*;
        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
            let s = String::deserialize(d)?;
            parse(&s).map(Some).map_err(serde::de::Error::custom)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
[settings]
timezone = "Europe/Rome"

[[source]]
name = "comune-notizie"
kind = "feed"
url = "https://www.comune.example.it/feed/"
every = "5m"

[[sink]]
name = "log"
kind = "file"
path = "data/messages.jsonl"
"#;

    #[test]
    fn accepts_the_contract_example() {
        let cfg = Config::parse(GOOD).expect("valid");
        assert_eq!(cfg.sources.len(), 1);
        assert_eq!(cfg.sources[0].every, Some(Duration::from_secs(300)));
        assert_eq!(cfg.sinks[0].kind, SinkKind::File);
    }

    #[test]
    fn lists_every_problem_with_its_line() {
        let text = r#"
[[source]]
name = "a"
kind = "feed"
url = "https://a.example/feed"
evry = "5m"

[[source]]
name = "b"
kind = "feed"
url = "not a url"

[[source]]
name = "b"
kind = "feed"
url = "https://b.example/"
cron = "every tuesday"

[[source]]
name = "Bad_Name"
kind = "feed"
url = "https://c.example/"

[[sink]]
name = "log"
kind = "file"
"#;
        let problems = Config::parse(text).unwrap_err();
        let lines: Vec<_> = problems.iter().map(|p| p.line).collect();
        let msgs: Vec<_> = problems.iter().map(|p| p.message.as_str()).collect();
        assert!(msgs[0].contains("unknown field `evry`"), "{msgs:?}");
        assert_eq!(lines[0], Some(6));
        assert!(msgs.iter().any(|m| m.contains("used twice")), "{msgs:?}");
        assert!(msgs
            .iter()
            .any(|m| m.contains("not valid") && m.contains("not a url")));
        assert!(msgs.iter().any(|m| m.contains("Bad_Name")));
        assert!(msgs.iter().any(|m| m.contains("cron")));
        assert!(
            msgs.iter()
                .any(|m| m.contains("file sink \"log\" needs path")),
            "{msgs:?}"
        );
        assert!(problems.len() >= 6, "{problems:#?}");
    }

    #[test]
    fn absurd_durations_are_refused() {
        let text = "[settings]\nmax_backoff = \"100000000d\"\n[[source]]\nname = \"a\"\nkind = \"feed\"\nurl = \"https://a.example/\"\nevery = \"9999999d\"\n[[sink]]\nname = \"c\"\nkind = \"console\"\n";
        let problems = Config::parse(text).unwrap_err();
        assert!(
            problems
                .iter()
                .any(|p| p.message.starts_with("max_backoff")),
            "{problems:?}"
        );
        assert!(
            problems
                .iter()
                .any(|p| p.message.contains("every must be between")),
            "{problems:?}"
        );
    }

    #[test]
    fn syntax_errors_have_a_line() {
        let problems = Config::parse("[settings]\ntimezone = \n").unwrap_err();
        assert_eq!(problems[0].line, Some(2));
    }

    #[test]
    fn unknown_kind_is_named() {
        let text = "[[source]]\nname = \"x\"\nkind = \"fed\"\nurl = \"https://x.example/\"\n";
        let problems = Config::parse(text).unwrap_err();
        assert!(
            problems[0].message.contains("unknown variant `fed`"),
            "{problems:?}"
        );
        assert_eq!(problems[0].line, Some(3));
    }
}
