//! The tables as written: every key optional, so that each key can be read on its own and a
//! wrong type in one key hides nothing else (see [`read_table`]).

use std::collections::HashSet;

use serde::de::DeserializeOwned;
use serde::Deserialize;

use super::problem::{humanize, Lines, Problem};
use super::{
    Corrections, Forward, Location, Preset, Priority, Role, Selectors, Severity, SourceKind,
    Template,
};

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSettings {
    pub timezone: Option<String>,
    pub admin_listen: Option<String>,
    pub user_agent: Option<String>,
    pub connect_timeout: Option<String>,
    pub fetch_timeout: Option<String>,
    pub max_body_bytes: Option<usize>,
    pub concurrency: Option<usize>,
    pub per_host_concurrency: Option<usize>,
    pub seen_max_age: Option<String>,
    pub cache_mb: Option<u64>,
    pub max_backoff: Option<String>,
    pub max_new_per_poll: Option<usize>,
    pub flood_threshold: Option<usize>,
    pub max_per_day: Option<usize>,
    pub digest_at: Option<String>,
    pub location: Option<Location>,
    pub webhook_listen: Option<String>,
    pub metrics_listen: Option<String>,
    pub public_listen: Option<String>,
    pub public: Option<RawPublic>,
    pub quiet_hours: Option<String>,
    pub review_expiry: Option<String>,
    pub admin_secure_cookies: Option<bool>,
    pub allow_private_sources: Option<bool>,
    pub trusted_proxies: Option<Vec<String>>,
    pub alerts: Option<Vec<String>>,
    pub alert_after_failures: Option<u32>,
    pub alert_outbox: Option<usize>,
}

/// `public = { … }`: the citizens' page.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPublic {
    pub name: Option<String>,
    pub channel_url: Option<String>,
    pub privacy_url: Option<String>,
    pub whatsapp_number: Option<String>,
    pub site_url: Option<String>,
    pub url: Option<String>,
    pub logo: Option<String>,
    pub signup: Option<RawSignup>,
    pub min_age: Option<u8>,
}

