//! Telegram's Bot API, to a channel or a group: `POST {api_base}/bot{token}/sendMessage` with
//! `parse_mode = "HTML"`, or `sendPhoto` with the text as caption when there is an image and
//! the text fits 1024 characters. Shapes from the Bot API documentation
//! (core.telegram.org/bots/api: sendMessage, sendPhoto, the `Message` result and its
//! `message_id`, errors as `{"ok": false, "error_code", "description", "parameters":
//! {"retry_after"}}`).
//!
//! WhatsApp's `*bold*`, `_italic_` and `~strike~` become `<b>`, `<i>`, `<s>`; everything else
//! is escaped. A correction, or an alert's update or revocation, is posted as a reply to the
//! message it continues (`reply_parameters`), so the channel shows them together; a
//! correction also puts the corrected text in place of the first message (`editMessageText`,
//! or `editMessageCaption` for a photo), so whoever scrolls back reads it right. A normal
//! message posted at night (within quiet hours, or 21:00–07:30 when they are off) makes no
//! sound (`disable_notification`); an urgent one always does. At most one message a second
//! and twenty a minute go to the chat (Telegram's limits for a group or channel). The token
//! is part of the request's path: it never appears in an error or a log line.

use std::time::Duration;

use serde_json::{json, Value};
use tokio::sync::Mutex;
use tokio::time::Instant;

use super::secret::{Secret, Secrets};
use super::{BuildError, Posting, Receipt, SinkError, Why};
use crate::config::{SinkConfig, TelegramConfig};
use crate::format::styles::{spans, Style};
use crate::item::Message;

/// Telegram's limit on a photo's caption.
pub const MAX_CAPTION: usize = 1024;
/// Between two messages to the same chat (Telegram: "avoid sending more than one message per
/// second" in a chat) …
const GAP: Duration = Duration::from_secs(1);
/// … and at most this many in any minute (Telegram: "no more than 20 messages per minute to
/// the same group").
const PER_MINUTE: usize = 20;
const MINUTE: Duration = Duration::from_secs(60);
/// A `retry_after` up to this long is waited for within the send; a longer one is left to the
/// delivery's back-off.
const WAIT_AT_MOST: Duration = Duration::from_secs(30);

#[derive(Debug)]
pub struct TelegramSink {
    name: String,
    base: String,
    token: Secret,
    chat_id: String,
    /// When the requests of the last minute went, or will go (their slots).
    slots: Mutex<std::collections::VecDeque<Instant>>,
    client: reqwest::Client,
}

/// A message's text in Telegram's HTML.
pub fn html(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 16);
    for (part, style) in spans(text) {
        let escaped = html_escape::encode_text(part);
        match style {
            Some(Style::Bold) => out.push_str(&format!("<b>{escaped}</b>")),
            Some(Style::Italic) => out.push_str(&format!("<i>{escaped}</i>")),
            Some(Style::Strike) => out.push_str(&format!("<s>{escaped}</s>")),
            None => out.push_str(&escaped),
        }
    }
    out
}

