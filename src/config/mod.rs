//! Configuration: `sources.toml`, parsed once into typed values.
//!
//! Loading never stops at the first mistake: every key of every table is read on its own
//! (`raw`), then checked for meaning and turned into the types below (`check`): URLs are
//! `Url`s, the timezone a `Tz`, schedules, quiet hours, regexes and CSS selectors are parsed or
//! compiled, each sink is a struct of its kind. Every problem is reported with the line of its
//! key and words an administrator understands (`problem`). `banditore check` prints them all,
//! and the warnings; every other command refuses to start on an invalid file.

mod check;
mod choices;
pub mod file;
mod include;
mod problem;
mod raw;
mod secrets;
mod settings;
mod sinks;
pub mod topics;
pub mod words;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use regex::Regex;
use serde::Deserialize;
use url::Url;

use crate::schedule::{QuietHours, Schedule};

pub use choices::{Corrections, Forward, MessageTemplate};
pub use problem::{ConfigError, Problem};
pub use secrets::{secret_from_env, why_no_secret};
pub use settings::{AlertSettings, PublicSettings, Settings, SignupSettings};
pub use sinks::*;
pub use topics::{Audience, Topic, Zone};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SourceKind {
    /// RSS, Atom or JSON Feed.
    Feed,
    /// A press-release listing page read with CSS selectors.
    Page,
    /// A CAP alert, or an Atom/RSS index of CAP alerts.
    Cap,
    /// The INGV FDSN event service, or INGV's Atom feed of earthquakes.
    Quake,
}

impl SourceKind {
    /// The kind named `name` (as in the configuration).
    pub fn parse(name: &str) -> Option<SourceKind> {
        [
            SourceKind::Feed,
            SourceKind::Page,
            SourceKind::Cap,
            SourceKind::Quake,
        ]
        .into_iter()
        .find(|k| k.as_str() == name)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            SourceKind::Feed => "feed",
            SourceKind::Page => "page",
            SourceKind::Cap => "cap",
            SourceKind::Quake => "quake",
        }
    }

    /// Emergency sources poll every minute unless told otherwise.
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

impl Preset {
    pub fn as_str(self) -> &'static str {
        match self {
            Preset::DesignComuni => "design-comuni",
            Preset::Wordpress => "wordpress",
            Preset::Auto => "auto",
        }
    }
}

/// CSS selectors for a listing page; each is optional and overrides the preset's. Every one
/// was checked to be valid CSS when the configuration was loaded.
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

impl Selectors {
    /// (name, selector) for every selector given.
    pub fn given(&self) -> impl Iterator<Item = (&'static str, &str)> {
        [
            ("item", &self.item),
            ("link", &self.link),
            ("title", &self.title),
            ("date", &self.date),
            ("summary", &self.summary),
            ("image", &self.image),
        ]
        .into_iter()
        .filter_map(|(name, s)| s.as_deref().map(|s| (name, s)))
    }
}

