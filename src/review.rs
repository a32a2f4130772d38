//! The review queue: editors approve, edit, schedule or reject what a `forward = "review"`
//! source found. Every action is written to the audit log (who, when, before and after).

use chrono::{DateTime, Utc};

use crate::format::MAX_TEXT;
use crate::store::{AuditAction, AuditEntry, QueueItem, Store, StoreError};

/// Why a review action was refused. `Display` is English (the command line);
/// [`ReviewError::italian`] is what the admin UI shows.
#[derive(Debug, thiserror::Error)]
pub enum ReviewError {
    #[error("no item {0:?} is waiting for review")]
    NotFound(String),
    #[error("the title cannot be empty")]
    EmptyTitle,
    #[error("the text is longer than WhatsApp's {MAX_TEXT} characters")]
    TooLong,
    #[error("the title is longer than {} characters", crate::format::MAX_TITLE)]
    TitleTooLong,
    #[error("the official link {0} must stay in the text, on a line of its own")]
    LinkMissing(String),
    #[error("the time to send must be in the future")]
    NotFuture,
    #[error("the rejection can no longer be undone")]
    TooLate,
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl ReviewError {
    /// The reason in Italian, for editors.
    pub fn italian(&self) -> String {
        match self {
            ReviewError::NotFound(_) => {
                "Questo messaggio non è più da approvare: forse un collega l'ha già approvato o rifiutato, o è scaduto.".into()
            }
            ReviewError::EmptyTitle => "Il titolo non può essere vuoto.".into(),
            ReviewError::TitleTooLong => format!(
                "Il titolo supera i {} caratteri: accorcialo (è anche il testo del modello WhatsApp).",
                crate::format::MAX_TITLE
            ),
            ReviewError::TooLong => format!(
                "Il testo supera i {MAX_TEXT} caratteri che WhatsApp accetta: accorcialo."
            ),
            ReviewError::LinkMissing(url) => format!(
                "Il link ufficiale {url} deve restare nel testo, su una riga da solo."
            ),
            ReviewError::NotFuture => "Indica una data e un'ora future.".into(),
            ReviewError::TooLate => "È passato più di un minuto: il rifiuto non si può più annullare.".into(),
            ReviewError::Store(_) => {
                "Errore interno nel salvare: riprova; se si ripete avvisa l'amministratore.".into()
            }
        }
    }

    /// A problem with what the editor wrote (their text should be shown again with the reason).
    pub fn is_invalid_input(&self) -> bool {
        matches!(
            self,
            ReviewError::EmptyTitle
                | ReviewError::TitleTooLong
                | ReviewError::TooLong
                | ReviewError::LinkMissing(_)
                | ReviewError::NotFuture
        )
    }
}

/// How long a rejection can be undone.
pub const UNDO: chrono::Duration = chrono::Duration::seconds(60);

/// What is waiting, oldest first (not what was just rejected).
pub fn pending(store: &Store) -> Result<Vec<QueueItem>, StoreError> {
    let mut items: Vec<QueueItem> = store
        .queue()
        .filter(|r| r.as_ref().map_or(true, |i| i.rejected_at.is_none()))
        .collect::<Result<_, _>>()?;
    items.sort_by_key(|i| i.queued_at);
    Ok(items)
}

/// Items rejected less than [`UNDO`] ago, newest first: their rejection can still be undone.
pub fn recently_rejected(store: &Store, now: DateTime<Utc>) -> Result<Vec<QueueItem>, StoreError> {
    let mut items: Vec<QueueItem> = store
        .queue()
        .filter(|r| {
            r.as_ref()
                .map_or(true, |i| i.rejected_at.is_some_and(|at| now - at < UNDO))
        })
        .collect::<Result<_, _>>()?;
    items.sort_by_key(|i| std::cmp::Reverse(i.rejected_at));
    Ok(items)
}

/// A waiting item (not a rejected one).
fn waiting(store: &Store, id: &str) -> Result<QueueItem, ReviewError> {
    store
        .queue_item(id)?
        .filter(|i| i.rejected_at.is_none())
        .ok_or_else(|| ReviewError::NotFound(id.to_owned()))
}

fn audit(
    store: &Store,
    at: DateTime<Utc>,
    who: &str,
    action: AuditAction,
    subject: &str,
    before: Option<String>,
    after: Option<String>,
) -> Result<(), StoreError> {
    store.audit(&AuditEntry {
        at,
        who: who.to_owned(),
        action,
        subject: subject.to_owned(),
        before,
        after,
    })
}

/// What an approval did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Approved {
    /// Moved to the outbox: the delivery loop should be woken.
    Queued,
    /// Scheduled for later.
    Scheduled,
}

