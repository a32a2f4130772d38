//! The review queue: editors approve, edit, schedule or reject what a `forward = "review"`
//! source found. Every action is written to the audit log (who, when, before and after).

use chrono::{DateTime, Utc};

use crate::app::App;
use crate::format::MAX_TEXT;
use crate::store::{AuditEntry, QueueItem, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum ReviewError {
    #[error("no item {0:?} is waiting for review")]
    NotFound(String),
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What is waiting, oldest first.
pub fn pending(app: &App) -> Result<Vec<QueueItem>, StoreError> {
    let mut items: Vec<QueueItem> = app.store().queue().collect::<Result<_, _>>()?;
    items.sort_by_key(|i| i.queued_at);
    Ok(items)
}

fn audit(
    app: &App,
    who: &str,
    action: &str,
    subject: &str,
    before: Option<String>,
    after: Option<String>,
) -> Result<(), StoreError> {
    app.store().audit(&AuditEntry {
        at: app.now(),
        who: who.to_owned(),
        action: action.to_owned(),
        subject: subject.to_owned(),
        before,
        after,
    })
}

/// Approves an item: sent now, or at `send_at` when given (and in the future).
pub fn approve(
    app: &App,
    id: &str,
    who: &str,
    send_at: Option<DateTime<Utc>>,
) -> Result<(), ReviewError> {
    let store = app.store();
    let mut item = store
        .queue_item(id)?
        .ok_or_else(|| ReviewError::NotFound(id.to_owned()))?;
    match send_at.filter(|t| *t > app.now()) {
        Some(at) => {
            item.send_at = Some(at);
            store.put_queue_item(&item)?;
            store.flush()?;
            audit(
                app,
                who,
                "schedule",
                &item.message.title,
                None,
                Some(at.to_rfc3339()),
            )?;
        }
        None => {
            store.release(id, true, app.now())?;
            audit(app, who, "approve", &item.message.title, None, None)?;
            app.wake_delivery();
        }
    }
    Ok(())
}

pub fn reject(app: &App, id: &str, who: &str) -> Result<(), ReviewError> {
    let item = app
        .store()
        .release(id, false, app.now())?
        .ok_or_else(|| ReviewError::NotFound(id.to_owned()))?;
    audit(
        app,
        who,
        "reject",
        &item.message.title,
        Some(item.message.text),
        None,
    )?;
    Ok(())
}

/// Replaces the title and the WhatsApp text. The text must stay within WhatsApp's limit and
/// keep the official link on a line of its own.
pub fn edit(
    app: &App,
    id: &str,
    who: &str,
    title: &str,
    text: &str,
) -> Result<QueueItem, ReviewError> {
    let store = app.store();
    let mut item = store
        .queue_item(id)?
        .ok_or_else(|| ReviewError::NotFound(id.to_owned()))?;
    let title = crate::text::collapse_whitespace(title);
    let text = text.replace("\r\n", "\n").trim().to_owned();
    if title.is_empty() {
        return Err(ReviewError::Invalid("the title cannot be empty".into()));
    }
    if text.chars().count() > MAX_TEXT {
        return Err(ReviewError::Invalid(format!(
            "the text is longer than WhatsApp's {MAX_TEXT} characters"
        )));
    }
    if !text.lines().any(|l| l.trim() == item.message.url) {
        return Err(ReviewError::Invalid(format!(
            "the official link {} must stay in the text, on a line of its own",
            item.message.url
        )));
    }
    let before = format!("{}\n---\n{}", item.message.title, item.message.text);
    item.message.title = title;
    item.message.text = text;
    item.edited = true;
    store.put_queue_item(&item)?;
    store.flush()?;
    let after = format!("{}\n---\n{}", item.message.title, item.message.text);
    audit(
        app,
        who,
        "edit",
        &item.message.title,
        Some(before),
        Some(after),
    )?;
    Ok(item)
}

/// Sends scheduled items that are due and drops pending ones older than `review_expiry`.
/// Returns (released, expired).
pub fn tick(app: &App) -> Result<(usize, usize), StoreError> {
    let now = app.now();
    let expiry = chrono::Duration::from_std(app.config().settings.review_expiry)
        .unwrap_or(chrono::Duration::MAX);
    let (mut released, mut expired) = (0, 0);
    for item in pending(app)? {
        match item.send_at {
            Some(at) if at <= now => {
                app.store().release(&item.message.id, true, now)?;
                audit(
                    app,
                    "banditore",
                    "send-scheduled",
                    &item.message.title,
                    None,
                    None,
                )?;
                released += 1;
            }
            None if now - item.queued_at > expiry => {
                app.store().release(&item.message.id, false, now)?;
                audit(app, "banditore", "expire", &item.message.title, None, None)?;
                expired += 1;
            }
            _ => {}
        }
    }
    if released > 0 {
        app.wake_delivery();
    }
    Ok((released, expired))
}
