//! The review queue: editors approve, edit, schedule or reject what a `forward = "review"`
//! source found. Every action is written to the audit log (who, when, before and after).

use chrono::{DateTime, Utc};

use crate::format::MAX_TEXT;
use crate::store::{AuditAction, AuditEntry, QueueItem, Store, StoreError};

mod held;

pub use held::{discard_held, release_held, release_held_as_digest};

/// Why a review action was refused. `Display` is English (the command line);
/// [`ReviewError::italian`] is what the admin UI shows.
#[derive(Debug, thiserror::Error)]
pub enum ReviewError {
    #[error("no item {0:?} is waiting for review")]
    NotFound(String),
    #[error("the item was already handled ({}) by {by}", action.label().en())]
    Handled { action: AuditAction, by: String },
    #[error("the title cannot be empty")]
    EmptyTitle,
    #[error(
        "the first line must be the title in bold (*…*): it is also the WhatsApp template's text"
    )]
    NoHeadline,
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
            ReviewError::Handled { action, by } => {
                let done = match action {
                    AuditAction::Approve => "già stato approvato",
                    AuditAction::Reject => "già stato rifiutato",
                    AuditAction::Schedule => "già stato programmato",
                    _ => "già stato tolto dalla coda",
                };
                format!("Questo messaggio è {done} da {by}: il tuo testo non è stato salvato né inviato.")
            }
            ReviewError::EmptyTitle => "Il titolo non può essere vuoto.".into(),
            ReviewError::NoHeadline => "La prima riga deve essere il titolo in grassetto, tra asterischi (*…*): è anche il testo del modello WhatsApp che ricevono gli iscritti.".into(),
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

    /// The item is no longer waiting (handled by someone else, expired): what the editor
    /// wrote should be shown again, with the reason, rather than lost.
    pub fn is_gone(&self) -> bool {
        matches!(self, ReviewError::NotFound(_) | ReviewError::Handled { .. })
    }

    /// A problem with what the editor wrote (their text should be shown again with the reason).
    pub fn is_invalid_input(&self) -> bool {
        matches!(
            self,
            ReviewError::EmptyTitle
                | ReviewError::NoHeadline
                | ReviewError::TitleTooLong
                | ReviewError::TooLong
                | ReviewError::LinkMissing(_)
                | ReviewError::NotFuture
        )
    }
}

/// How long a rejection can be undone.
pub const UNDO: chrono::Duration = chrono::Duration::seconds(60);

/// What is waiting (not what was just rejected), the most recently published first; items
/// published at the same time (or without a date) by arrival, the latest first.
pub fn pending(store: &Store) -> Result<Vec<QueueItem>, StoreError> {
    let mut items: Vec<QueueItem> = store
        .queue()
        .filter(|r| r.as_ref().map_or(true, |i| i.rejected_at.is_none()))
        .collect::<Result<_, _>>()?;
    items.sort_by_cached_key(|i| std::cmp::Reverse((published(i), i.queued_at)));
    Ok(items)
}

/// When an item was published, as its source says; else when it arrived.
pub fn published(item: &QueueItem) -> DateTime<Utc> {
    item.message
        .published
        .as_deref()
        .and_then(|p| DateTime::parse_from_rfc3339(p).ok())
        .map_or(item.queued_at, |p| p.with_timezone(&Utc))
}

/// The title a text carries: its first line when the whole line is bold (`*…*`, as the
/// formatter writes the title), without the asterisks.
pub fn headline(text: &str) -> Option<String> {
    let first = text.lines().next()?.trim();
    let inner = first.strip_prefix('*')?.strip_suffix('*')?;
    let inner = crate::text::collapse_whitespace(inner);
    (!inner.is_empty() && !inner.contains('*')).then_some(inner)
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

/// A waiting item (not a rejected one); else who handled it, when the audit log says.
fn waiting(store: &Store, id: &str) -> Result<QueueItem, ReviewError> {
    if let Some(item) = store.queue_item(id)?.filter(|i| i.rejected_at.is_none()) {
        return Ok(item);
    }
    Err(match handled(store, id)? {
        Some((action, by)) => ReviewError::Handled { action, by },
        None => ReviewError::NotFound(id.to_owned()),
    })
}

/// Records an action on `item` (its title, for people; its id, for [`handled`]).
fn audit(
    store: &Store,
    at: DateTime<Utc>,
    who: &str,
    action: AuditAction,
    item: &QueueItem,
    before: Option<String>,
    after: Option<String>,
) -> Result<(), StoreError> {
    store.audit(&AuditEntry {
        at,
        who: who.to_owned(),
        action,
        subject: item.message.title.clone(),
        before,
        after,
        item: Some(item.message.id.clone()),
    })
}

/// How many recent audit entries [`handled`] looks through.
const HANDLED_LOOKBACK: usize = 2000;

/// Who took the item `id` out of the queue, and how, when the audit log still says.
fn handled(store: &Store, id: &str) -> Result<Option<(AuditAction, String)>, StoreError> {
    Ok(store
        .recent_audit(HANDLED_LOOKBACK)?
        .into_iter()
        .find(|e| {
            e.item.as_deref() == Some(id)
                && matches!(
                    e.action,
                    AuditAction::Approve
                        | AuditAction::Reject
                        | AuditAction::Schedule
                        | AuditAction::Expire
                )
        })
        .map(|e| (e.action, e.who)))
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
                &item,
                None,
                Some(at.to_rfc3339()),
            )?;
            Ok(Approved::Scheduled)
        }
        None => {
            store.release(id, true, now)?;
            audit(store, now, who, AuditAction::Approve, &item, None, None)?;
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
        &item,
        Some(item.message.text.clone()),
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
    audit(store, now, who, AuditAction::Unreject, &item, None, None)?;
    Ok(())
}