/// Approves an item: queued for delivery now, or at `send_at` when given (and in the future).
pub fn approve(
    store: &Store,
    now: DateTime<Utc>,
    id: &str,
    who: &str,
    send_at: Option<DateTime<Utc>>,
) -> Result<Approved, ReviewError> {
    let mut item = waiting(store, id)?;
    match send_at.filter(|t| *t > now) {
        Some(at) => {
            item.send_at = Some(at);
            store.put_queue_item(&item)?;
            store.flush()?;
            audit(
                store,
                now,
                who,
                AuditAction::Schedule,
                &item.message.title,
                None,
                Some(at.to_rfc3339()),
            )?;
            Ok(Approved::Scheduled)
        }
        None => {
            store.release(id, true, now)?;
            audit(
                store,
                now,
                who,
                AuditAction::Approve,
                &item.message.title,
                None,
                None,
            )?;
            Ok(Approved::Queued)
        }
    }
}

/// Rejects an item. For [`UNDO`] it can be taken back ([`unreject`]); then [`tick`] lets it go.
pub fn reject(store: &Store, now: DateTime<Utc>, id: &str, who: &str) -> Result<(), ReviewError> {
    let mut item = waiting(store, id)?;
    item.rejected_at = Some(now);
    store.put_queue_item(&item)?;
    store.flush()?;
    audit(
        store,
        now,
        who,
        AuditAction::Reject,
        &item.message.title,
        Some(item.message.text),
        None,
    )?;
    Ok(())
}

/// Takes back a rejection made less than [`UNDO`] ago: the item waits for review again.
pub fn unreject(store: &Store, now: DateTime<Utc>, id: &str, who: &str) -> Result<(), ReviewError> {
    let mut item = store
        .queue_item(id)?
        .filter(|i| i.rejected_at.is_some_and(|at| now - at < UNDO))
        .ok_or(ReviewError::TooLate)?;
    item.rejected_at = None;
    store.put_queue_item(&item)?;
    store.flush()?;
    audit(
        store,
        now,
        who,
        AuditAction::Unreject,
        &item.message.title,
        None,
        None,
    )?;
    Ok(())
}

/// Replaces the title and the WhatsApp text. The text must stay within WhatsApp's limit and
/// keep the official link on a line of its own. Nothing is written (nor audited) when both are
/// as they were.
pub fn edit(
    store: &Store,
    now: DateTime<Utc>,
    id: &str,
    who: &str,
    title: &str,
    text: &str,
) -> Result<QueueItem, ReviewError> {
    let mut item = waiting(store, id)?;
    let title = crate::text::collapse_whitespace(title);
    let text = text.replace("\r\n", "\n").trim().to_owned();
    if title.is_empty() {
        return Err(ReviewError::EmptyTitle);
    }
    if title.chars().count() > crate::format::MAX_TITLE {
        return Err(ReviewError::TitleTooLong);
    }
    if text.chars().count() > MAX_TEXT {
        return Err(ReviewError::TooLong);
    }
    if !text.lines().any(|l| l.trim() == item.message.url) {
        return Err(ReviewError::LinkMissing(item.message.url.clone()));
    }
    if title == item.message.title && text == item.message.text {
        return Ok(item);
    }
    let before = format!("{}\n---\n{}", item.message.title, item.message.text);
    item.message.title = title;
    item.message.text = text;
    item.edited = true;
    store.put_queue_item(&item)?;
    store.flush()?;
    let after = format!("{}\n---\n{}", item.message.title, item.message.text);
    audit(
        store,
        now,
        who,
        AuditAction::Edit,
        &item.message.title,
        Some(before),
        Some(after),
    )?;
    Ok(item)
}

/// When the next item approved for later is due, if any.
pub fn next_scheduled(store: &Store) -> Result<Option<DateTime<Utc>>, StoreError> {
    let mut next: Option<DateTime<Utc>> = None;
    for item in store.queue() {
        let item = item?;
        if let (Some(at), None) = (item.send_at, item.rejected_at) {
            next = Some(next.map_or(at, |n| n.min(at)));
        }
    }
    Ok(next)
}

