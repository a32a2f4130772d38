//! Mastodon: `POST {api_base}/api/v1/statuses` with the account's token, as Mastodon's API
//! documentation describes it (docs.joinmastodon.org/methods/statuses: `status`,
//! `visibility`, `language`; the `Idempotency-Key` header; the created Status's `id`).
//!
//! A status is plain text of at most [`MAX_STATUS`] characters, an address counting as
//! [`URL_LENGTH`] whatever its length: the title, as much of the text as fits (cut at a
//! sentence), and the official link. Every request carries the message's id as its
//! `Idempotency-Key`, so a request whose answer was lost is sent again safely: Mastodon
//! returns the status it already made (for an hour).

use serde_json::{json, Value};

use super::secret::{Secret, Secrets};
use super::{BuildError, Receipt, SinkError, Why};
use crate::config::{MastodonConfig, SinkConfig};
use crate::item::Message;

/// Mastodon's default limit on a status.
pub const MAX_STATUS: usize = 500;
/// What an address counts for, however long.
pub const URL_LENGTH: usize = 23;

#[derive(Debug)]
pub struct MastodonSink {
    name: String,
    endpoint: String,
    token: Secret,
    visibility: String,
    client: reqwest::Client,
}

/// The status for a message: title, text, link, within [`MAX_STATUS`] as Mastodon counts.
pub fn status(message: &Message) -> String {
    static WEB: std::sync::LazyLock<regex::Regex> =
        std::sync::LazyLock::new(|| regex::Regex::new(r"(?i)https?://\S+").expect("static regex"));
    let title = message.title.trim();
    let plain = crate::format::styles::plain(&message.text);
    // The text without its title line and without addresses (the link comes last).
    let body: Vec<&str> = plain
        .lines()
        .map(str::trim)
        .filter(|l| *l != title)
        .collect();
    let body = WEB.replace_all(&body.join("\n"), "").into_owned();
    let body = crate::text::collapse_whitespace(&body.replace("\n\n", "\n"));
    let link = if message.url.starts_with("http") {
        message.url.as_str()
    } else {
        ""
    };
    let link_cost = if link.is_empty() { 0 } else { URL_LENGTH + 2 };
    let title: String = title.chars().take(MAX_STATUS - link_cost - 3).collect();
    let budget = MAX_STATUS
        .saturating_sub(link_cost)
        .saturating_sub(title.chars().count() + 2);
    let mut out = title;
    if budget > 20 && !body.is_empty() {
        out.push_str("\n\n");
        out.push_str(&crate::text::truncate(&body, budget));
    }
    if !link.is_empty() {
        out.push_str("\n\n");
        out.push_str(link);
    }
    out
}

/// How long a status is for Mastodon: each address [`URL_LENGTH`].
pub fn counted(status: &str) -> usize {
    status
        .split_whitespace()
        .map(|w| {
            if w.starts_with("http://") || w.starts_with("https://") {
                URL_LENGTH
            } else {
                w.chars().count()
            }
        })
        .sum::<usize>()
        + status.chars().filter(|c| c.is_whitespace()).count()
}

impl MastodonSink {
    pub fn new(
        cfg: &SinkConfig,
        mastodon: &MastodonConfig,
        user_agent: &str,
        secrets: &Secrets,
    ) -> Result<MastodonSink, BuildError> {
        Ok(MastodonSink {
            name: cfg.name.clone(),
            endpoint: format!(
                "{}/api/v1/statuses",
                mastodon.api_base.as_str().trim_end_matches('/')
            ),
            token: Secret::resolve(secrets, &cfg.name, "token_env", &mastodon.token_env)?,
            visibility: mastodon.visibility.clone(),
            client: super::http_client(cfg, user_agent)?,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn body(&self, message: &Message) -> Value {
        json!({
            "status": status(message),
            "visibility": self.visibility,
            "language": "it",
        })
    }

    pub async fn send(&self, message: &Message) -> Result<Receipt, SinkError> {
        let resp = self
            .client
            .post(&self.endpoint)
            .bearer_auth(self.token.expose())
            .header("Idempotency-Key", &message.id)
            .json(&self.body(message))
            .send()
            .await
            // Sent again with the same key, a request that did arrive makes no second
            // status: whatever happened, trying again is safe.
            .map_err(|e| SinkError::NotSent(Why::from(e.without_url().to_string())))?;
        let status = resp.status();
        let json: Value = resp.json().await.unwrap_or(Value::Null);
        if status.is_success() {
            return Ok(Receipt {
                provider_id: json["id"].as_str().map(str::to_owned),
            });
        }
        let why = Why::http(
            status,
            format!(
                "Mastodon {}: {}",
                status.as_u16(),
                json["error"].as_str().unwrap_or("no description")
            ),
        );
        match status.as_u16() {
            // The status itself is refused (too long, empty): never accepted as it is.
            422 => Err(SinkError::Rejected(why)),
            // A revoked token (401), a suspended account (403), limits (429), the instance's
            // trouble (5xx): tried again with back-off under the same key.
            _ => Err(SinkError::NotSent(why)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(title: &str, text: &str, url: &str) -> Message {
        Message {
            id: "m1".into(),
            source: "s".into(),
            kind: "feed".into(),
            title: title.into(),
            url: url.into(),
            text: text.into(),
            image: None,
            priority: crate::config::Priority::Normal,
            published: None,
            tags: vec![],
            extra: Default::default(),
        }
    }

    #[test]
    fn a_status_keeps_title_and_link_within_five_hundred() {
        let url = "https://comune.example.it/notizie/un-indirizzo-molto-lungo-che-conta-comunque-ventitre-caratteri/";
        let long = "Una frase della notizia, detta per esteso. ".repeat(30);
        let text = format!("*Chiusura di via Roma*\n\n{long}\n\n{url}\n\nComune di Esempio");
        let s = status(&message("Chiusura di via Roma", &text, url));
        assert!(s.starts_with("Chiusura di via Roma\n\nUna frase"), "{s}");
        assert!(s.ends_with(url), "{s}");
        assert!(counted(&s) <= MAX_STATUS, "{} in {s}", counted(&s));
        assert!(!s.contains('*'), "no WhatsApp markers: {s}");
        // A short one whole.
        let s = status(&message(
            "Avviso",
            "*Avviso*\n\nBreve.\n\nhttps://x.it/a",
            "https://x.it/a",
        ));
        assert_eq!(s, "Avviso\n\nBreve.\n\nhttps://x.it/a");
    }
}
