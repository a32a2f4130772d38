//! A signed JSON POST of the message, for any automation tool.
//!
//! Headers: `X-Banditore-Timestamp` (unix seconds), `X-Banditore-Signature: sha256=<hex>` where
//! the hex is HMAC-SHA256 of `"{timestamp}.{body}"` with the shared secret, and
//! `Idempotency-Key` (message id and sink). Because receivers can dedupe on that key, a
//! request whose outcome is unknown is safe to repeat, so timeouts are retried here.

use super::secret::{hmac_sha256_hex, Secret, Secrets};
use super::{BuildError, Receipt, SinkError, Why};
use crate::config::{SinkConfig, WebhookConfig};
use crate::item::Message;

#[derive(Debug)]
pub struct WebhookSink {
    name: String,
    url: String,
    secret: Secret,
    client: reqwest::Client,
}

impl WebhookSink {
    pub fn new(
        cfg: &SinkConfig,
        webhook: &WebhookConfig,
        user_agent: &str,
        secrets: &Secrets,
    ) -> Result<WebhookSink, BuildError> {
        Ok(WebhookSink {
            name: cfg.name.clone(),
            url: webhook.url.to_string(),
            secret: Secret::resolve(secrets, &cfg.name, "secret_env", &webhook.secret_env)?,
            client: super::http_client(cfg, user_agent)?,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The signature header value for a body sent at `timestamp`.
    pub fn signature(&self, timestamp: i64, body: &[u8]) -> String {
        let mut signed = format!("{timestamp}.").into_bytes();
        signed.extend_from_slice(body);
        format!(
            "sha256={}",
            hmac_sha256_hex(self.secret.expose().as_bytes(), &signed)
        )
    }

    pub async fn send(&self, message: &Message) -> Result<Receipt, SinkError> {
        let body =
            serde_json::to_vec(message).map_err(|e| SinkError::Rejected(e.to_string().into()))?;
        let timestamp = chrono::Utc::now().timestamp();
        let resp = self
            .client
            .post(&self.url)
            .header("Content-Type", "application/json")
            .header("X-Banditore-Timestamp", timestamp.to_string())
            .header("X-Banditore-Signature", self.signature(timestamp, &body))
            .header("Idempotency-Key", format!("{}:{}", message.id, self.name))
            .body(body)
            .send()
            .await
            .map_err(|e| {
                // Without the address: it may carry a credential (`?token=`).
                SinkError::NotSent(
                    format!(
                        "{} (safe to repeat: the receiver dedupes on Idempotency-Key)",
                        e.without_url()
                    )
                    .into(),
                )
            })?;
        let status = resp.status();
        if status.is_success() {
            return Ok(Receipt::default());
        }
        match status.as_u16() {
            408 | 409 | 425 | 429 | 500..=599 => Err(SinkError::NotSent(Why::http(
                status,
                format!("HTTP {status}"),
            ))),
            _ => Err(SinkError::Rejected(Why::http(
                status,
                format!("HTTP {status}"),
            ))),
        }
    }
}
