//! The records kept in the store, and their names in words.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::fetch::Validators;
use crate::ident::Key;
use crate::item::Message;

/// What the store remembers about one source.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SourceState {
    /// The first successful poll recorded what was there; from then on new items are sent.
    pub baselined: bool,
    #[serde(default)]
    pub validators: Validators,
    pub last_success: Option<DateTime<Utc>>,
    pub last_attempt: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    /// The same, in Italian (the admin UI).
    #[serde(default)]
    pub last_error_it: Option<String>,
    #[serde(default)]
    pub consecutive_failures: u32,
    pub next_poll: Option<DateTime<Utc>>,
    /// Items recorded as seen, over the source's life.
    #[serde(default)]
    pub items_seen: u64,
    /// Items in the last successful parse.
    #[serde(default)]
    pub items_present: usize,
    /// When a poll last found new items (the baseline counts as a start).
    #[serde(default)]
    pub last_new_at: Option<DateTime<Utc>>,
    /// The source's rhythm: a moving average of the gaps between polls that found new items,
    /// in seconds, and how many gaps it has seen.
    #[serde(default)]
    pub new_gap_secs: Option<f64>,
    #[serde(default)]
    pub new_gaps: u32,
    /// When the server's TLS certificate expires, as of the last successful poll.
    #[serde(default)]
    pub certificate_expires: Option<DateTime<Utc>>,
    /// Before 0.2, one key (hex) per item present at the last successful parse; now a flag of
    /// the source's seen keys. Read once, when an old store is opened; never written.
    #[serde(default, rename = "present", skip_serializing)]
    pub(super) legacy_present: Vec<String>,
}

impl SourceState {
    /// A poll found new items at `now`: the rhythm learns the gap since the last ones.
    pub fn note_new_items(&mut self, now: DateTime<Utc>) {
        if let Some(last) = self.last_new_at {
            let gap = (now - last).num_seconds().max(0) as f64;
            self.new_gap_secs = Some(match self.new_gap_secs {
                Some(average) => 0.7 * average + 0.3 * gap,
                None => gap,
            });
            self.new_gaps = self.new_gaps.saturating_add(1);
        }
        self.last_new_at = Some(now);
    }
}

/// A queued message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutboxEntry {
    pub seq: u64,
    pub message: Message,
    pub enqueued_at: DateTime<Utc>,
}

/// Where a delivery of one message to one sink stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeliveryState {
    /// About to be sent (written and flushed before the request).
    Intent,
    /// Accepted by the sink.
    Sent,
    /// The request may or may not have arrived; never re-sent automatically.
    Unknown,
    /// Refused for good by the sink.
    Failed,
    /// Not for this sink (its `only_priority` or `tags`): nothing sent, nothing to retry.
    Skipped,
    /// An admin asked for another try after `failed` or `unknown`: the message is back in the
    /// outbox for this sink, and is sent again with a fresh intent (for a broadcast, only to
    /// the recipients the admin chose).
    Requeued,
}

impl DeliveryState {
    pub fn is_final(self) -> bool {
        !matches!(self, DeliveryState::Intent | DeliveryState::Requeued)
    }

    /// The state's name in English (the command line) and Italian (the admin UI).
    pub fn label(self) -> Label {
        match self {
            DeliveryState::Intent => Label("intent", "in corso"),
            DeliveryState::Sent => Label("sent", "inviato"),
            DeliveryState::Unknown => Label("unknown", "esito incerto"),
            DeliveryState::Failed => Label("failed", "non riuscito"),
            DeliveryState::Requeued => Label("requeued", "da riprovare"),
            DeliveryState::Skipped => Label("skipped", "non per questo canale"),
        }
    }
}

/// A state's name in English and in Italian.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Label(pub &'static str, pub &'static str);

impl Label {
    pub fn en(self) -> &'static str {
        self.0
    }
    pub fn it(self) -> &'static str {
        self.1
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeliveryRecord {
    pub state: DeliveryState,
    pub at: DateTime<Utc>,
    pub provider_id: Option<String>,
    pub detail: Option<String>,
}

/// A message whose deliveries are all final.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogEntry {
    pub seq: u64,
    pub message: Message,
    pub enqueued_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
}

/// An alert that was sent, so that its updates and cancellations can refer to it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SentAlert {
    pub title: String,
    pub url: String,
    /// When it was queued (records written before this field existed have none; pruning
    /// stamps them, so they too are forgotten in time).
    #[serde(default)]
    pub sent_at: Option<DateTime<Utc>>,
    /// Its level ("arancione"), so an update can say how it changed.
    #[serde(default)]
    pub colour: Option<String>,
    /// Sent as urgent: its updates and its end are urgent too (never held by quiet hours).
    #[serde(default)]
    pub urgent: bool,
}

