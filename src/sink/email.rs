//! E-mail over SMTP (lettre): each message to a fixed list of addresses, for admin alerts
//! (`settings.alerts`) or for a newsroom's or a mailing list's inbox. The title is the
//! subject; the text, WhatsApp's `*bold*` and all, is the body.
//!
//! The server is `smtp_host`, `smtp_port` and `tls` (`starttls`, `tls`, or `none` to a relay
//! on this machine only: `check` refuses it elsewhere), made into lettre's connection URL by
//! the configuration. The user and the password come from the variables `username_env` and
//! `password_env` name. Each mail's Message-ID is made from the message's id, so that a
//! retried mail is recognised as the same one.

use lettre::message::{header::ContentType, Mailbox};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};

use super::secret::{Secret, Secrets};
use super::{BuildError, Receipt, SinkError};
use crate::config::{EmailConfig, SinkConfig};
use crate::item::Message;

#[derive(Debug)]
pub struct EmailSink {
    name: String,
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    to: Vec<Mailbox>,
}

impl EmailSink {
    pub fn new(
        cfg: &SinkConfig,
        email: &EmailConfig,
        secrets: &Secrets,
    ) -> Result<EmailSink, BuildError> {
        let invalid = |why: String| BuildError::Invalid {
            sink: cfg.name.clone(),
            why,
        };
        // The user travels apart from the URL, with the password from the environment.
        let mut url = email.smtp.clone();
        let user = match &email.username_env {
            Some(var) => Secret::resolve(secrets, &cfg.name, "username_env", var)?
                .expose()
                .to_owned(),
            None => percent_encoding::percent_decode_str(url.username())
                .decode_utf8_lossy()
                .into_owned(),
        };
        let _ = url.set_username("");
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::from_url(url.as_str())
            .map_err(|e| invalid(format!("smtp: {e}")))?
            .timeout(Some(
                cfg.timeout.unwrap_or(std::time::Duration::from_secs(30)),
            ));
        if let Some(var) = &email.password_env {
            let password = Secret::resolve(secrets, &cfg.name, "password_env", var)?;
            builder = builder.credentials(Credentials::new(user, password.expose().to_owned()));
        }
        let mailbox = |a: &str| {
            a.parse::<Mailbox>()
                .map_err(|e| invalid(format!("{a:?} is not an e-mail address: {e}")))
        };
        Ok(EmailSink {
            name: cfg.name.clone(),
            transport: builder.build(),
            from: mailbox(&email.from)?,
            to: email
                .to
                .iter()
                .map(|a| mailbox(a))
                .collect::<Result<_, _>>()?,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Sends one e-mail to every address. A refusal for good (5xx) is final; anything else
    /// is tried again (a mail server that took the message but whose answer was lost would
    /// then deliver it twice: e-mail has no idempotency key).
    pub async fn send(&self, message: &Message) -> Result<Receipt, SinkError> {
        let mut email = lettre::Message::builder()
            .from(self.from.clone())
            .subject(message.title.clone())
            .message_id(Some(format!(
                "<{}@banditore>",
                message_id_part(&message.id)
            )))
            .header(ContentType::TEXT_PLAIN);
        for to in &self.to {
            email = email.to(to.clone());
        }
        let email = email
            .body(message.text.clone())
            .map_err(|e| SinkError::Rejected(e.to_string().into()))?;
        match self.transport.send(email).await {
            Ok(_) => Ok(Receipt::default()),
            Err(e) if e.is_permanent() => Err(SinkError::Rejected(e.to_string().into())),
            Err(e) => Err(SinkError::NotSent(e.to_string().into())),
        }
    }
}

/// A message id as the left part of a Message-ID: what RFC 5322 allows there (`dot-atom`
/// letters, digits and a few signs); anything else as `-`.
fn message_id_part(id: &str) -> String {
    id.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~.".contains(c) {
                c
            } else {
                '-'
            }
        })
        .collect()
}
