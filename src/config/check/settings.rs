//! `[settings]`, checked.

use std::net::IpAddr;
use std::str::FromStr;
use std::time::Duration;

use super::{Table, DAY};
use crate::config::raw::RawSettings;
use crate::config::{AlertSettings, PublicSettings, Settings};
use crate::schedule::QuietHours;

/// The settings, each checked; defaults for what is missing or wrong (with a problem).
pub(super) fn settings(raw: RawSettings, t: &mut Table) -> Settings {
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
    let flood_threshold = at_least_one("flood_threshold", raw.flood_threshold, d.flood_threshold);
    let alert_outbox = at_least_one("alert_outbox", raw.alert_outbox, d.alerts.outbox);
    // Below this no feed fits, and every poll would fail as "too large".
    const MIN_BODY: usize = 16 * 1024;
    if (1..MIN_BODY).contains(&max_body) {
        t.problem(
            "max_body_bytes",
            format!("max_body_bytes = {max_body} is too small for any feed (at least {MIN_BODY})"),
            Some("max_body_bytes = 10485760 (10 MB, the default)"),
        );
    }
    for (key, value) in [
        ("admin_listen", &raw.admin_listen),
        ("webhook_listen", &raw.webhook_listen),
        ("metrics_listen", &raw.metrics_listen),
        ("public_listen", &raw.public_listen),
    ] {
        if let Some(v) = value {
            if v.trim().parse::<std::net::SocketAddr>().is_err() {
                t.problem(
                    key,
                    format!("{key} = {v:?} is not an address and port"),
                    Some(&format!(
                        "{key} = \"127.0.0.1:8080\" (an IP address, a colon, a port)"
                    )),
                );
            }
        }
    }
    let quiet_hours = match raw.quiet_hours.as_deref().map(str::trim) {
        None => d.quiet_hours,
        Some("off") => None,
        Some(q) => match q.parse::<QuietHours>() {
            Ok(q) => Some(q),
            Err(e) => {
                t.problem(
                    "quiet_hours",
                    format!("quiet_hours {q:?}: {e}"),
                    Some("quiet_hours = \"21:00-07:30\", or \"off\""),
                );
                d.quiet_hours
            }
        },
    };
    let digest_at = match raw.digest_at.as_deref().map(str::trim) {
        None => d.digest_at,
        Some(at) => chrono::NaiveTime::parse_from_str(at, "%H:%M").unwrap_or_else(|_| {
            t.problem(
                "digest_at",
                format!("digest_at {at:?} is not a time"),
                Some("digest_at = \"18:00\""),
            );
            d.digest_at
        }),
    };
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
        flood_threshold,
        max_per_day: match raw.max_per_day {
            Some(0) | None => None,
            Some(n) => Some(n),
        },
        digest_at,
        location: raw.location,
        webhook_listen: raw.webhook_listen,
        metrics_listen: raw.metrics_listen,
        public_listen: raw.public_listen,
        public: public(raw.public, t),
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
        trusted_proxies: trusted_proxies(raw.trusted_proxies, t),
        alerts: AlertSettings {
            sinks: raw.alerts.unwrap_or_default(),
            after_failures: match raw.alert_after_failures {
                Some(0) => {
                    t.problem(
                        "alert_after_failures",
                        "alert_after_failures must be at least 1",
                        None,
                    );
                    d.alerts.after_failures
                }
                n => n.unwrap_or(d.alerts.after_failures),
            },
            outbox: alert_outbox,
        },
    }
}

/// `public = { … }`: links must be https (a citizen's phone opens them), the number a number.
fn public(raw: Option<crate::config::raw::RawPublic>, t: &mut Table) -> PublicSettings {
    let raw = raw.unwrap_or_default();
    let d = PublicSettings::default();
    let mut link = |key: &str, value: Option<String>| {
        let value = value?;
        match url::Url::parse(value.trim()) {
            Ok(u) if u.scheme() == "https" => Some(u),
            _ => {
                t.problem(
                    "public",
                    format!("public.{key} = {value:?} is not an https address"),
                    Some("public = { channel_url = \"https://whatsapp.com/channel/…\" }"),
                );
                None
            }
        }
    };
    let channel_url = link("channel_url", raw.channel_url);
    let privacy_url = link("privacy_url", raw.privacy_url);
    let site_url = link("site_url", raw.site_url);
    let url = link("url", raw.url).filter(|u| {
        let root = u.path() == "/" && u.query().is_none();
        if !root {
            t.problem(
                "public",
                format!("public.url = {:?}: the citizens' page is served at the root of its address", u.as_str()),
                Some("public = { url = \"https://avvisi.comune.example.it/\" } (a host of its own, or the proxy maps it to the root)"),
            );
        }
        root
    });
    let whatsapp_number = raw.whatsapp_number.and_then(|n| {
        let phone = crate::phone::Phone::parse(&n);
        if phone.is_none() {
            t.problem(
                "public",
                format!("public.whatsapp_number = {n:?} is not a phone number"),
                Some("whatsapp_number = \"+39 0372 000000\" (the number citizens write ISCRIVIMI to)"),
            );
        }
        phone
    });
    PublicSettings {
        name: raw
            .name
            .map(|n| n.trim().to_owned())
            .filter(|n| !n.is_empty())
            .unwrap_or(d.name),
        channel_url,
        privacy_url,
        whatsapp_number,
        site_url,
        url,
        logo: raw.logo.map(std::path::PathBuf::from),
        min_age: raw.min_age.filter(|a| *a > 0),
        signup: raw.signup.and_then(|s| {
            let sink = s.sink.filter(|n| !n.trim().is_empty());
            match (sink, s.template) {
                (Some(sink), Some(template)) => Some(crate::config::SignupSettings {
                    sink,
                    template,
                    per_day: s.per_day.filter(|n| *n > 0).unwrap_or(100),
                }),
                _ => {
                    t.problem(
                        "public",
                        "public.signup needs the Cloud API sink that sends the confirmation and its template",
                        Some("signup = { sink = \"whatsapp\", template = { name = \"conferma_iscrizione\", language = \"it\" } }"),
                    );
                    None
                }
            }
        }),
    }
}

/// `trusted_proxies`: addresses (`"127.0.0.1"`, `"::1"`) or networks (`"10.0.0.0/8"`; bits
/// after the prefix are ignored, as in `"10.1.2.3/8"`).
fn trusted_proxies(raw: Option<Vec<String>>, t: &mut Table) -> Vec<ipnet::IpNet> {
    let mut nets = Vec::new();
    for entry in raw.unwrap_or_default() {
        let text = entry.trim();
        let net = match text.parse::<IpAddr>() {
            // An IPv4 address written the IPv6 way matches its IPv4 clients.
            Ok(ip) => Ok(ipnet::IpNet::from(ip.to_canonical())),
            Err(_) => text.parse::<ipnet::IpNet>().map(|n| n.trunc()),
        };
        match net {
            Ok(net) => nets.push(net),
            Err(_) => t.problem(
                "trusted_proxies",
                format!("trusted_proxies: {entry:?} is neither an IP address nor a network"),
                Some("e.g. trusted_proxies = [\"127.0.0.1\", \"::1\", \"10.0.0.0/8\"]"),
            ),
        }
    }
    nets
}
