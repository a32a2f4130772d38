//! E-mail over SMTP (lettre): each message to a fixed list of addresses (`to`, and `bcc` for a
//! list the comune keeps itself), for admin alerts (`settings.alerts`), a newsroom's inbox or
//! the comune's newsletter. The title is the subject; the body is text and HTML made from the
//! same message (`multipart/alternative`): the text without WhatsApp's markers, the HTML with
//! its bold and its links. With `list_unsubscribe`, every mail says how to stop receiving it,
//! in the `List-Unsubscribe` header (RFC 2369) and in a line at its end.
//!
//! The server is `smtp_host`, `smtp_port` and `tls` (`starttls`, `tls`, or `none` to a relay
//! on this machine only: `check` refuses it elsewhere), made into lettre's connection URL by
//! the configuration. The user and the password come from the variables `username_env` and
//! `password_env` name. Each mail's Message-ID is made from the message's id (at the sender's
//! domain), so that a retried mail is recognised as the same one.

use lettre::message::header::{HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};

use super::secret::{Secret, Secrets};
use super::{BuildError, Receipt, SinkError};
use crate::config::{EmailConfig, SinkConfig};
use crate::format::html::with_links;
use crate::item::Message;

#[derive(Debug)]
pub struct EmailSink {
    name: String,
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    to: Vec<Mailbox>,
    bcc: Vec<Mailbox>,
    list_unsubscribe: Option<String>,
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
            bcc: email
                .bcc
                .iter()
                .map(|a| mailbox(a))
                .collect::<Result<_, _>>()?,
            list_unsubscribe: email.list_unsubscribe.clone(),
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Sends one e-mail to every address. The server is asked first whether it takes a
    /// connection and the credentials (nothing is sent then): when it does not, the mail is
    /// tried again later, or the sink paused when the credentials are refused (535). A
    /// recipient refused for good does not stop the others: the mail goes to each address
    /// alone. A failure once the mail may have left (the connection lost after the data) is
    /// `unknown`: e-mail has no idempotency key, and sending again could deliver it twice.
    pub async fn send(&self, message: &Message) -> Result<Receipt, SinkError> {
        let email = self
            .mail(message)
            .map_err(|e| SinkError::Rejected(e.to_string().into()))?;
        if let Err(e) = self.transport.test_connection().await {
            return Err(match classify(&e) {
                Failure::Credentials => SinkError::Paused(why(&e)),
                Failure::Refused => SinkError::Rejected(why(&e)),
                // Nothing was sent.
                Failure::Later | Failure::Uncertain => SinkError::NotSent(why(&e)),
            });
        }
        let e = match self.transport.send(email.clone()).await {
            Ok(_) => return Ok(Receipt::default()),
            Err(e) => e,
        };
        match classify(&e) {
            Failure::Credentials => Err(SinkError::Paused(why(&e))),
            Failure::Later => Err(SinkError::NotSent(why(&e))),
            Failure::Uncertain => Err(SinkError::MaybeSent(why(&e))),
            Failure::Refused if email.envelope().to().len() > 1 => self.one_by_one(&email).await,
            Failure::Refused => Err(SinkError::Rejected(why(&e))),
        }
    }

    /// After a refusal of the whole mail (a recipient refused: the mail did not leave), the
    /// same mail to each address alone; the refused ones are named in the log.
    async fn one_by_one(&self, email: &lettre::Message) -> Result<Receipt, SinkError> {
        let bytes = email.formatted();
        let from = email.envelope().from().cloned();
        let (mut delivered, mut refused) = (0, Vec::new());
        for to in email.envelope().to() {
            let envelope = lettre::address::Envelope::new(from.clone(), vec![to.clone()])
                .map_err(|e| SinkError::Rejected(e.to_string().into()))?;
            match self.transport.send_raw(&envelope, &bytes).await {
                Ok(_) => delivered += 1,
                Err(e) => match classify(&e) {
                    Failure::Refused => refused.push(format!("{to} ({e})")),
                    _ if delivered > 0 => return Err(SinkError::MaybeSent(why(&e))),
                    Failure::Credentials => return Err(SinkError::Paused(why(&e))),
                    Failure::Later => return Err(SinkError::NotSent(why(&e))),
                    Failure::Uncertain => return Err(SinkError::MaybeSent(why(&e))),
                },
            }
        }
        if delivered == 0 {
            return Err(SinkError::Rejected(
                format!("every address refused: {}", refused.join("; ")).into(),
            ));
        }
        tracing::warn!(sink = %self.name, refused = %refused.join("; "), delivered, "some addresses were refused; the others got the mail");
        Ok(Receipt::default())
    }