/// The last level a bulletin announced for an area.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Level {
    pub level: String,
    pub expires: Option<DateTime<Utc>>,
    /// When it was announced (see [`SentAlert::sent_at`]).
    #[serde(default)]
    pub at: Option<DateTime<Utc>>,
}

/// An opted-in citizen. Only the number and the consent are kept.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Subscriber {
    pub consented_at: DateTime<Utc>,
    /// The words of the consent (the keyword they sent, or the import's consent column).
    pub consent_text: String,
    /// The inbound message that gave consent, when it came through WhatsApp.
    pub consent_message_id: Option<String>,
    /// When they last wrote to us: free-form messages are allowed for 24 hours after.
    pub last_inbound_at: Option<DateTime<Utc>>,
    /// The topics and zones they chose, and each change (empty: the default).
    #[serde(default, skip_serializing_if = "is_default")]
    pub selection: crate::audience::Selection,
}

fn is_default(s: &crate::audience::Selection) -> bool {
    *s == crate::audience::Selection::default()
}

/// Where the delivery of one message to one recipient stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RecipientState {
    /// Written (and flushed) before the request.
    Intent,
    /// Refused for now (rate limit for this recipient): tried again after `not_before`.
    Retry,
    /// The request's fate is unknown: never re-sent automatically.
    Unknown,
    /// Accepted by the provider.
    Sent,
    Delivered,
    Read,
    /// Refused for good, or reported failed by a status webhook.
    Failed,
}

impl RecipientState {
    pub fn is_final(self) -> bool {
        !matches!(self, RecipientState::Intent | RecipientState::Retry)
    }

    /// The state's name in English (the command line) and Italian (the admin UI).
    pub fn label(self) -> Label {
        match self {
            RecipientState::Intent => Label("intent", "in corso"),
            RecipientState::Retry => Label("retry", "da riprovare"),
            RecipientState::Unknown => Label("unknown", "esito incerto"),
            RecipientState::Sent => Label("sent", "inviato"),
            RecipientState::Delivered => Label("delivered", "consegnato"),
            RecipientState::Read => Label("read", "letto"),
            RecipientState::Failed => Label("failed", "non riuscito"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecipientRecord {
    pub state: RecipientState,
    pub at: DateTime<Utc>,
    pub wamid: Option<String>,
    pub detail: Option<String>,
    #[serde(default)]
    pub attempts: u32,
    pub not_before: Option<DateTime<Utc>>,
}

/// A sink stopped by an account problem, and until when.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Pause {
    pub until: DateTime<Utc>,
    pub reason: String,
    /// The provider's error code that caused it (pauses written before this field have none).
    #[serde(default)]
    pub code: Option<i64>,
}

/// How a sink has been doing lately, rewritten by each delivery to it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SinkHealth {
    pub last_success: Option<DateTime<Utc>>,
    pub last_error: Option<SinkFailure>,
    /// Failed requests since the last success.
    #[serde(default)]
    pub failures: u32,
    /// When the deliverer tries again after a failure it retries by itself.
    pub next_retry: Option<DateTime<Utc>>,
}

/// One failed send (or, for a broadcast, the last failure of a batch).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SinkFailure {
    pub at: DateTime<Utc>,
    /// What became of the message.
    pub outcome: FailureOutcome,
    pub message_id: Option<String>,
    /// The provider's HTTP status, when it answered.
    pub http_status: Option<u16>,
    /// The provider's error code (WhatsApp Cloud API).
    pub code: Option<i64>,
    /// The provider's (or the system's) words, as received.
    pub detail: String,
}

/// What a failed send came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FailureOutcome {
    /// Certainly not delivered; the deliverer tries again by itself.
    Retry,
    /// Refused for good.
    Failed,
    /// May have arrived; never re-sent automatically.
    Unknown,
    /// The account cannot send: the sink is paused.
    Paused,
}

impl FailureOutcome {
    pub fn label(self) -> Label {
        match self {
            FailureOutcome::Retry => Label("retry", "sarà riprovato"),
            FailureOutcome::Failed => Label("failed", "non riuscito"),
            FailureOutcome::Unknown => Label("unknown", "esito incerto"),
            FailureOutcome::Paused => Label("paused", "canale in pausa"),
        }
    }
}

/// A message waiting for an editor.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QueueItem {
    pub message: Message,
    pub queued_at: DateTime<Utc>,
    /// Approved for sending at this time.
    pub send_at: Option<DateTime<Utc>>,
    pub edited: bool,
    /// Rejected at this time: hidden, and gone for good a minute later (the review tick).
    #[serde(default)]
    pub rejected_at: Option<DateTime<Utc>>,
    /// The source stopped listing the item at this time ("rimosso dalla fonte").
    #[serde(default)]
    pub removed_at: Option<DateTime<Utc>>,
    /// The source changed the item after it was queued; the text was refreshed then.
    #[serde(default)]
    pub refreshed_at: Option<DateTime<Utc>>,
}

