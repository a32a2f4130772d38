//! `[[sink]]`: where messages go, each kind's settings, and which messages a sink takes.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use url::Url;

use super::Priority;

/// An approved WhatsApp message template: body parameters {{1}} = title, {{2}} = link.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Template {
    pub name: String,
    pub language: String,
}

/// `kind = "whatsapp-cloud"`: Meta's Cloud API, to opted-in subscribers.
#[derive(Debug, Clone, PartialEq)]
pub struct CloudConfig {
    pub api_base: Url,
    /// Graph API version, e.g. "v23.0".
    pub api_version: String,
    /// The sending phone number's id.
    pub phone_number_id: String,
    /// Environment variables holding the secrets.
    pub token_env: String,
    pub app_secret_env: String,
    pub verify_token_env: String,
    /// Used outside the 24-hour window.
    pub template: Option<Template>,
    pub messages_per_second: u32,
    /// The admins' numbers: a sink named in `settings.alerts` sends the admin alerts to them
    /// (and never to subscribers).
    pub admins: Vec<crate::phone::Phone>,
}

/// `kind = "whatsapp-gateway"`: a WAHA-compatible gateway, e.g. to post in a Channel.
#[derive(Debug, Clone, PartialEq)]
pub struct GatewayConfig {
    pub api_base: Url,
    pub session: String,
    /// A Channel's id ends in "@newsletter".
    pub chat_id: String,
    pub api_key_env: Option<String>,
    /// The HMAC key (SHA-512) the gateway signs its webhooks with; unsigned acks are refused.
    pub hmac_key_env: String,
}

/// `kind = "webhook"`: a signed JSON POST of the message.
#[derive(Debug, Clone, PartialEq)]
pub struct WebhookConfig {
    pub url: Url,
    pub secret_env: String,
}

/// `kind = "email"`: each message as an e-mail to fixed addresses (see `sink::email`).
#[derive(Debug, Clone, PartialEq)]
pub struct EmailConfig {
    /// lettre's connection URL, without user or password: `smtps://host:465`,
    /// `smtp://host:587?tls=required`, `smtp://127.0.0.1:25`.
    pub smtp: Url,
    /// The user: from this variable, else the URL's (an `smtp = "smtps://user@host"` key).
    pub username_env: Option<String>,
    pub password_env: Option<String>,
    pub from: String,
    pub to: Vec<String>,
    /// Addresses that get the mail without seeing each other (a list kept by the comune).
    pub bcc: Vec<String>,
    /// Where a reader stops receiving (`mailto:` or `https:`): the `List-Unsubscribe`
    /// header and a line at the end of every mail.
    pub list_unsubscribe: Option<String>,
    /// One mail a day at this local time with the day's normal messages (a line and a link
    /// each), instead of one mail per message; urgent ones still go at once.
    pub digest: Option<chrono::NaiveTime>,
}

/// `kind = "telegram"`: the Bot API, to a channel or a group (see `sink::telegram`).
#[derive(Debug, Clone, PartialEq)]
pub struct TelegramConfig {
    pub api_base: Url,
    pub token_env: String,
    /// `@comune_esempio`, or a numeric id (`-100…` for a channel).
    pub chat_id: String,
}

/// `kind = "mastodon"`: statuses on an instance (see `sink::mastodon`).
#[derive(Debug, Clone, PartialEq)]
pub struct MastodonConfig {
    /// The instance, e.g. `https://social.comune.example.it`.
    pub api_base: Url,
    pub token_env: String,
    /// `public`, `unlisted` or `private`.
    pub visibility: String,
    /// Urgent messages go behind a content warning ("Allerta: …"), as some instances ask.
    pub urgent_content_warning: bool,
}

/// Where a sink delivers.
#[derive(Debug, Clone, PartialEq)]
pub enum SinkSettings {
    Console,
    /// Message JSON lines appended to a file (a relative path is relative to the
    /// configuration file's folder).
    File {
        path: PathBuf,
    },
    WhatsappCloud(CloudConfig),
    WhatsappGateway(GatewayConfig),
    Webhook(WebhookConfig),
    Email(EmailConfig),
    Telegram(TelegramConfig),
    Mastodon(MastodonConfig),
}

/// A `[[sink]]`, checked.
#[derive(Debug, Clone, PartialEq)]
pub struct SinkConfig {
    pub name: String,
    /// Time for one request to the provider.
    pub timeout: Option<Duration>,
    pub settings: SinkSettings,
    /// Which messages it takes (every one by default).
    pub filter: SinkFilter,
}

/// `only_priority = "urgent"`, `tags = [...]`: a sink that takes only some messages (a
/// channel for alerts only, a newsroom's inbox for one category).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SinkFilter {
    pub only_priority: Option<Priority>,
    /// At least one of these among the message's tags (case and accents aside).
    pub tags: Vec<String>,
    /// At least one of these among the message's topics (`[[topic]]`): a Channel per topic.
    pub topics: Vec<String>,
}

impl SinkFilter {
    /// Why it does not, in Italian, for the delivery record.
    pub fn why_not(&self) -> String {
        if !self.topics.is_empty() {
            return format!(
                "non per questo canale: solo gli argomenti {}",
                self.topics.join(", ")
            );
        }
        match (&self.only_priority, self.tags.is_empty()) {
            (Some(_), true) => "non per questo canale: solo i messaggi urgenti".into(),
            (_, false) => format!("non per questo canale: solo {}", self.tags.join(", ")),
            (None, true) => String::new(),
        }
    }
}

impl SinkConfig {
    pub fn kind(&self) -> &'static str {
        match self.settings {
            SinkSettings::Console => "console",
            SinkSettings::File { .. } => "file",
            SinkSettings::WhatsappCloud(_) => "whatsapp-cloud",
            SinkSettings::WhatsappGateway(_) => "whatsapp-gateway",
            SinkSettings::Webhook(_) => "webhook",
            SinkSettings::Email(_) => "email",
            SinkSettings::Telegram(_) => "telegram",
            SinkSettings::Mastodon(_) => "mastodon",
        }
    }

    /// (key, environment variable) of every secret the sink reads.
    pub fn secret_vars(&self) -> Vec<(&'static str, &str)> {
        match &self.settings {
            SinkSettings::Console | SinkSettings::File { .. } => vec![],
            SinkSettings::WhatsappCloud(c) => vec![
                ("token_env", c.token_env.as_str()),
                ("app_secret_env", &c.app_secret_env),
                ("verify_token_env", &c.verify_token_env),
            ],
            SinkSettings::WhatsappGateway(g) => {
                let mut vars = vec![("hmac_key_env", g.hmac_key_env.as_str())];
                vars.extend(g.api_key_env.as_deref().map(|v| ("api_key_env", v)));
                vars
            }
            SinkSettings::Webhook(w) => vec![("secret_env", w.secret_env.as_str())],
            SinkSettings::Email(e) => [
                ("username_env", &e.username_env),
                ("password_env", &e.password_env),
            ]
            .into_iter()
            .filter_map(|(key, var)| var.as_deref().map(|v| (key, v)))
            .collect(),
            SinkSettings::Telegram(t) => vec![("token_env", t.token_env.as_str())],
            SinkSettings::Mastodon(m) => vec![("token_env", m.token_env.as_str())],
        }
    }
}
