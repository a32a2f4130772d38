//! Web sign-ups waiting for the citizen's reply (`signups`): the citizens' page sent a
//! confirmation to a number; the number is subscribed only when its owner answers on
//! WhatsApp (double opt-in). One pending sign-up per number; each is forgotten after
//! [`SIGNUP_WINDOW`].

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::{Store, StoreError};
use crate::phone::Phone;

/// How long a sign-up waits for the citizen's reply.
pub const SIGNUP_WINDOW: Duration = Duration::days(1);

/// A sign-up from the citizens' page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Signup {
    pub at: DateTime<Utc>,
    /// The consent as the form showed it, word for word.
    pub consent_text: String,
}

impl Store {
    /// Records a sign-up unless the number already has one waiting (then `false`: nothing
    /// is sent again, so the form cannot be used to write to a stranger over and over).
    pub fn add_signup(
        &self,
        phone: &Phone,
        signup: &Signup,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        if self.signup(phone, now)?.is_some() {
            return Ok(false);
        }
        self.signups.insert(phone.as_str(), signup)?;
        self.flush()?;
        Ok(true)
    }

    /// The sign-up waiting for this number's reply, if one is.
    pub fn signup(&self, phone: &Phone, now: DateTime<Utc>) -> Result<Option<Signup>, StoreError> {
        Ok(self
            .signups
            .get(phone.as_str())?
            .filter(|s| now - s.at < SIGNUP_WINDOW))
    }

    /// Forgets a number's sign-up (answered, or the number said STOP).
    pub fn remove_signup(&self, phone: &Phone) -> Result<(), StoreError> {
        self.signups.remove(phone.as_str())?;
        Ok(())
    }

    /// Sign-ups made since `since` (the page's daily cap).
    pub fn signups_since(&self, since: DateTime<Utc>) -> Result<usize, StoreError> {
        let mut n = 0;
        for r in self.signups.iter() {
            let (_, s) = r?;
            n += usize::from(s.at >= since);
        }
        Ok(n)
    }

    /// Forgets the sign-ups nobody answered.
    pub(super) fn prune_signups(&self, now: DateTime<Utc>) -> Result<(), StoreError> {
        for r in self.signups.iter() {
            let (key, s) = r?;
            if now - s.at >= SIGNUP_WINDOW {
                self.signups.remove(&key)?;
            }
        }
        Ok(())
    }
}