/// Releases scheduled items that are due and drops pending ones older than `expiry`.
/// Returns (released, expired).
pub fn tick(
    store: &Store,
    now: DateTime<Utc>,
    expiry: std::time::Duration,
) -> Result<(usize, usize), StoreError> {
    let expiry = chrono::Duration::from_std(expiry).unwrap_or(chrono::Duration::MAX);
    let (mut released, mut expired) = (0, 0);
    for item in store.queue() {
        let item = item?;
        if item.rejected_at.is_some_and(|at| now - at >= UNDO) {
            store.release(&item.message.id, false, now)?;
        }
    }
    for item in pending(store)? {
        let title = &item.message.title;
        match item.send_at {
            Some(at) if at <= now => {
                store.release(&item.message.id, true, now)?;
                audit(
                    store,
                    now,
                    "banditore",
                    AuditAction::SendScheduled,
                    title,
                    None,
                    None,
                )?;
                released += 1;
            }
            None if now - item.queued_at > expiry => {
                store.release(&item.message.id, false, now)?;
                audit(
                    store,
                    now,
                    "banditore",
                    AuditAction::Expire,
                    title,
                    None,
                    None,
                )?;
                expired += 1;
            }
            _ => {}
        }
    }
    Ok((released, expired))
}

/// Sends a source's batch held by flood protection to the review queue, where editors
/// approve or reject each item. Returns how many (0: nothing was held).
pub fn release_held(
    store: &Store,
    now: DateTime<Utc>,
    source: &str,
    who: &str,
) -> Result<usize, StoreError> {
    let n = store.release_held(source, now)?;
    if n > 0 {
        let after = Some(format!("{n} elementi in revisione"));
        audit(
            store,
            now,
            who,
            AuditAction::SourceRelease,
            source,
            None,
            after,
        )?;
    }
    Ok(n)
}

/// Drops a source's held batch (its items stay recorded as seen: they are never sent).
/// Returns how many.
pub fn discard_held(
    store: &Store,
    now: DateTime<Utc>,
    source: &str,
    who: &str,
) -> Result<usize, StoreError> {
    let n = store.discard_held(source)?;
    if n > 0 {
        let after = Some(format!("{n} elementi scartati"));
        audit(
            store,
            now,
            who,
            AuditAction::SourceDiscard,
            source,
            None,
            after,
        )?;
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::config::Priority;
    use crate::item::Message;

    fn item(id: &str, send_at: Option<DateTime<Utc>>) -> QueueItem {
        QueueItem {
            message: Message {
                id: id.into(),
                source: "eventi".into(),
                kind: "feed".into(),
                title: "t".into(),
                url: "https://c.example/".into(),
                text: "t".into(),
                image: None,
                priority: Priority::Normal,
                published: None,
                tags: vec![],
                extra: Default::default(),
            },
            queued_at: Utc.with_ymd_and_hms(2026, 11, 1, 8, 0, 0).unwrap(),
            send_at,
            edited: false,
            rejected_at: None,
        }
    }

    #[test]
    fn the_delivery_loop_wakes_for_the_earliest_scheduled_item() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), 1 << 20).unwrap();
        assert_eq!(next_scheduled(&store).unwrap(), None);
        let at = |h| Utc.with_ymd_and_hms(2026, 11, 2, h, 0, 0).unwrap();
        for (id, send_at) in [("a", Some(at(12))), ("b", None), ("c", Some(at(9)))] {
            store.put_queue_item(&item(id, send_at)).unwrap();
        }
        assert_eq!(next_scheduled(&store).unwrap(), Some(at(9)));
    }

    #[test]
    fn a_rejection_can_be_undone_for_a_minute_then_it_is_final() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), 1 << 20).unwrap();
        store.put_queue_item(&item("a", None)).unwrap();
        let t = Utc.with_ymd_and_hms(2026, 11, 2, 9, 0, 0).unwrap();
        let secs = |n| t + chrono::Duration::seconds(n);
        reject(&store, t, "a", "ed").unwrap();
        assert!(pending(&store).unwrap().is_empty());
        assert_eq!(recently_rejected(&store, secs(30)).unwrap().len(), 1);
        assert!(matches!(
            approve(&store, secs(1), "a", "ed", None),
            Err(ReviewError::NotFound(_))
        ));
        unreject(&store, secs(30), "a", "ed").unwrap();
        assert_eq!(pending(&store).unwrap().len(), 1);
        reject(&store, secs(40), "a", "ed").unwrap();
        assert!(matches!(
            unreject(&store, secs(101), "a", "ed"),
            Err(ReviewError::TooLate)
        ));
        tick(&store, secs(101), std::time::Duration::from_secs(3600)).unwrap();
        assert!(store.queue_item("a").unwrap().is_none());
        assert!(store.outbox().next().is_none(), "never sent");
    }
}
