//! A WAHA-compatible WhatsApp HTTP gateway, the way to post in a WhatsApp Channel (which the
//! Cloud API cannot do): `POST {api_base}/api/sendText` or `/api/sendImage` with the
//! `X-Api-Key` header; 201 with the message id.

use serde_json::{json, Value};

use super::secret::{Secret, Secrets};
use super::{BuildError, Receipt, SinkError, Why};
use crate::config::{GatewayConfig, SinkConfig};
use crate::item::Message;
use crate::sink::whatsapp_cloud::MAX_CAPTION;

#[derive(Debug)]
pub struct GatewaySink {
    name: String,
    base: String,
    session: String,
    chat_id: String,
    api_key: Option<Secret>,
    pub(crate) hmac_key: Secret,
    client: reqwest::Client,
}

impl GatewaySink {
    pub fn new(
        cfg: &SinkConfig,
        gateway: &GatewayConfig,
        user_agent: &str,
        secrets: &Secrets,
    ) -> Result<GatewaySink, BuildError> {
        let api_key = gateway
            .api_key_env
            .as_deref()
            .map(|var| Secret::resolve(secrets, &cfg.name, "api_key_env", var))
            .transpose()?;
        Ok(GatewaySink {
            hmac_key: Secret::resolve(secrets, &cfg.name, "hmac_key_env", &gateway.hmac_key_env)?,
            name: cfg.name.clone(),
            base: gateway.api_base.as_str().trim_end_matches('/').to_owned(),
            session: gateway.session.clone(),
            chat_id: gateway.chat_id.clone(),
            api_key,
            client: super::http_client(cfg, user_agent)?,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn chat_id(&self) -> &str {
        &self.chat_id
    }

    fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let req = self.client.request(method, format!("{}{path}", self.base));
        match &self.api_key {
            Some(key) => req.header("X-Api-Key", key.expose()),
            None => req,
        }
    }

    /// The body for a message: an image with the text as caption when it fits, else text.
    pub fn body(&self, message: &Message) -> (&'static str, Value) {
        // The gateway fetches the image from inside the comune's network: only a public
        // https address is handed to it.
        match message
            .image
            .as_deref()
            .filter(|i| crate::link::shareable_image(i))
        {
            Some(image) if message.text.chars().count() <= MAX_CAPTION => (
                "/api/sendImage",
                json!({
                    "session": self.session,
                    "chatId": self.chat_id,
                    "file": {"mimetype": mime_of(image), "url": image},
                    "caption": message.text,
                }),
            ),
            _ => (
                "/api/sendText",
                json!({
                    "session": self.session,
                    "chatId": self.chat_id,
                    "text": message.text,
                    "linkPreview": true,
                }),
            ),
        }
    }

    pub async fn send(&self, message: &Message) -> Result<Receipt, SinkError> {
        let (path, body) = self.body(message);
        let resp = self
            .request(reqwest::Method::POST, path)
            .json(&body)
            .send()
            .await
            .map_err(|e| {
                if e.is_connect() {
                    SinkError::NotSent(e.to_string().into())
                } else {
                    SinkError::MaybeSent(e.to_string().into())
                }
            })?;
        let status = resp.status();
        let text = resp.text().await.unwrap_or_default();
        if status.is_success() {
            let json: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
            let id = json["id"]
                .as_str()
                .map(str::to_owned)
                .or_else(|| json["id"]["_serialized"].as_str().map(str::to_owned));
            return Ok(Receipt { provider_id: id });
        }
        let detail = Why::http(
            status,
            format!(
                "HTTP {status}: {}",
                text.chars().take(300).collect::<String>()
            ),
        );
        match status.as_u16() {
            // The gateway refused before sending: session not WORKING (422), bad key, bad chat.
            400..=499 => Err(SinkError::NotSent(detail)),
            _ => Err(SinkError::MaybeSent(detail)),
        }
    }

    /// The session's state; only WORKING can send.
    pub async fn session_status(&self) -> Result<String, String> {
        let resp = self
            .request(
                reqwest::Method::GET,
                &format!("/api/sessions/{}", self.session),
            )
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let status = resp.status();
        let json: Value = resp.json().await.map_err(|e| e.to_string())?;
        if !status.is_success() {
            return Err(format!("HTTP {status}"));
        }
        Ok(json["status"].as_str().unwrap_or("UNKNOWN").to_owned())
    }
}

/// WAHA does not convert images: say what the URL holds.
fn mime_of(url: &str) -> &'static str {
    let lower = url.to_ascii_lowercase();
    let path = lower.split(['?', '#']).next().unwrap_or_default();
    if path.ends_with(".png") {
        "image/png"
    } else if path.ends_with(".webp") {
        "image/webp"
    } else if path.ends_with(".gif") {
        "image/gif"
    } else {
        "image/jpeg"
    }
}