/// Replaces the WhatsApp text (and so the title). The text is what is sent: when its first
/// line is in bold, that line is the title every sink carries with it (the Cloud API
/// template's first parameter, the webhook's `title`); `title` counts only for a text without
/// one, and an empty `title` then keeps the item's. The text must stay within WhatsApp's
/// limit and keep the official link on a line of its own. Nothing is written (nor audited)
/// when both are as they were.
pub fn edit(
    store: &Store,
    now: DateTime<Utc>,
    id: &str,
    who: &str,
    title: &str,
    text: &str,
) -> Result<QueueItem, ReviewError> {
    let mut item = waiting(store, id)?;
    let text = text.replace("\r\n", "\n").trim().to_owned();
    if text.chars().count() > MAX_TEXT {
        return Err(ReviewError::TooLong);
    }
    if !text.lines().any(|l| l.trim() == item.message.url) {
        return Err(ReviewError::LinkMissing(item.message.url.clone()));
    }
    let title = match headline(&text) {
        Some(title) => title,
        // A changed text without its bold title line would go out under the old title
        // (every sink carries it; the WhatsApp template sends only it and the link).
        None if title.trim().is_empty() && text != item.message.text => {
            return Err(ReviewError::NoHeadline)
        }
        None if title.trim().is_empty() => item.message.title.clone(),
        None => crate::text::collapse_whitespace(title),
    };
    if title.is_empty() {
        return Err(ReviewError::EmptyTitle);
    }
    if title.chars().count() > crate::format::MAX_TITLE {
        return Err(ReviewError::TitleTooLong);
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
        &item,
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
        match item.send_at {
            Some(at) if at <= now => {
                store.release(&item.message.id, true, now)?;
                audit(
                    store,
                    now,
                    "banditore",
                    AuditAction::SendScheduled,
                    &item,
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
                    &item,
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
            removed_at: None,
            refreshed_at: None,
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
            Err(ReviewError::Handled { action: AuditAction::Reject, ref by }) if by == "ed"
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

    #[test]
    fn the_queue_lists_the_latest_published_first_then_the_latest_arrived() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), 1 << 20).unwrap();
        let day = |d| Utc.with_ymd_and_hms(2026, 11, d, 8, 0, 0).unwrap();
        // (id, published, arrived)
        for (id, published, arrived) in [
            ("vecchia", Some(day(1)), day(5)),
            ("nuova", Some(day(4)), day(2)),
            ("senza-data", None, day(3)),
            ("pari-prima", Some(day(2)), day(2)),
            ("pari-dopo", Some(day(2)), day(3)),
        ] {
            let mut i = item(id, None);
            i.message.published = published.map(|p: DateTime<Utc>| p.to_rfc3339());
            i.queued_at = arrived;
            store.put_queue_item(&i).unwrap();
        }
        let order: Vec<String> = pending(&store)
            .unwrap()
            .into_iter()
            .map(|i| i.message.id)
            .collect();
        assert_eq!(
            order,
            ["nuova", "senza-data", "pari-dopo", "pari-prima", "vecchia"]
        );
    }

    #[test]
    fn the_edited_texts_bold_first_line_is_the_title_that_is_sent() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), 1 << 20).unwrap();
        store.put_queue_item(&item("a", None)).unwrap();
        let t = Utc.with_ymd_and_hms(2026, 11, 2, 9, 0, 0).unwrap();
        let text = "*Scuole  chiuse domani*\n\nPer neve.\n\nhttps://c.example/";
        // The title field says otherwise: the text wins, it is what people see.
        let edited = edit(&store, t, "a", "ed", "Vecchio titolo", text).unwrap();
        assert_eq!(edited.message.title, "Scuole chiuse domani");
        // A changed text without a bold first line and no title given (the admin UI's form)
        // would go out under a title the editor no longer sees: refused, nothing saved.
        let plain = "Scuole riaperte\n\nPer neve.\n\nhttps://c.example/";
        assert!(matches!(
            edit(&store, t, "a", "ed", "", plain),
            Err(ReviewError::NoHeadline)
        ));
        assert_eq!(store.queue_item("a").unwrap().unwrap().message.text, text);
        // With a title given (`queue edit --title`), that title goes with the plain text.
        let edited = edit(&store, t, "a", "ed", "Scuole riaperte", plain).unwrap();
        assert_eq!(edited.message.title, "Scuole riaperte");
        assert_eq!(headline("*a* e *b*\ntesto"), None);
        assert_eq!(headline("testo *a*"), None);
    }

    #[test]
    fn an_item_handled_by_someone_else_says_by_whom() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), 1 << 20).unwrap();
        store.put_queue_item(&item("a", None)).unwrap();
        let t = Utc.with_ymd_and_hms(2026, 11, 2, 9, 0, 0).unwrap();
        approve(&store, t, "a", "sindaco", None).unwrap();
        let late = edit(
            &store,
            t,
            "a",
            "redazione",
            "t",
            "*x*\n\nhttps://c.example/",
        )
        .unwrap_err();
        assert!(late.is_gone());
        assert_eq!(
            late.italian(),
            "Questo messaggio è già stato approvato da sindaco: il tuo testo non è stato salvato né inviato."
        );
        assert!(matches!(
            approve(&store, t, "nessuno", "redazione", None),
            Err(ReviewError::NotFound(_))
        ));
    }
}
