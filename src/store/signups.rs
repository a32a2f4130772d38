//! Web sign-ups (`signups`, raw keys): the citizens' page sent a confirmation to a number,
//! which is subscribed only when its owner answers on WhatsApp (double opt-in).
//!
//! - `p:` phone → [`Signup`] (JSON): waiting for the reply, [`SIGNUP_WINDOW`] at most; one per
//!   number, kept even when the send failed (so that the form cannot be used to try again).
//! - `s:` time (i64 BE, nanoseconds) and a counter → empty: a confirmation sent, for the daily
//!   cap, whatever became of it; forgotten after [`SIGNUP_WINDOW`].
//! - `r:` SHA-256 of the phone (16 bytes) → time (i64 BE): the number said STOP; the page never
//!   writes to it again for [`REFUSAL_MEMORY`] (its owner can still write ISCRIVIMI, which
//!   lifts it).

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::table::{decode, encode};
use super::{Store, StoreError};
use crate::phone::Phone;

/// How long a sign-up waits for the citizen's reply.
pub const SIGNUP_WINDOW: Duration = Duration::days(1);
/// How long a STOP keeps the page from writing to a number.
pub const REFUSAL_MEMORY: Duration = Duration::days(2 * 365);

/// A sign-up from the citizens' page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Signup {
    pub at: DateTime<Utc>,
    /// The consent as the form showed it, word for word.
    pub consent_text: String,
}

/// Why the page will not write to a number now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoSignup {
    /// A confirmation is already waiting for its reply.
    Waiting,
    /// The number said STOP.
    Refused,
    /// The day's confirmations are all gone.
    Full,
}

fn pending_key(phone: &Phone) -> Vec<u8> {
    [b"p:".as_slice(), phone.as_str().as_bytes()].concat()
}

fn refusal_key(phone: &Phone) -> Vec<u8> {
    use sha2::Digest;
    let hash = sha2::Sha256::digest(phone.as_str().as_bytes());
    [b"r:".as_slice(), &hash[..16]].concat()
}

fn time_of(raw: &[u8]) -> Option<DateTime<Utc>> {
    let nanos = i64::from_be_bytes(raw.get(..8)?.try_into().ok()?);
    Some(DateTime::from_timestamp_nanos(nanos))
}

impl Store {
    /// Records a sign-up and counts its confirmation, unless the page must not write to this
    /// number now (or the day's `per_day` confirmations are gone).
    pub fn add_signup(
        &self,
        phone: &Phone,
        signup: &Signup,
        per_day: usize,
        now: DateTime<Utc>,
    ) -> Result<Result<(), NoSignup>, StoreError> {
        // The cap first: its answer must not depend on the number.
        if self.signups_full(per_day, now)? {
            return Ok(Err(NoSignup::Full));
        }
        if let Some(at) = self.signups.get(refusal_key(phone))? {
            if time_of(&at).is_some_and(|at| now - at < REFUSAL_MEMORY) {
                return Ok(Err(NoSignup::Refused));
            }
        }
        if self.signup(phone, now)?.is_some() {
            return Ok(Err(NoSignup::Waiting));
        }
        let nanos = now.timestamp_nanos_opt().unwrap_or(i64::MAX);
        let mut sent = b"s:".to_vec();
        sent.extend_from_slice(&nanos.to_be_bytes());
        sent.extend_from_slice(&self.db.generate_id()?.to_be_bytes());
        self.signups.insert(sent, &[])?;
        self.signups.insert(pending_key(phone), encode(signup)?)?;
        self.flush()?;
        Ok(Ok(()))
    }

    /// The sign-up waiting for this number's reply, if one is.
    pub fn signup(&self, phone: &Phone, now: DateTime<Utc>) -> Result<Option<Signup>, StoreError> {
        match self.signups.get(pending_key(phone))? {
            Some(raw) => Ok(Some(decode::<Signup>(&raw)?).filter(|s| now - s.at < SIGNUP_WINDOW)),
            None => Ok(None),
        }
    }

    /// The number answered: a yes (`refused` false: any refusal is lifted, it is the owner's
    /// own choice) or a STOP (the page will not write to it again).
    pub fn answer_signup(
        &self,
        phone: &Phone,
        refused: bool,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.signups.remove(pending_key(phone))?;
        if refused {
            let nanos = now.timestamp_nanos_opt().unwrap_or(i64::MAX);
            self.signups
                .insert(refusal_key(phone), &nanos.to_be_bytes())?;
        } else {
            self.signups.remove(refusal_key(phone))?;
        }
        Ok(())
    }

    /// Whether `per_day` confirmations went in the last day.
    pub fn signups_full(&self, per_day: usize, now: DateTime<Utc>) -> Result<bool, StoreError> {
        let since = now - SIGNUP_WINDOW;
        let mut n = 0;
        for r in self.signups.scan_prefix(b"s:") {
            let (key, _) = r?;
            n += usize::from(key.get(2..).and_then(time_of).is_some_and(|t| t >= since));
        }
        Ok(n >= per_day)
    }

    /// Forgets the sign-ups nobody answered, the day's count and old refusals.
    pub(super) fn prune_signups(&self, now: DateTime<Utc>) -> Result<(), StoreError> {
        for r in self.signups.iter() {
            let (key, value) = r?;
            let expired = match key.get(..2) {
                Some(b"p:") => decode::<Signup>(&value)
                    .map(|s| now - s.at >= SIGNUP_WINDOW)
                    .unwrap_or(true),
                Some(b"s:") => key
                    .get(2..)
                    .and_then(time_of)
                    .is_none_or(|t| now - t >= SIGNUP_WINDOW),
                Some(b"r:") => time_of(&value).is_none_or(|t| now - t >= REFUSAL_MEMORY),
                _ => true,
            };
            if expired {
                self.signups.remove(&key)?;
            }
        }
        Ok(())
    }
}
