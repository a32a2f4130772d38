//! Sinks: where messages go. Each sink says, for every send, whether the message certainly
//! arrived, certainly did not, or may have: the outbox uses that to deliver exactly once as
//! far as the world allows.

mod console;
mod email;
mod file;
pub mod gateway;
pub mod mastodon;
pub mod secret;
pub mod telegram;
pub mod webhook;
pub mod whatsapp_cloud;

pub use console::{render, ConsoleSink};
pub use file::FileSink;
pub use gateway::GatewaySink;
pub use webhook::WebhookSink;
pub use whatsapp_cloud::CloudSink;

use crate::config::{SinkConfig, SinkSettings};
use crate::item::Message;

/// The HTTP client of a provider sink: a clear User-Agent, a connect timeout, and the sink's
/// request timeout (30 s unless configured).
pub(crate) fn http_client(
    cfg: &SinkConfig,
    user_agent: &str,
) -> Result<reqwest::Client, BuildError> {
    reqwest::Client::builder()
        .user_agent(user_agent)
        .connect_timeout(std::time::Duration::from_secs(10))
        .timeout(cfg.timeout.unwrap_or(std::time::Duration::from_secs(30)))
        .build()
        .map_err(|source| BuildError::Client {
            sink: cfg.name.clone(),
            source,
        })
}

/// Why a configured sink cannot be built.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("sink {sink:?}: {why}")]
    Invalid { sink: String, why: String },
    #[error("sink {sink:?}: no secret for {key}: {why}")]
    MissingSecret {
        sink: String,
        key: &'static str,
        why: String,
    },
    #[error("sink {sink:?}: cannot build an HTTP client: {source}")]
    Client {
        sink: String,
        #[source]
        source: reqwest::Error,
    },
}

/// What a sink gives back for a delivered message.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Receipt {
    /// The provider's id for the message, when it has one.
    pub provider_id: Option<String>,
}

/// Why a send failed, by what it means for a retry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SinkError {
    /// Certainly not delivered (nothing left this machine): retry later.
    #[error("not sent: {0}")]
    NotSent(Why),
    /// May have been delivered: never re-sent automatically.
    #[error("may or may not have been delivered: {0}")]
    MaybeSent(Why),
    /// Refused for good.
    #[error("refused: {0}")]
    Rejected(Why),
    /// Certainly not delivered, and nothing will be until someone acts: a revoked token, a
    /// bot removed from its channel, a suspended account. The sink is paused and admins
    /// alerted.
    #[error("the account cannot send: {0}")]
    Paused(Why),
}

impl SinkError {
    pub fn why(&self) -> &Why {
        match self {
            SinkError::NotSent(w)
            | SinkError::MaybeSent(w)
            | SinkError::Rejected(w)
            | SinkError::Paused(w) => w,
        }
    }
}

/// What went wrong with a send: the provider's words and, when it answered, its HTTP
/// status (kept apart, so the admin UI need not read it back out of the words).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Why {
    pub detail: String,
    pub http_status: Option<u16>,
    /// How long the provider asked to wait before the next try (Telegram's `retry_after`).
    pub retry_after: Option<std::time::Duration>,
}

impl Why {
    /// A provider's answer with a status.
    pub fn http(status: reqwest::StatusCode, detail: String) -> Why {
        Why {
            detail,
            http_status: Some(status.as_u16()),
            retry_after: None,
        }
    }
}

impl From<String> for Why {
    fn from(detail: String) -> Why {
        Why {
            detail,
            http_status: None,
            retry_after: None,
        }
    }
}

impl From<&str> for Why {
    fn from(detail: &str) -> Why {
        Why::from(detail.to_owned())
    }
}

impl std::fmt::Display for Why {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.detail)
    }
}

/// After a crash between intent and outcome: did the message arrive?
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reconciled {
    Delivered,
    NotDelivered,
    Unknown,
}

/// How a message is posted, where the channel can tell.
#[derive(Debug, Clone, Copy, Default)]
pub struct Posting<'a> {
    /// The provider's id of the message this one continues on the sink (a correction, an
    /// alert's update or revocation): Telegram posts it as a reply.
    pub earlier: Option<&'a str>,
    /// A normal message at night: Telegram posts it without a notification sound.
    pub silent: bool,
}