/// CAP severities, in order.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default, Deserialize, serde::Serialize,
)]
pub enum Severity {
    #[serde(alias = "unknown")]
    Unknown,
    #[serde(alias = "minor")]
    Minor,
    #[default]
    #[serde(alias = "moderate")]
    Moderate,
    #[serde(alias = "severe")]
    Severe,
    #[serde(alias = "extreme")]
    Extreme,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Priority {
    #[default]
    Normal,
    Urgent,
}

/// What a source of each kind takes beyond the common keys.
#[derive(Debug, Clone)]
pub enum KindSettings {
    Feed,
    Page {
        preset: Preset,
        selectors: Selectors,
        /// Most articles read in one poll.
        max_fetch: usize,
    },
    Cap {
        /// Alerts whose area carries one of these geocodes (name, value), e.g.
        /// ("EMMA_ID", "IT003").
        geocodes: Vec<(String, String)>,
        min_severity: Severity,
        /// The official page to link when an alert has no `<web>`.
        link: Option<Url>,
        /// Most CAP documents of an index fetched in one poll.
        max_fetch: usize,
    },
    Quake {
        /// Distance from `settings.location`.
        radius_km: f64,
        min_magnitude: f64,
        /// At or above: urgent; below (and at least `min_magnitude`): normal.
        urgent_magnitude: f64,
    },
}

/// A `[[source]]`, checked.
#[derive(Debug, Clone)]
pub struct SourceConfig {
    pub name: String,
    pub url: Url,
    pub schedule: Schedule,
    pub timeout: Option<Duration>,
    pub forward: Forward,
    pub tags: Vec<String>,
    pub include: Vec<Regex>,
    pub exclude: Vec<Regex>,
    pub max_chars: Option<usize>,
    pub footer: Option<String>,
    /// Overrides the priority of every item of the source.
    pub priority: Option<Priority>,
    /// With `forward = "review"`: urgent items wait for review too (by default they skip it).
    pub review_urgent: bool,
    /// First seen longer than this after its publication: recorded, not sent (`None`: no limit).
    pub max_age: Option<Duration>,
    /// Material changes to a sent item (feeds only: a page's listing is not its article).
    pub corrections: Corrections,
    /// The editor's template: what goes around every message of the source.
    pub template: MessageTemplate,
    pub settings: KindSettings,
}

/// Quiet hours unless the configuration says otherwise: 21:00–07:30 local time.
pub const DEFAULT_QUIET_HOURS: QuietHours = QuietHours {
    start: match chrono::NaiveTime::from_hms_opt(21, 0, 0) {
        Some(t) => t,
        None => chrono::NaiveTime::MIN,
    },
    end: match chrono::NaiveTime::from_hms_opt(7, 30, 0) {
        Some(t) => t,
        None => chrono::NaiveTime::MIN,
    },
};
/// An item first seen longer than this after its publication is not sent.
pub const DEFAULT_MAX_AGE: Duration = Duration::from_secs(3 * 86_400);
/// Earthquakes at or above this magnitude (within the radius) are urgent.
pub const DEFAULT_URGENT_MAGNITUDE: f64 = 4.0;

/// How often a source without `every` or `cron` is polled.
pub const DEFAULT_EVERY: Duration = Duration::from_secs(300);
/// How often an emergency source without `every` or `cron` is polled: with 10% of jitter an
/// alert waits at most 22 s for its poll (the fast path promises 30 s; `bench --alerts`).
pub const DEFAULT_EMERGENCY_EVERY: Duration = Duration::from_secs(20);
/// The longest wait between retries of a failing emergency source, whatever `max_backoff`.
pub const EMERGENCY_MAX_BACKOFF: Duration = Duration::from_secs(120);
/// Most documents (articles, CAP alerts) a source fetches in one poll, unless told otherwise.
pub const DEFAULT_MAX_FETCH: usize = 10;

impl SourceConfig {
    /// A source of `kind` with every option at its default: the preview of a document that
    /// no configured source names.
    pub fn adhoc(name: &str, kind: SourceKind, url: Url) -> SourceConfig {
        SourceConfig {
            name: name.to_owned(),
            url,
            schedule: Schedule::Every(DEFAULT_EVERY),
            timeout: None,
            forward: Forward::default(),
            tags: Vec::new(),
            include: Vec::new(),
            exclude: Vec::new(),
            max_chars: None,
            footer: None,
            priority: None,
            review_urgent: false,
            max_age: Some(DEFAULT_MAX_AGE),
            corrections: Corrections::default(),
            template: MessageTemplate::default(),
            settings: KindSettings::default_for(kind),
        }
    }

    pub fn kind(&self) -> SourceKind {
        match self.settings {
            KindSettings::Feed => SourceKind::Feed,
            KindSettings::Page { .. } => SourceKind::Page,
            KindSettings::Cap { .. } => SourceKind::Cap,
            KindSettings::Quake { .. } => SourceKind::Quake,
        }
    }

    /// The priority of this source's messages unless an item says otherwise: CAP alerts
    /// and earthquakes carry their own (from the severity, from the magnitude); everything
    /// else is normal.
    pub fn default_priority(&self) -> Priority {
        self.priority.unwrap_or_default()
    }

    /// Most documents (articles, CAP alerts) fetched in one poll.
    pub fn max_fetch(&self) -> usize {
        match self.settings {
            KindSettings::Page { max_fetch, .. } | KindSettings::Cap { max_fetch, .. } => max_fetch,
            _ => DEFAULT_MAX_FETCH,
        }
    }
}

impl KindSettings {
    /// A kind's settings with every option at its default.
    pub fn default_for(kind: SourceKind) -> KindSettings {
        match kind {
            SourceKind::Feed => KindSettings::Feed,
            SourceKind::Page => KindSettings::Page {
                preset: Preset::default(),
                selectors: Selectors::default(),
                max_fetch: DEFAULT_MAX_FETCH,
            },
            SourceKind::Cap => KindSettings::Cap {
                geocodes: Vec::new(),
                min_severity: Severity::Moderate,
                link: None,
                max_fetch: DEFAULT_MAX_FETCH,
            },
            SourceKind::Quake => KindSettings::Quake {
                radius_km: 100.0,
                min_magnitude: 3.0,
                urgent_magnitude: DEFAULT_URGENT_MAGNITUDE,
            },
        }
    }
}

/// Meta's throughput ceiling for one phone number: 80 messages a second by default, up to
/// 1,000 once Meta raises the number to its higher tier (set what Meta granted).
pub const MAX_MESSAGES_PER_SECOND: u32 = 1000;

/// Who may use the admin UI.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// The review queue and the sent log.
    Editor,
    /// Everything, sources included.
    Admin,
}

