//! A test send: one message, marked as a test, to one sink, before a source or a template goes
//! live. It is not a delivery to citizens: nothing goes through the outbox or the ledger, and a
//! sink that would reach everyone (a WhatsApp Channel) refuses it. The Cloud API sink sends to
//! one number given for the test (the editor's own), never to the subscribers.

use crate::item::Message;
use crate::phone::Phone;
use crate::sink::whatsapp_cloud::{CloudOutcome, CloudSink};
use crate::sink::{Sink, SinkError};

/// Why a test send did not happen, in Italian.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TrialError {
    #[error("un canale WhatsApp non ha destinatari di prova: ogni messaggio arriva a tutti i suoi follower")]
    Channel,
    #[error("per una prova su WhatsApp indica il tuo numero di cellulare")]
    NeedsNumber,
    #[error("{0}")]
    Failed(String),
    /// The sink's own refusal (its words are the provider's: the admin UI says them in
    /// Italian).
    #[error("non inviato a {sink}: {error}")]
    Sink { sink: String, error: SinkError },
}

/// The message as a test: its own id (so a receiver that dedupes by id still takes the real
/// one later), "PROVA" in the title and at the top of the text, and `test: true`.
pub fn as_test(message: &Message, stamp: i64) -> Message {
    let mut test = message.clone();
    test.id = format!("prova-{}-{stamp}", message.id);
    test.title = format!("[PROVA] {}", message.title);
    test.text = format!(
        "[PROVA: messaggio di prova, non per i cittadini]\n\n{}",
        message.text
    );
    test.extra.insert("test".into(), true.into());
    test
}

/// Sends `message` (already marked with [`as_test`]) to `sink`; `to` is the number for the
/// Cloud API. Returns what happened, in Italian.
pub async fn send(
    sink: &Sink,
    message: &Message,
    to: Option<&Phone>,
) -> Result<String, TrialError> {
    match sink {
        Sink::Gateway(_) => Err(TrialError::Channel),
        Sink::Cloud(cloud) => {
            let to = to.ok_or(TrialError::NeedsNumber)?;
            cloud_send(cloud, message, to).await
        }
        other => other
            .send(message)
            .await
            .map(|_| format!("inviato a {}", other.name()))
            .map_err(|error| TrialError::Sink {
                sink: other.name().to_owned(),
                error,
            }),
    }
}

/// The approved template when there is one (it reaches a number that has not written in the
/// last 24 hours), else the free-form message.
async fn cloud_send(
    cloud: &CloudSink,
    message: &Message,
    to: &Phone,
) -> Result<String, TrialError> {
    let body = cloud
        .templated(message, to.as_str())
        .unwrap_or_else(|| CloudSink::free_form(message, to.as_str()));
    match cloud.post(&body).await {
        CloudOutcome::Sent { wamid } => Ok(format!(
            "inviato a {to} (identificativo WhatsApp {wamid})"
        )),
        CloudOutcome::NeedsTemplate { .. } => Err(TrialError::Failed(format!(
            "WhatsApp accetta testo libero solo da chi ha scritto al numero del Comune nelle ultime 24 ore: scrivi un messaggio da {to} e riprova, o configura un modello approvato"
        ))),
        CloudOutcome::MaybeSent { detail } => Err(TrialError::Failed(format!(
            "esito incerto ({detail}): controlla il telefono prima di riprovare"
        ))),
        CloudOutcome::NotSent { detail } => {
            Err(TrialError::Failed(format!("non inviato: {detail}")))
        }
        CloudOutcome::Throttled { code, detail }
        | CloudOutcome::RecipientThrottled { code, detail }
        | CloudOutcome::RecipientFailed { code, detail }
        | CloudOutcome::AccountProblem { code, detail }
        | CloudOutcome::Retry { code, detail } => Err(TrialError::Failed(format!(
            "WhatsApp ha rifiutato l'invio (codice {code}: {detail})"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Priority;

    #[test]
    fn a_test_message_says_so_and_has_its_own_id() {
        let m = Message {
            id: "abc".into(),
            source: "s".into(),
            kind: "feed".into(),
            title: "Avviso".into(),
            url: "https://a.example/".into(),
            text: "*Avviso*\n\nhttps://a.example/".into(),
            image: None,
            priority: Priority::Normal,
            published: None,
            tags: vec![],
            extra: Default::default(),
        };
        let t = as_test(&m, 42);
        assert_eq!(t.id, "prova-abc-42");
        assert!(t.title.starts_with("[PROVA]"));
        assert!(t.text.starts_with("[PROVA"));
        assert!(t.text.ends_with(&m.text));
        assert_eq!(t.extra["test"], true);
    }
}
