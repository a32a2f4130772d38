//! What admins do with a batch flood protection held: send it to the review queue, send it
//! as one digest message, or discard it. Each is audited.

use chrono::{DateTime, Utc};

use crate::store::{AuditAction, AuditEntry, Store, StoreError};

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
        audit(
            store,
            now,
            who,
            AuditAction::SourceRelease,
            source,
            format!("{n} elementi in revisione"),
        )?;
    }
    Ok(n)
}

/// Sends a source's held batch as one message: a line and the link of each item. Returns
/// how many items it tells (0: nothing was held).
pub fn release_held_as_digest(
    store: &Store,
    now: DateTime<Utc>,
    source: &str,
    who: &str,
) -> Result<usize, StoreError> {
    // A poll may add to the batch meanwhile: the store refuses a stale digest, made again.
    for _ in 0..5 {
        let batch = store.held(source)?;
        if batch.is_empty() {
            return Ok(0);
        }
        let messages: Vec<_> = batch.iter().collect();
        let digest = crate::digest::digest("Notizie in breve", &messages, now);
        let decisions: Vec<_> = batch
            .iter()
            .map(|m| crate::store::DecisionRecord {
                at: now,
                source: m.source.clone(),
                title: m.title.clone(),
                url: Some(m.url.clone()),
                action: "send".into(),
                reason: format!(
                    "released by {who} in the digest «Notizie in breve» ({})",
                    digest.id
                ),
                message_id: Some(m.id.clone()),
            })
            .collect();
        if store.release_held_as(source, &batch, &digest, &decisions, now)? {
            audit(
                store,
                now,
                who,
                AuditAction::SourceRelease,
                source,
                format!("{} elementi in un solo messaggio", batch.len()),
            )?;
            return Ok(batch.len());
        }
    }
    Ok(0)
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
        audit(
            store,
            now,
            who,
            AuditAction::SourceDiscard,
            source,
            format!("{n} elementi scartati"),
        )?;
    }
    Ok(n)
}

/// The audit entry of an admin's action on a source's held batch.
fn audit(
    store: &Store,
    now: DateTime<Utc>,
    who: &str,
    action: AuditAction,
    source: &str,
    after: String,
) -> Result<(), StoreError> {
    store.audit(&AuditEntry {
        at: now,
        who: who.to_owned(),
        action,
        subject: source.to_owned(),
        before: None,
        after: Some(after),
        item: None,
    })
}