impl TelegramSink {
    pub fn new(
        cfg: &SinkConfig,
        telegram: &TelegramConfig,
        user_agent: &str,
        secrets: &Secrets,
    ) -> Result<TelegramSink, BuildError> {
        Ok(TelegramSink {
            name: cfg.name.clone(),
            base: telegram.api_base.as_str().trim_end_matches('/').to_owned(),
            token: Secret::resolve(secrets, &cfg.name, "token_env", &telegram.token_env)?,
            chat_id: telegram.chat_id.clone(),
            slots: Mutex::new(std::collections::VecDeque::new()),
            client: super::http_client(cfg, user_agent)?,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The method and body for a message: a photo with the text as caption when there is a
    /// shareable image and the text fits, else the text (with its link's preview).
    pub fn body(&self, message: &Message) -> (&'static str, Value) {
        let text = html(&message.text);
        match message
            .image
            .as_deref()
            .filter(|i| crate::link::shareable_image(i))
        {
            Some(image) if message.text.chars().count() <= MAX_CAPTION => (
                "sendPhoto",
                json!({
                    "chat_id": self.chat_id,
                    "photo": image,
                    "caption": text,
                    "parse_mode": "HTML",
                }),
            ),
            _ => (
                "sendMessage",
                json!({
                    "chat_id": self.chat_id,
                    "text": text,
                    "parse_mode": "HTML",
                }),
            ),
        }
    }

    /// Waits for the chat's next slot.
    async fn pace(&self) {
        let slot = {
            let mut slots = self.slots.lock().await;
            let now = Instant::now();
            while slots.front().is_some_and(|t| *t + MINUTE <= now) {
                slots.pop_front();
            }
            let mut slot = now;
            if let Some(last) = slots.back() {
                slot = slot.max(*last + GAP);
            }
            if let Some(first) = slots
                .len()
                .checked_sub(PER_MINUTE)
                .and_then(|i| slots.get(i))
            {
                slot = slot.max(*first + MINUTE);
            }
            slots.push_back(slot);
            slot
        };
        tokio::time::sleep_until(slot).await;
    }

    /// Posts `message`: as a reply to the chat's message it continues, if any; silently
    /// when `posting` says so.
    pub async fn send(
        &self,
        message: &Message,
        posting: Posting<'_>,
    ) -> Result<Receipt, SinkError> {
        let corrected = message.extra.get("corrected_text").and_then(|t| t.as_str());
        if let (Some(earlier), Some(text)) = (posting.earlier, corrected) {
            self.edit(earlier, text, message).await;
        }
        let (method, mut body) = self.body(message);
        if let Some(id) = posting.earlier.and_then(|e| e.parse::<i64>().ok()) {
            // Posted even when the earlier one was deleted meanwhile.
            body["reply_parameters"] =
                json!({"message_id": id, "allow_sending_without_reply": true});
        }
        if posting.silent {
            body["disable_notification"] = json!(true);
        }
        match self.post(method, &body).await {
            Err(Retry::After(wait)) if wait <= WAIT_AT_MOST => {
                tokio::time::sleep(wait).await;
                self.post(method, &body).await.map_err(Retry::into_error)
            }
            // Telegram could not take the photo from its address: the text goes alone.
            Err(Retry::Error(SinkError::Rejected(why))) if method == "sendPhoto" => {
                tracing::warn!(sink = %self.name, message_id = %message.id, %why, "the photo was refused; sent as text");
                let mut text = body;
                if let Some(fields) = text.as_object_mut() {
                    fields.remove("photo");
                    if let Some(caption) = fields.remove("caption") {
                        fields.insert("text".into(), caption);
                    }
                }
                self.post("sendMessage", &text)
                    .await
                    .map_err(Retry::into_error)
            }
            result => result.map_err(Retry::into_error),
        }
    }

    /// Puts `text` in place of the chat's message `earlier` (its text, or its caption when
    /// it is a photo). Best effort: the correction's own post says what changed anyway.
    async fn edit(&self, earlier: &str, text: &str, message: &Message) {
        let Ok(id) = earlier.parse::<i64>() else {
            return;
        };
        let html = html(text);
        let mut body =
            json!({"chat_id": self.chat_id, "message_id": id, "text": html, "parse_mode": "HTML"});
        let mut result = self.post("editMessageText", &body).await;
        if let Err(Retry::Error(SinkError::Rejected(why))) = &result {
            if why.detail.contains("no text in the message") && text.chars().count() <= MAX_CAPTION
            {
                if let Some(fields) = body.as_object_mut() {
                    fields.remove("text");
                    fields.insert("caption".into(), json!(html));
                }
                result = self.post("editMessageCaption", &body).await;
            }
        }
        match result {
            Ok(_) => {
                tracing::info!(sink = %self.name, message_id = %message.id, earlier, "the first message now reads as corrected")
            }
            // Already as it should be (a retried correction).
            Err(Retry::Error(SinkError::Rejected(why))) if why.detail.contains("not modified") => {}
            Err(e) => {
                let why = e.into_error();
                tracing::warn!(sink = %self.name, message_id = %message.id, earlier, %why, "the first message could not be edited; the correction is posted as a reply");
            }
        }
    }

    async fn post(&self, method: &str, body: &Value) -> Result<Receipt, Retry> {
        self.pace().await;
        let url = format!("{}/bot{}/{method}", self.base, self.token.expose());
        let resp = self
            .client
            .post(url)
            .json(body)
            .send()
            .await
            // Without the URL: it holds the token.
            .map_err(|e| {
                let connect = e.is_connect();
                let why = Why::from(e.without_url().to_string());
                if connect {
                    Retry::Error(SinkError::NotSent(why))
                } else {
                    Retry::Error(SinkError::MaybeSent(why))
                }
            })?;
        let status = resp.status();
        let json: Value = resp.json().await.unwrap_or(Value::Null);
        if json["ok"] == true {
            let id = json["result"]["message_id"].as_i64();
            return Ok(Receipt {
                provider_id: id.map(|id| id.to_string()),
            });
        }
        let description = json["description"].as_str().unwrap_or("no description");
        let why = Why::http(
            status,
            format!("Telegram {}: {description}", status.as_u16()),
        );
        Err(match status.as_u16() {
            429 => match json["parameters"]["retry_after"].as_u64() {
                Some(secs) => Retry::After(Duration::from_secs(secs)),
                None => Retry::Error(SinkError::NotSent(why)),
            },
            // A token revoked (401), a bot removed from the channel or not its admin (403), a
            // chat that does not exist: nothing was posted, and nothing will be until an
            // admin acts. The sink is paused and the admins alerted.
            401 | 403 => Retry::Error(SinkError::Paused(why)),
            400 if description.to_lowercase().contains("chat not found") => {
                Retry::Error(SinkError::Paused(why))
            }
            // The request itself is refused (text too long, markup Telegram cannot read).
            400 => Retry::Error(SinkError::Rejected(why)),
            402 | 404..=499 => Retry::Error(SinkError::NotSent(why)),
            // Telegram's own trouble: the message may have been posted.
            _ => Retry::Error(SinkError::MaybeSent(why)),
        })
    }
}

/// A failed request: to be tried again after Telegram's `retry_after`, or failed as said.
enum Retry {
    After(Duration),
    Error(SinkError),
}

impl Retry {
    fn into_error(self) -> SinkError {
        match self {
            Retry::After(wait) => SinkError::NotSent(Why {
                detail: format!("Telegram asks to wait {} s (429)", wait.as_secs()),
                http_status: Some(429),
                retry_after: Some(wait),
            }),
            Retry::Error(e) => e,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_chat_gets_one_message_a_second_and_twenty_a_minute() {
        let cfg = SinkConfig {
            name: "t".into(),
            timeout: None,
            settings: crate::config::SinkSettings::Console,
            filter: Default::default(),
        };
        let telegram = TelegramConfig {
            api_base: "https://api.telegram.org".parse().unwrap(),
            token_env: "T".into(),
            chat_id: "@prova".into(),
        };
        let secrets = Secrets::Fixed([("T".to_owned(), "t".to_owned())].into());
        let sink = TelegramSink::new(&cfg, &telegram, "test", &secrets).unwrap();
        let start = Instant::now();
        let mut at = Vec::new();
        for _ in 0..22 {
            sink.pace().await;
            at.push(Instant::now() - start);
        }
        assert_eq!(at[0], Duration::ZERO, "the first at once");
        assert_eq!(at[1], GAP);
        assert_eq!(at[19], GAP * 19);
        // The 21st waits for the first to be a minute old.
        assert_eq!(at[20], MINUTE);
        assert_eq!(at[21], MINUTE + GAP);
    }

    #[test]
    fn whatsapp_markup_becomes_telegram_html_and_the_rest_is_escaped() {
        assert_eq!(
            html("*Chiusura <via> Roma & co.*\n\n_oggi_ 3 < 5 ~ieri~\nhttps://x.it/a_b_c"),
            "<b>Chiusura &lt;via&gt; Roma &amp; co.</b>\n\n<i>oggi</i> 3 &lt; 5 <s>ieri</s>\nhttps://x.it/a_b_c"
        );
    }
}
