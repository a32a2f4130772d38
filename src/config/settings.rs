//! `[settings]`: the process-wide knobs, typed, with their defaults.

use std::time::Duration;

use chrono_tz::Tz;

use super::{Location, DEFAULT_QUIET_HOURS};
use crate::schedule::QuietHours;

/// `[settings]`: process-wide knobs. All have defaults.
#[derive(Debug, Clone)]
pub struct Settings {
    pub timezone: Tz,
    pub admin_listen: Option<String>,
    /// User-Agent sent with every request; a contact URL helps webmasters.
    pub user_agent: Option<String>,
    pub connect_timeout: Duration,
    /// Total time for one fetch (connect, headers and body); a source may override it.
    pub fetch_timeout: Duration,
    /// Largest body accepted, in bytes.
    pub max_body_bytes: usize,
    /// Fetches in flight at once, over all hosts.
    pub concurrency: usize,
    /// Fetches in flight at once to one host.
    pub per_host_concurrency: usize,
    /// Seen keys not met again for this long are forgotten (items still in their feed never are).
    pub seen_max_age: Duration,
    /// sled page cache, in megabytes (sled's own default is 1 GB).
    pub cache_mb: u64,
    /// Longest back-off between retries of a failing source.
    pub max_backoff: Duration,
    /// Most new items one poll of one source may enqueue; the rest are recorded as seen and logged.
    pub max_new_per_poll: usize,
    /// More new items than this in one poll of a source (or most of its feed changing at
    /// once): the batch is held for an admin instead of sent.
    pub flood_threshold: usize,
    /// Most normal messages a day (`None`: no cap); the rest go as one digest at `digest_at`.
    pub max_per_day: Option<usize>,
    /// When the day's digest goes (local time).
    pub digest_at: chrono::NaiveTime,
    /// The comune: CAP areas and earthquake distances are measured from here.
    pub location: Option<Location>,
    /// Public endpoint for provider webhooks (WhatsApp subscriptions and statuses).
    pub webhook_listen: Option<String>,
    /// `/healthz`, `/readyz` and `/metrics` on their own listener (without the admin UI).
    pub metrics_listen: Option<String>,
    /// The citizens' page (subscribe, archive, feeds), on its own listener.
    pub public_listen: Option<String>,
    pub public: PublicSettings,
    /// Normal messages wait until the end; urgent ones go at once. On by default
    /// ([`DEFAULT_QUIET_HOURS`]); `quiet_hours = "off"` is `None`.
    pub quiet_hours: Option<QuietHours>,
    /// Items waiting for review longer than this expire.
    pub review_expiry: Duration,
    /// Mark session cookies `Secure` (set when the admin UI is served behind TLS).
    pub admin_secure_cookies: bool,
    /// Let admins add sources on loopback, link-local or private addresses (off: no SSRF
    /// through the admin UI).
    pub allow_private_sources: bool,
    /// Proxies in front of the admin UI (addresses or networks): only when the connection
    /// comes from one of them is `X-Forwarded-For` read for the client's address.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// Where admin alerts go, and when they are raised.
    pub alerts: AlertSettings,
}

/// `public = { name, channel_url, privacy_url, whatsapp_number, site_url, logo }`: what the
/// citizens' page says about the comune and how to follow it.
#[derive(Debug, Clone, PartialEq)]
pub struct PublicSettings {
    /// "Comune di Esempio".
    pub name: String,
    /// The WhatsApp Channel's invite link.
    pub channel_url: Option<url::Url>,
    pub privacy_url: Option<url::Url>,
    /// The number citizens write ISCRIVIMI to (the Cloud API number), for a wa.me link.
    pub whatsapp_number: Option<crate::phone::Phone>,
    /// The comune's website.
    pub site_url: Option<url::Url>,
    /// This page's own public address (behind the comune's proxy), for the feeds' links;
    /// without it, the request's `Host`.
    pub url: Option<url::Url>,
    /// An image file (SVG or PNG) for the page and the poster, relative to the configuration.
    pub logo: Option<std::path::PathBuf>,
    /// Sign-up from the page with a number (double opt-in), when set.
    pub signup: Option<SignupSettings>,
    /// The age a subscriber declares to have by subscribing (the comune's rule, e.g. 16),
    /// said in the welcome reply.
    pub min_age: Option<u8>,
}

/// `public.signup`: the page takes a number and the citizen's consent, the Cloud API sink
/// `sink` sends `template` (its {{1}}: the comune's name) asking to confirm, and the number is
/// subscribed only when its owner replies (ISCRIVIMI, or SÌ) within a day.
#[derive(Debug, Clone, PartialEq)]
pub struct SignupSettings {
    pub sink: String,
    pub template: super::Template,
    /// Most confirmations sent in a day, whoever asks.
    pub per_day: usize,
}

impl Default for PublicSettings {
    fn default() -> Self {
        PublicSettings {
            name: "Il Comune".into(),
            channel_url: None,
            privacy_url: None,
            whatsapp_number: None,
            site_url: None,
            url: None,
            logo: None,
            signup: None,
            min_age: None,
        }
    }
}

/// `alerts = [sink names]`, `alert_after_failures`, `alert_outbox`: admin alerts (a failing
/// source or sink, a paused sink, a growing outbox, a held source, review items about to
/// expire) go to the sinks named, which then carry no news.
#[derive(Debug, Clone)]
pub struct AlertSettings {
    pub sinks: Vec<String>,
    /// Failed polls (or sends) in a row before an alert.
    pub after_failures: u32,
    /// Messages waiting in the outbox before an alert.
    pub outbox: usize,
}

impl Default for AlertSettings {
    fn default() -> Self {
        AlertSettings {
            sinks: Vec::new(),
            after_failures: 3,
            outbox: 200,
        }
    }
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            timezone: chrono_tz::Europe::Rome,
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
            flood_threshold: 10,
            max_per_day: None,
            digest_at: match chrono::NaiveTime::from_hms_opt(18, 0, 0) {
                Some(t) => t,
                None => chrono::NaiveTime::MIN,
            },
            location: None,
            webhook_listen: None,
            metrics_listen: None,
            public_listen: None,
            public: PublicSettings::default(),
            quiet_hours: Some(DEFAULT_QUIET_HOURS),
            review_expiry: Duration::from_secs(48 * 3600),
            admin_secure_cookies: false,
            allow_private_sources: false,
            trusted_proxies: Vec::new(),
            alerts: AlertSettings::default(),
        }
    }
}

impl Settings {
    pub fn tz(&self) -> Tz {
        self.timezone
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