    /// The mail for a message.
    pub fn mail(&self, message: &Message) -> Result<lettre::Message, lettre::error::Error> {
        let mut email = lettre::Message::builder()
            .from(self.from.clone())
            .subject(message.title.clone())
            .message_id(Some(format!(
                "<{}@{}>",
                message_id_part(&message.id),
                self.from.email.domain()
            )));
        for to in &self.to {
            email = email.to(to.clone());
        }
        if self.to.is_empty() {
            // Only a BCC list: the visible recipient is the sender, as lists do.
            email = email.to(self.from.clone());
        }
        for bcc in &self.bcc {
            email = email.bcc(bcc.clone());
        }
        if let Some(stop) = &self.list_unsubscribe {
            email = email.raw_header(HeaderValue::new(
                HeaderName::new_from_ascii_str("List-Unsubscribe"),
                format!("<{stop}>"),
            ));
        }
        let (text, html) = bodies(message, self.list_unsubscribe.as_deref());
        email.multipart(MultiPart::alternative_plain_html(text, html))
    }
}

/// A message's text and HTML bodies; `unsubscribe`, where a reader stops receiving.
pub fn bodies(message: &Message, unsubscribe: Option<&str>) -> (String, String) {
    let stop_line = "Per non ricevere più questi messaggi:";
    let mut text = crate::format::styles::plain(&message.text);
    if let Some(stop) = unsubscribe {
        text.push_str(&format!("\n\n--\n{stop_line} {}", how_to_stop(stop)));
    }
    let paragraphs: Vec<Vec<&str>> = message
        .text
        .split("\n\n")
        .map(|p| p.lines().collect())
        .filter(|p: &Vec<&str>| !p.is_empty())
        .collect();
    let image = message
        .image
        .as_deref()
        .filter(|i| crate::link::shareable_image(i));
    let html = maud::html! {
        (maud::DOCTYPE)
        html lang="it" {
            head { meta charset="utf-8"; title { (message.title) } }
            body style="font-family: sans-serif; max-width: 40em; line-height: 1.4" {
                @if let Some(src) = image {
                    img src=(src) alt="" style="max-width: 100%; height: auto";
                }
                @for lines in &paragraphs {
                    p {
                        @for (i, line) in lines.iter().enumerate() {
                            @if i > 0 { br; }
                            (with_links(line))
                        }
                    }
                }
                @if let Some(stop) = unsubscribe {
                    hr;
                    p style="font-size: small; color: #555" {
                        (stop_line) " " a href=(stop) { "annulla l'iscrizione" }
                    }
                }
            }
        }
    };
    (text, html.into_string())
}

/// What an SMTP failure means for the mail.
enum Failure {
    /// The server refused the credentials (530, 534, 535): nothing goes until an admin acts.
    Credentials,
    /// A refusal for good (5xx).
    Refused,
    /// A refusal for now (4xx): the server did not take the mail.
    Later,
    /// No answer (the connection lost, a timeout): the mail may have been taken.
    Uncertain,
}

fn classify(e: &lettre::transport::smtp::Error) -> Failure {
    let code = e.status().map(|c| c.to_string());
    if matches!(code.as_deref(), Some("530" | "534" | "535")) {
        Failure::Credentials
    } else if e.is_permanent() {
        Failure::Refused
    } else if e.is_transient() {
        Failure::Later
    } else {
        Failure::Uncertain
    }
}

fn why(e: &lettre::transport::smtp::Error) -> super::Why {
    super::Why::from(e.to_string())
}

/// Where to stop, as a reader follows it: "scrivi a lista@… (oggetto: cancellami)" for a
/// `mailto:`, the address itself for a page.
fn how_to_stop(stop: &str) -> String {
    let Some(mailto) = stop.strip_prefix("mailto:") else {
        return stop.to_owned();
    };
    let (address, query) = mailto.split_once('?').unwrap_or((mailto, ""));
    let subject = url::form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k.eq_ignore_ascii_case("subject"))
        .map(|(_, v)| format!(" (oggetto: {v})"))
        .unwrap_or_default();
    format!("scrivi a {address}{subject}")
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
