//! An admin's retry of a `failed` or `unknown` delivery to one sink, and the rule that
//! guards it: an `unknown` delivery may already have arrived, so it is retried only with an
//! explicit confirmation. The retry itself is [`crate::store::Store::requeue`]: the message
//! goes back into the outbox and the next pass sends it with a fresh intent.

use super::Deliverer;
use crate::sink::Sink;
use crate::store::{DeliveryState, Requeue, RequeueError, Requeued, StoreError};

/// Why a retry was refused (the words are for the admin UI).
#[derive(Debug, thiserror::Error)]
pub enum RetryError {
    #[error("Nessun canale configurato si chiama «{0}».")]
    NoSink(String),
    #[error("Il messaggio non è più nel registro degli invii.")]
    NotFound,
    #[error("Si possono riprovare solo le consegne non riuscite o con esito incerto.")]
    NotRetryable,
    #[error("Il messaggio potrebbe essere già arrivato: per riprovare conferma di aver capito che i cittadini potrebbero riceverlo due volte.")]
    NeedsConfirmation,
    #[error(
        "L'invio di questo messaggio agli iscritti è ancora in corso: riprova quando è terminato."
    )]
    InProgress,
    #[error("La consegna è cambiata nel frattempo (ora è «{0}»): ricarica la pagina.")]
    Changed(&'static str),
    #[error("Nessun destinatario è più in quello stato: ricarica la pagina.")]
    NoRecipients,
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl Deliverer {
    /// Puts the `state` (failed or unknown) delivery of a message to `sink` back in the
    /// outbox; for the Cloud API broadcast, its recipients in that state. `confirmed`: the
    /// admin accepted that an `unknown` message may arrive twice. The caller wakes the
    /// delivery loop.
    pub fn requeue(
        &self,
        message_id: &str,
        sink: &str,
        state: DeliveryState,
        confirmed: bool,
        who: &str,
    ) -> Result<Requeued, RetryError> {
        let per_recipient = match self.sinks.iter().find(|s| s.name() == sink) {
            Some(Sink::Cloud(_)) => true,
            Some(_) => false,
            None => return Err(RetryError::NoSink(sink.to_owned())),
        };
        match state {
            DeliveryState::Failed => {}
            DeliveryState::Unknown if confirmed => {}
            DeliveryState::Unknown => return Err(RetryError::NeedsConfirmation),
            _ => return Err(RetryError::NotRetryable),
        }
        let retry = Requeue {
            message_id,
            sink,
            state,
            per_recipient,
            at: self.clock.now(),
            note: format!("retry requested by {who}"),
        };
        let requeued = self.store.requeue(&retry).map_err(|e| match e {
            RequeueError::NotFound(_) => RetryError::NotFound,
            RequeueError::State(None | Some(DeliveryState::Intent)) if per_recipient => {
                RetryError::InProgress
            }
            RequeueError::State(None) => RetryError::Changed("in attesa"),
            RequeueError::State(Some(now)) => RetryError::Changed(now.label().it()),
            RequeueError::NoRecipients => RetryError::NoRecipients,
            RequeueError::Store(e) => RetryError::Store(e),
        })?;
        tracing::info!(
            message = message_id,
            sink,
            ?state,
            who,
            recipients = requeued.recipients,
            "delivery put back for another try"
        );
        Ok(requeued)
    }
}