/// A `[[user]]` of the admin UI. The password is stored only as an argon2 hash.
#[derive(Debug, Clone)]
pub struct UserConfig {
    pub name: String,
    pub role: Role,
    /// A PHC string, e.g. from `banditore hash-password`.
    pub password_hash: String,
    /// Cannot log in (kept for the audit trail's names).
    pub disabled: bool,
}

/// A checked configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub settings: Settings,
    pub sources: Vec<Arc<SourceConfig>>,
    pub sinks: Vec<SinkConfig>,
    pub users: Vec<UserConfig>,
    /// The topics and zones citizens may choose.
    pub audience: Audience,
    /// What is allowed but probably not meant (`banditore check` prints these).
    pub warnings: Vec<Problem>,
}

impl Config {
    /// Reads and checks a file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            path: path.to_owned(),
            problems: vec![Problem {
                line: None,
                message: format!("cannot read the configuration: {e}"),
                hint: Some("pass --config FILE or set BANDITORE_CONFIG".into()),
            }],
            warnings: Vec::new(),
        })?;
        Config::parse_at(path, &text)
    }

    /// Checks `text` as the configuration file at `path` would be read: the files it
    /// includes, and file sinks' relative paths, are relative to that file's folder. What
    /// the admin UI and `source add` check before they write.
    pub fn parse_at(path: &Path, text: &str) -> Result<Config, ConfigError> {
        let refused = |problems: Vec<Problem>| ConfigError {
            path: path.to_owned(),
            problems,
            warnings: Vec::new(),
        };
        let included = include::files(path, text).map_err(refused)?;
        let (whole, starts) = include::combined(text, &included).map_err(refused)?;
        let located = |problems: Vec<Problem>| -> Vec<Problem> {
            problems
                .into_iter()
                .map(|p| include::locate(p, &starts))
                .collect()
        };
        let mut config = check::parse(&whole).map_err(|r| ConfigError {
            path: path.to_owned(),
            problems: located(r.problems),
            warnings: located(r.warnings),
        })?;
        config.warnings = located(std::mem::take(&mut config.warnings));
        // A file sink's relative path (and the logo's) is relative to the configuration
        // file, wherever the process was started from.
        let dir = path.parent().unwrap_or(Path::new(""));
        let files = config
            .sinks
            .iter_mut()
            .filter_map(|s| match &mut s.settings {
                SinkSettings::File { path } => Some(path),
                _ => None,
            });
        for path in files.chain(config.settings.public.logo.as_mut()) {
            if path.is_relative() {
                *path = dir.join(&*path);
            }
        }
        Ok(config)
    }

    /// The files a configuration is read from: the file itself and those it includes (for
    /// a watcher of changes).
    pub fn files(path: &Path) -> Vec<PathBuf> {
        let mut files = vec![path.to_owned()];
        if let Ok(text) = std::fs::read_to_string(path) {
            files.extend(include::files(path, &text).unwrap_or_default());
        }
        files
    }

    /// Checks configuration text, returning every problem found.
    pub fn parse(text: &str) -> Result<Config, Vec<Problem>> {
        check::parse(text).map_err(|r| r.problems)
    }

    /// The sinks that carry news: all but those named in `settings.alerts`.
    pub fn news_sinks(&self) -> impl Iterator<Item = &SinkConfig> {
        self.sinks
            .iter()
            .filter(|s| !self.settings.alerts.sinks.contains(&s.name))
    }

    pub fn source(&self, name: &str) -> Option<&SourceConfig> {
        self.sources.iter().find(|s| s.name == name).map(|s| &**s)
    }

    /// Secrets the sinks name that cannot be found (neither the variable, nor `{var}_FILE`,
    /// nor a systemd credential): (sink, key, variable).
    pub fn unset_secrets(&self) -> Vec<(String, &'static str, String)> {
        self.sinks
            .iter()
            .flat_map(|sink| {
                sink.secret_vars()
                    .into_iter()
                    .filter(|(_, var)| secret_from_env(var).is_none())
                    .map(|(key, var)| (sink.name.clone(), key, var.to_owned()))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests;
