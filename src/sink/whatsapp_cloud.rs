//! Meta's WhatsApp Cloud API: `POST {api_base}/{version}/{phone_number_id}/messages`.
//!
//! Request shapes follow `business-messaging-api_v23.0.yaml` (text with `preview_url`, image
//! by link with a caption of at most 1024 characters, template with body parameters). Errors
//! are classified by the Graph error `code`, never by the HTTP status.

use std::time::Duration;

use serde_json::{json, Value};
use tokio::sync::Mutex;
use tokio::time::Instant;

use super::secret::{Secret, Secrets};
use super::{BuildError, Receipt, SinkError, Why};
use crate::config::{CloudConfig, SinkConfig, Template};
use crate::item::Message;

/// WhatsApp's limit on an image caption.
pub const MAX_CAPTION: usize = 1024;

/// What one send to one recipient came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CloudOutcome {
    /// Accepted; the wamid identifies it in status webhooks.
    Sent { wamid: String },
    /// Rate limits of the number, the account or the app (130429, 80007, 4): slow down, retry.
    Throttled { code: i64, detail: String },
    /// Too many messages to this recipient (131056): retry this one later.
    RecipientThrottled { code: i64, detail: String },
    /// More than 24 hours since the user wrote (131047): only a template may be sent.
    NeedsTemplate { detail: String },
    /// This recipient cannot receive it (131026 and other per-recipient errors): never retried.
    RecipientFailed { code: i64, detail: String },
    /// The account cannot send (131048 spam limit, 368 restricted, 190 bad token): pause.
    AccountProblem { code: i64, detail: String },
    /// Any other error: retried with back-off a few times.
    Retry { code: i64, detail: String },
    /// Certainly not sent (connection refused, DNS): retry.
    NotSent { detail: String },
    /// May have been sent (timeout after the request left, connection dropped): never re-sent.
    MaybeSent { detail: String },
}

impl CloudOutcome {
    /// The provider's error code, when the answer carried one.
    pub fn code(&self) -> Option<i64> {
        match self {
            CloudOutcome::Throttled { code, .. }
            | CloudOutcome::RecipientThrottled { code, .. }
            | CloudOutcome::RecipientFailed { code, .. }
            | CloudOutcome::AccountProblem { code, .. }
            | CloudOutcome::Retry { code, .. } => Some(*code).filter(|c| *c != 0),
            CloudOutcome::NeedsTemplate { .. } => Some(131047),
            CloudOutcome::Sent { .. }
            | CloudOutcome::NotSent { .. }
            | CloudOutcome::MaybeSent { .. } => None,
        }
    }

    /// The provider's words about a failure (empty for a sent message).
    pub fn detail(&self) -> &str {
        match self {
            CloudOutcome::Sent { .. } => "",
            CloudOutcome::Throttled { detail, .. }
            | CloudOutcome::RecipientThrottled { detail, .. }
            | CloudOutcome::NeedsTemplate { detail }
            | CloudOutcome::RecipientFailed { detail, .. }
            | CloudOutcome::AccountProblem { detail, .. }
            | CloudOutcome::Retry { detail, .. }
            | CloudOutcome::NotSent { detail }
            | CloudOutcome::MaybeSent { detail } => detail,
        }
    }
}

/// Which error codes mean what (see the reference notes).
pub fn classify(code: i64, detail: String) -> CloudOutcome {
    match code {
        130429 | 80007 | 4 => CloudOutcome::Throttled { code, detail },
        131056 => CloudOutcome::RecipientThrottled { code, detail },
        131047 => CloudOutcome::NeedsTemplate { detail },
        131048 | 368 | 190 => CloudOutcome::AccountProblem { code, detail },
        // The template itself cannot be used (its parameters do not match, it does not exist,
        // Meta paused or disabled it): every recipient would fail the same way, so the sink
        // pauses (the admins get an alert) instead of failing the whole list one by one.
        132000 | 132001 | 132015 | 132016 => CloudOutcome::AccountProblem { code, detail },
        131026 | 131053 | 131051 | 131052 | 131021 | 132005 | 132007 | 132012 | 132018 | 470 => {
            CloudOutcome::RecipientFailed { code, detail }
        }
        _ => CloudOutcome::Retry { code, detail },
    }
}

#[derive(Debug)]
pub struct CloudSink {
    name: String,
    endpoint: String,
    token: Secret,
    pub(crate) app_secret: Secret,
    pub(crate) verify_token: Secret,
    template: Option<Template>,
    interval: Duration,
    rate: u32,
    next_slot: Mutex<Instant>,
    client: reqwest::Client,
    admins: Vec<crate::phone::Phone>,
}