impl QueueItem {
    /// A message queued for review at `now`.
    pub fn new(message: Message, now: DateTime<Utc>) -> QueueItem {
        QueueItem {
            message,
            queued_at: now,
            send_at: None,
            edited: false,
            rejected_at: None,
            removed_at: None,
            refreshed_at: None,
        }
    }
}

/// One editorial action, kept for accountability.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEntry {
    pub at: DateTime<Utc>,
    pub who: String,
    pub action: AuditAction,
    pub subject: String,
    pub before: Option<String>,
    pub after: Option<String>,
    /// The review item acted on (its message id), for review actions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub item: Option<String>,
}

/// What was done, for the audit log. Stored by its kebab-case name ("send-scheduled").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AuditAction {
    Approve,
    Schedule,
    Edit,
    Reject,
    Expire,
    SendScheduled,
    SourceAdd,
    SourceEdit,
    SourceDelete,
    SourcePause,
    SourceResume,
    SourcePoll,
    TestSend,
    UserAdd,
    UserChange,
    Unreject,
    /// A failed or unknown delivery put back in the outbox.
    DeliveryRetry,
    /// A paused sink resumed before its pause ended.
    SinkResume,
    /// A batch held by flood protection sent to the review queue.
    SourceRelease,
    /// A batch held by flood protection dropped.
    SourceDiscard,
}

impl AuditAction {
    /// The action's name in English (the command line) and Italian (the admin UI).
    pub fn label(self) -> Label {
        match self {
            AuditAction::Approve => Label("approve", "approvato"),
            AuditAction::Schedule => Label("schedule", "programmato"),
            AuditAction::Edit => Label("edit", "modificato"),
            AuditAction::Reject => Label("reject", "rifiutato"),
            AuditAction::Expire => Label("expire", "scaduto senza revisione"),
            AuditAction::SendScheduled => Label("send-scheduled", "inviato come programmato"),
            AuditAction::SourceAdd => Label("source-add", "fonte aggiunta"),
            AuditAction::SourceEdit => Label("source-edit", "fonte modificata"),
            AuditAction::SourceDelete => Label("source-delete", "fonte eliminata"),
            AuditAction::SourcePause => Label("source-pause", "fonte in pausa"),
            AuditAction::SourceResume => Label("source-resume", "fonte ripresa"),
            AuditAction::SourcePoll => Label("source-poll", "lettura richiesta"),
            AuditAction::TestSend => Label("test-send", "invio di prova"),
            AuditAction::UserAdd => Label("user-add", "persona aggiunta"),
            AuditAction::UserChange => Label("user-change", "persona modificata"),
            AuditAction::Unreject => Label("unreject", "rifiuto annullato"),
            AuditAction::DeliveryRetry => Label("delivery-retry", "consegna riprovata"),
            AuditAction::SinkResume => Label("sink-resume", "canale ripreso"),
            AuditAction::SourceRelease => Label("source-release", "blocco rilasciato in revisione"),
            AuditAction::SourceDiscard => Label("source-discard", "blocco scartato"),
        }
    }
}

/// Everything one successful poll writes, in one transaction.
#[derive(Debug, Default)]
pub struct PollCommit {
    pub state: SourceState,
    /// Keys to record (new items) or refresh (items still present).
    pub touch: Vec<Key>,
    /// The primary key of every item in the document.
    pub present: Vec<Key>,
    pub messages: Vec<Message>,
    /// CAP alerts queued by this poll, by reference.
    pub sent_alerts: Vec<(String, SentAlert)>,
    /// Bulletin levels seen by this poll.
    pub levels: Vec<(String, Level)>,
    /// Messages for the review queue.
    pub review: Vec<Message>,
    /// Messages held with the source's batch (flood protection).
    pub held: Vec<Message>,
    /// What was decided about each new item, and why.
    pub decisions: Vec<super::DecisionRecord>,
    /// Story keys of the items that went out.
    pub stories: Vec<(crate::ident::Key, super::StoryRecord)>,
    /// Sent feed items to remember (new sends, corrections, versions seen).
    pub sent_items: Vec<super::SentItem>,
    /// Items waiting for review that the source changed: their new message (an item an
    /// editor edited keeps the editor's text).
    pub queue_refresh: Vec<Message>,
    /// Ids of items waiting for review that the source no longer lists.
    pub queue_removed: Vec<String>,
}

impl PollCommit {
    /// Nothing but the source's state and seen keys to write: a baseline, or a document
    /// with nothing new.
    pub fn bookkeeping_only(&self) -> bool {
        self.messages.is_empty()
            && self.sent_alerts.is_empty()
            && self.levels.is_empty()
            && self.review.is_empty()
            && self.held.is_empty()
            && self.decisions.is_empty()
            && self.stories.is_empty()
            && self.sent_items.is_empty()
            && self.queue_refresh.is_empty()
            && self.queue_removed.is_empty()
    }
}