/// `public.signup = { sink, template, per_day }`: sign-up from the page, double opt-in.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSignup {
    pub sink: Option<String>,
    pub template: Option<Template>,
    pub per_day: Option<usize>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSource {
    pub name: Option<String>,
    pub kind: Option<SourceKind>,
    pub url: Option<String>,
    pub every: Option<String>,
    pub cron: Option<String>,
    pub timeout: Option<String>,
    pub forward: Option<Forward>,
    pub tags: Option<Vec<String>>,
    pub include: Option<Vec<String>>,
    pub exclude: Option<Vec<String>>,
    pub max_chars: Option<usize>,
    pub footer: Option<String>,
    pub priority: Option<Priority>,
    pub preset: Option<Preset>,
    pub selectors: Option<Selectors>,
    pub max_fetch: Option<usize>,
    pub geocodes: Option<Vec<String>>,
    pub min_severity: Option<Severity>,
    pub link: Option<String>,
    pub radius_km: Option<f64>,
    pub min_magnitude: Option<f64>,
    pub review_urgent: Option<bool>,
    pub max_age: Option<String>,
    pub corrections: Option<Corrections>,
    pub prefix: Option<String>,
    pub tag_prefix: Option<std::collections::BTreeMap<String, String>>,
    pub label: Option<String>,
    pub show_date: Option<bool>,
    pub urgent_magnitude: Option<f64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSink {
    pub name: Option<String>,
    pub kind: Option<String>,
    pub path: Option<String>,
    pub api_base: Option<String>,
    pub api_version: Option<String>,
    pub phone_number_id: Option<String>,
    pub token_env: Option<String>,
    pub app_secret_env: Option<String>,
    pub verify_token_env: Option<String>,
    pub template: Option<Template>,
    pub messages_per_second: Option<u32>,
    pub admins: Option<Vec<String>>,
    pub session: Option<String>,
    pub chat_id: Option<String>,
    pub api_key_env: Option<String>,
    pub hmac_key_env: Option<String>,
    pub url: Option<String>,
    pub secret_env: Option<String>,
    pub visibility: Option<String>,
    pub urgent_content_warning: Option<bool>,
    pub smtp: Option<String>,
    pub smtp_host: Option<String>,
    pub smtp_port: Option<u16>,
    pub tls: Option<String>,
    pub username_env: Option<String>,
    pub password_env: Option<String>,
    pub from: Option<String>,
    pub to: Option<Vec<String>>,
    pub bcc: Option<Vec<String>>,
    pub list_unsubscribe: Option<String>,
    pub digest: Option<String>,
    pub timeout: Option<String>,
    pub only_priority: Option<Priority>,
    pub tags: Option<Vec<String>>,
    pub topics: Option<Vec<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawUser {
    pub name: Option<String>,
    pub role: Option<Role>,
    pub password_hash: Option<String>,
    pub disabled: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTopic {
    pub name: Option<String>,
    pub label: Option<String>,
    pub keywords: Option<Vec<String>>,
    pub sources: Option<Vec<String>>,
    pub tags: Option<Vec<String>>,
    pub urgent: Option<bool>,
    pub default: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawZone {
    pub name: Option<String>,
    pub label: Option<String>,
    pub words: Option<Vec<String>>,
}

/// The file's shape: which tables there are, each kept whole with its place in the file.
#[derive(Deserialize)]
pub struct RawConfig {
    /// Read by `config::include` before the check: here only so that it is a known key.
    #[serde(default, rename = "include")]
    pub _include: serde::de::IgnoredAny,
    pub settings: Option<toml::Spanned<toml::Table>>,
    #[serde(default)]
    pub source: Vec<toml::Spanned<toml::Table>>,
    #[serde(default)]
    pub sink: Vec<toml::Spanned<toml::Table>>,
    #[serde(default)]
    pub user: Vec<toml::Spanned<toml::Table>>,
    #[serde(default)]
    pub topic: Vec<toml::Spanned<toml::Table>>,
    #[serde(default)]
    pub zone: Vec<toml::Spanned<toml::Table>>,
}

/// The top-level keys of the file.
pub const TOP_LEVEL: [&str; 7] = [
    "include", "settings", "source", "sink", "user", "topic", "zone",
];

/// Reads a table key by key: a key whose value has the wrong type (or a key the table does
/// not take) is a problem on that key's line, and the rest of the table is still read.
/// Returns the table and the keys that were given but could not be read.
pub fn read_table<T: DeserializeOwned + Default>(
    table: toml::Table,
    span: std::ops::Range<usize>,
    what: &str,
    lines: &Lines,
    problems: &mut Vec<Problem>,
) -> (T, HashSet<String>) {
    let mut good = toml::Table::new();
    let mut bad = HashSet::new();
    for (key, value) in table {
        let mut one = toml::Table::new();
        one.insert(key.clone(), value.clone());
        match T::deserialize(toml::Value::Table(one)) {
            Ok(_) => {
                good.insert(key, value);
            }
            Err(e) => {
                bad.insert(key.clone());
                let (message, hint) = match key.as_str() {
                    "location" => (
                        "must be a point on the map".to_owned(),
                        Some("location = { lat = 45.133, lon = 10.027 } (degrees)".to_owned()),
                    ),
                    _ => humanize(e.message()),
                };
                problems.push(Problem {
                    line: lines.key(span.clone(), &key),
                    message: format!("{what}: {key} {message}"),
                    hint,
                })
            }
        }
    }
    // Every key was read alone; together they cannot fail.
    (
        T::deserialize(toml::Value::Table(good)).unwrap_or_default(),
        bad,
    )
}

/// How a table is named in messages: by its `name` when it has one.
pub fn table_name(table: &toml::Table, what: &str, index: usize) -> String {
    match table.get("name").and_then(|n| n.as_str()) {
        Some(name) => format!("{what} {name:?}"),
        None => format!("[[{what}]] #{index}"),
    }
}