impl CloudSink {
    pub fn new(
        cfg: &SinkConfig,
        cloud: &CloudConfig,
        user_agent: &str,
        secrets: &Secrets,
    ) -> Result<CloudSink, BuildError> {
        let (version, phone) = (&cloud.api_version, &cloud.phone_number_id);
        // Configuration checks Meta's ceiling (1000 on its higher tier); only the benchmark
        // builds faster sinks.
        let mps = cloud.messages_per_second.max(1);
        let client = super::http_client(cfg, user_agent)?;
        let name = &cfg.name;
        Ok(CloudSink {
            name: name.clone(),
            endpoint: format!(
                "{}/{version}/{phone}/messages",
                cloud.api_base.as_str().trim_end_matches('/')
            ),
            token: Secret::resolve(secrets, name, "token_env", &cloud.token_env)?,
            app_secret: Secret::resolve(secrets, name, "app_secret_env", &cloud.app_secret_env)?,
            verify_token: Secret::resolve(
                secrets,
                name,
                "verify_token_env",
                &cloud.verify_token_env,
            )?,
            template: cloud.template.clone(),
            interval: Duration::from_secs(1) / mps,
            rate: mps,
            next_slot: Mutex::new(Instant::now()),
            client,
            admins: cloud.admins.clone(),
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn has_template(&self) -> bool {
        self.template.is_some()
    }

    /// The free-form body for a recipient inside the 24-hour window: an image with the text
    /// as caption when there is an image and the text fits, else text with a link preview.
    pub fn free_form(message: &Message, to: &str) -> Value {
        match message
            .image
            .as_deref()
            .filter(|i| crate::link::shareable_image(i))
        {
            Some(image) if message.text.chars().count() <= MAX_CAPTION => json!({
                "messaging_product": "whatsapp",
                "recipient_type": "individual",
                "to": to,
                "type": "image",
                "image": {"link": image, "caption": message.text},
            }),
            _ => Self::text(&message.text, to),
        }
    }

    pub fn text(body: &str, to: &str) -> Value {
        json!({
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": to,
            "type": "text",
            "text": {"body": body, "preview_url": true},
        })
    }

    /// A template to one number with the given body parameters (the citizens' page's
    /// sign-up confirmation: {{1}} the comune's name).
    pub fn template_with(template: &Template, params: &[&str], to: &str) -> Value {
        let parameters: Vec<Value> = params
            .iter()
            .map(|p| json!({"type": "text", "text": template_param(p)}))
            .collect();
        json!({
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": to,
            "type": "template",
            "template": {
                "name": template.name,
                "language": {"code": template.language, "policy": "deterministic"},
                "components": [{"type": "body", "parameters": parameters}],
            },
        })
    }

    /// The template body: parameters {{1}} title and {{2}} link (for an admin alert, its
    /// reason: the admins' template says what went wrong).
    pub fn templated(&self, message: &Message, to: &str) -> Option<Value> {
        let t = self.template.as_ref()?;
        let second = match message.extra.get("alert_detail").and_then(|d| d.as_str()) {
            Some(detail) if message.kind == "alert" => crate::text::truncate(detail, 400),
            _ => message.url.clone(),
        };
        let title = template_title(message);
        Some(Self::template_with(t, &[&title, &second], to))
    }

    /// Sends an admin alert to each admin number: as text, or as the template when the admin
    /// has not written to the number in the last 24 hours (WhatsApp allows only a template
    /// then). Taken when at least one admin got it; never to subscribers. A sink with no
    /// admins sends nothing this way (configuration refuses it in `settings.alerts`).
    pub async fn send_to_admins(&self, message: &Message) -> Result<Receipt, SinkError> {
        let mut first: Option<String> = None;
        let mut why: Option<String> = None;
        for (i, admin) in self.admins.iter().enumerate() {
            let mut outcome = self.post(&Self::text(&message.text, admin.as_str())).await;
            if let (CloudOutcome::NeedsTemplate { .. }, Some(body)) =
                (&outcome, self.templated(message, admin.as_str()))
            {
                outcome = self.post(&body).await;
            }
            match outcome {
                CloudOutcome::Sent { wamid } => {
                    first.get_or_insert(wamid);
                }
                failed => {
                    // The admin's place in the list, not the number: numbers stay out of logs.
                    tracing::warn!(sink = %self.name, admin = i + 1, error = %failed.detail(), "admin alert not delivered");
                    why = Some(failed.detail().to_owned());
                }
            }
        }
        match first {
            Some(wamid) => Ok(Receipt {
                provider_id: Some(wamid),
            }),
            None => Err(SinkError::NotSent(Why::from(
                why.unwrap_or_else(|| "no admin numbers".into()),
            ))),
        }
    }

    /// Waits for the next send slot: at most `messages_per_second` requests start per second.
    async fn pace(&self) {
        let slot = {
            let mut next = self.next_slot.lock().await;
            let now = Instant::now();
            let slot = (*next).max(now);
            *next = slot + self.interval;
            slot
        };
        tokio::time::sleep_until(slot).await;
    }

    /// The configured rate, in messages per second.
    pub fn rate(&self) -> u32 {
        self.rate
    }

    /// Sends one request body.
    pub async fn post(&self, body: &Value) -> CloudOutcome {
        self.pace().await;
        self.send(body).await
    }

    /// Sends one request body, unless `proceed` says no once its send slot comes (the
    /// broadcast stopped, the number unsubscribed meanwhile); also says how long the provider
    /// took to answer (the wait for the slot not counted).
    pub async fn post_timed(
        &self,
        body: &Value,
        proceed: impl FnOnce() -> bool,
    ) -> Option<(CloudOutcome, Duration)> {
        self.pace().await;
        if !proceed() {
            return None;
        }
        let started = Instant::now();
        let outcome = self.send(body).await;
        Some((outcome, started.elapsed()))
    }

    async fn send(&self, body: &Value) -> CloudOutcome {
        let result = self
            .client
            .post(&self.endpoint)
            .bearer_auth(self.token.expose())
            .json(body)
            .send()
            .await;
        let resp = match result {
            Ok(r) => r,
            Err(e) if e.is_connect() || e.is_builder() => {
                return CloudOutcome::NotSent {
                    detail: e.to_string(),
                }
            }
            Err(e) => {
                return CloudOutcome::MaybeSent {
                    detail: e.to_string(),
                }
            }
        };
        let status = resp.status();
        let text = match resp.text().await {
            Ok(t) => t,
            Err(e) => {
                return CloudOutcome::MaybeSent {
                    detail: format!("response cut off: {e}"),
                }
            }
        };
        let json: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        if let Some(wamid) = json["messages"][0]["id"].as_str() {
            return CloudOutcome::Sent {
                wamid: wamid.to_owned(),
            };
        }
        let err = &json["error"];
        match err["code"].as_i64() {
            Some(code) => {
                let detail = format!(
                    "{} (code {code}{}, fbtrace_id {})",
                    err["error_data"]["details"]
                        .as_str()
                        .or(err["message"].as_str())
                        .unwrap_or("error"),
                    err["error_subcode"]
                        .as_i64()
                        .map(|s| format!("/{s}"))
                        .unwrap_or_default(),
                    err["fbtrace_id"].as_str().unwrap_or("-")
                );
                classify(code, detail)
            }
            // No Graph error body: a proxy or an outage answered.
            None if status.is_server_error() => CloudOutcome::Retry {
                code: 0,
                detail: format!("HTTP {status}"),
            },
            None => CloudOutcome::MaybeSent {
                detail: format!("HTTP {status} without a message id"),
            },
        }
    }
}

/// The title a template carries. An alert's says what citizens need without opening it:
/// the level (in its headline), the area and until when.
pub fn template_title(message: &Message) -> String {
    let text = |key: &str| message.extra.get(key).and_then(|v| v.as_str());
    if text("msg_type").is_none() {
        return message.title.clone();
    }
    let mut line = message.title.clone();
    if let Some(area) = text("area").filter(|a| !a.is_empty()) {
        line.push_str(" – ");
        line.push_str(area);
    }
    if let Some(until) = text("until_it").filter(|_| text("msg_type") != Some("Cancel")) {
        line.push_str(" – fino alle ");
        line.push_str(until);
    }
    line
}

/// Template parameters may hold no newlines, tabs or runs of spaces.
pub fn template_param(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_classified() {
        assert!(matches!(
            classify(130429, String::new()),
            CloudOutcome::Throttled { .. }
        ));
        assert!(matches!(
            classify(131056, String::new()),
            CloudOutcome::RecipientThrottled { .. }
        ));
        assert!(matches!(
            classify(131047, String::new()),
            CloudOutcome::NeedsTemplate { .. }
        ));
        assert!(matches!(
            classify(131026, String::new()),
            CloudOutcome::RecipientFailed { .. }
        ));
        assert!(matches!(
            classify(190, String::new()),
            CloudOutcome::AccountProblem { .. }
        ));
        assert!(matches!(
            classify(368, String::new()),
            CloudOutcome::AccountProblem { .. }
        ));
        assert!(matches!(
            classify(131000, String::new()),
            CloudOutcome::Retry { .. }
        ));
        // A template that cannot be used fails everyone: the sink pauses; a message the
        // template's parameters refuse fails that message's recipients.
        for code in [132000, 132001, 132015, 132016] {
            assert!(matches!(
                classify(code, String::new()),
                CloudOutcome::AccountProblem { .. }
            ));
        }
        assert!(matches!(
            classify(132018, String::new()),
            CloudOutcome::RecipientFailed { .. }
        ));
    }

    #[test]
    fn an_alerts_template_carries_level_area_and_time() {
        let mut extra = serde_json::Map::new();
        extra.insert("msg_type".into(), "Alert".into());
        extra.insert("area".into(), "Borgo Esempio".into());
        extra.insert("until_it".into(), "00:30 di giovedì 27 novembre".into());
        let message = Message {
            id: "a".into(),
            source: "pc".into(),
            kind: "cap".into(),
            title: "Allerta arancione: piena del fiume Po".into(),
            url: "https://allerte.example.it/".into(),
            text: String::new(),
            image: None,
            priority: crate::config::Priority::Urgent,
            published: None,
            tags: Vec::new(),
            extra,
        };
        assert_eq!(
            template_title(&message),
            "Allerta arancione: piena del fiume Po – Borgo Esempio – fino alle 00:30 di giovedì 27 novembre"
        );
    }

    #[test]
    fn template_params_are_flat() {
        assert_eq!(template_param("Titolo\n\tcon   spazi "), "Titolo con spazi");
    }
}