/// A configured sink. An enum rather than a trait object: the set is closed and known at
/// compile time, and async methods stay plain.
#[derive(Debug)]
pub enum Sink {
    Console(ConsoleSink),
    File(FileSink),
    /// Broadcast to subscribers, one request per recipient (see `outbox`).
    Cloud(CloudSink),
    Gateway(GatewaySink),
    Webhook(WebhookSink),
    Email(email::EmailSink),
    Telegram(telegram::TelegramSink),
    Mastodon(mastodon::MastodonSink),
}

impl Sink {
    /// Builds a sink; fails when a secret it needs is missing from the environment. `images`
    /// fetches what a sink uploads itself (Mastodon), under the sources' address guard.
    pub fn from_config(
        cfg: &SinkConfig,
        user_agent: &str,
        secrets: &secret::Secrets,
        images: &crate::fetch::Fetcher,
    ) -> Result<Sink, BuildError> {
        Ok(match &cfg.settings {
            SinkSettings::Console => Sink::Console(ConsoleSink::new(&cfg.name)),
            SinkSettings::File { path } => Sink::File(FileSink::new(&cfg.name, path.clone())),
            SinkSettings::WhatsappCloud(c) => {
                Sink::Cloud(CloudSink::new(cfg, c, user_agent, secrets)?)
            }
            SinkSettings::WhatsappGateway(g) => {
                Sink::Gateway(GatewaySink::new(cfg, g, user_agent, secrets)?)
            }
            SinkSettings::Webhook(w) => {
                Sink::Webhook(WebhookSink::new(cfg, w, user_agent, secrets)?)
            }
            SinkSettings::Email(e) => Sink::Email(email::EmailSink::new(cfg, e, secrets)?),
            SinkSettings::Telegram(t) => {
                Sink::Telegram(telegram::TelegramSink::new(cfg, t, user_agent, secrets)?)
            }
            SinkSettings::Mastodon(m) => Sink::Mastodon(mastodon::MastodonSink::new(
                cfg, m, user_agent, secrets, images,
            )?),
        })
    }

    pub fn name(&self) -> &str {
        match self {
            Sink::Console(s) => s.name(),
            Sink::File(s) => s.name(),
            Sink::Cloud(s) => s.name(),
            Sink::Gateway(s) => s.name(),
            Sink::Webhook(s) => s.name(),
            Sink::Email(s) => s.name(),
            Sink::Telegram(s) => s.name(),
            Sink::Mastodon(s) => s.name(),
        }
    }

    /// One send of the whole message (a Cloud API sink: an admin alert to its admins).
    pub async fn send(&self, message: &Message) -> Result<Receipt, SinkError> {
        self.post(message, Posting::default()).await
    }

    /// The same, as `posting` says: continuing an earlier message, silently at night.
    pub async fn post(
        &self,
        message: &Message,
        posting: Posting<'_>,
    ) -> Result<Receipt, SinkError> {
        match self {
            Sink::Console(s) => s.send(message),
            Sink::File(s) => s.send(message).await,
            Sink::Gateway(s) => s.send(message).await,
            Sink::Webhook(s) => s.send(message).await,
            Sink::Email(s) => s.send(message).await,
            Sink::Telegram(s) => s.send(message, posting).await,
            Sink::Mastodon(s) => s.send(message).await,
            // News is broadcast per recipient (`deliver`); only admin alerts come this way.
            Sink::Cloud(s) => s.send_to_admins(message).await,
        }
    }

    /// After a crash: did `message`, whose intent was recorded `intent_age` ago, arrive?
    pub async fn reconcile(&self, message: &Message, intent_age: chrono::Duration) -> Reconciled {
        match self {
            Sink::File(s) => s.reconcile(message).await,
            // The receiver dedupes on the idempotency key: sending again is safe.
            Sink::Webhook(_) => Reconciled::NotDelivered,
            // Mastodon remembers a key for an hour: later, a second status could be made.
            Sink::Mastodon(_) if intent_age < mastodon::KEY_MEMORY => Reconciled::NotDelivered,
            Sink::Mastodon(_) => Reconciled::Unknown,
            Sink::Console(_)
            | Sink::Gateway(_)
            | Sink::Cloud(_)
            | Sink::Email(_)
            | Sink::Telegram(_) => Reconciled::Unknown,
        }
    }
}
