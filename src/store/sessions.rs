//! The admin UI's sessions: who is signed in, until when, and the outcome of their last action
//! (shown once by the next page). A session is found by the SHA-256 of its cookie's value: the
//! store never holds a value that would sign anyone in.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::table::{decode, encode};
use super::{Store, StoreError};
use crate::config::Role;

/// The key of a session: the SHA-256 of its cookie's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionKey([u8; 32]);

impl SessionKey {
    pub fn of_cookie(value: &str) -> SessionKey {
        SessionKey(Sha256::digest(value.as_bytes()).into())
    }
}

/// A signed-in session of the admin UI.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Session {
    pub user: String,
    pub role: Role,
    /// Signed in with the admin token rather than as a `[[user]]` (whatever the user's name).
    #[serde(default)]
    pub by_token: bool,
    /// The token every form of this session carries.
    pub csrf: String,
    pub expires: DateTime<Utc>,
    /// The outcome of the last action, for the next page to show once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flash: Option<Flash>,
}

/// A one-shot message: what an action did, or why it failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Flash {
    pub ok: bool,
    pub text: String,
    /// A page the message names (the existing source, for a duplicate), shown as a link.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link: Option<FlashLink>,
}

/// A link beside a one-shot message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlashLink {
    pub href: String,
    pub label: String,
}

impl Store {
    pub fn put_session(&self, key: &SessionKey, session: &Session) -> Result<(), StoreError> {
        self.sessions.insert(key.0, session)
    }

    /// The session of `key`, unless it has expired at `now` (an expired one is removed).
    pub fn session(
        &self,
        key: &SessionKey,
        now: DateTime<Utc>,
    ) -> Result<Option<Session>, StoreError> {
        match self.sessions.get(key.0)? {
            Some(s) if s.expires > now => Ok(Some(s)),
            Some(_) => {
                self.sessions.remove(key.0)?;
                Ok(None)
            }
            None => Ok(None),
        }
    }

    /// Ends one session; whether it existed.
    pub fn end_session(&self, key: &SessionKey) -> Result<bool, StoreError> {
        self.sessions.remove(key.0)
    }

    /// Ends every session of `user` signed in the same way (`by_token` or not), on every
    /// device; returns how many.
    pub fn end_sessions_of(&self, user: &str, by_token: bool) -> Result<usize, StoreError> {
        let mut keys = Vec::new();
        for r in self.sessions.iter() {
            let (k, s) = r?;
            if s.user == user && s.by_token == by_token {
                keys.push(k);
            }
        }
        for k in &keys {
            self.sessions.remove(k)?;
        }
        Ok(keys.len())
    }

    /// Ends every session of the configured user `user` but `keep` (the one that changed the
    /// password, when the user changed it); returns how many.
    pub fn end_other_sessions_of(
        &self,
        user: &str,
        keep: Option<&SessionKey>,
    ) -> Result<usize, StoreError> {
        let mut keys = Vec::new();
        for r in self.sessions.iter() {
            let (k, s) = r?;
            if s.user == user && !s.by_token && keep.is_none_or(|keep| k.as_ref() != keep.0) {
                keys.push(k);
            }
        }
        for k in &keys {
            self.sessions.remove(k)?;
        }
        Ok(keys.len())
    }

    /// Leaves a message for the session's next page, replacing one not shown yet. A session
    /// that has ended gets nothing.
    pub fn set_flash(&self, key: &SessionKey, flash: &Flash) -> Result<(), StoreError> {
        self.update_session(key, |s| s.flash = Some(flash.clone()))
    }

    /// The session's message, removed as it is read: it is shown once.
    pub fn take_flash(&self, key: &SessionKey) -> Result<Option<Flash>, StoreError> {
        let mut taken = None;
        // On a conflict the closure runs again on the newer record, so `taken` is what was
        // removed by the write that succeeded.
        self.update_session(key, |s| taken = s.flash.take())?;
        Ok(taken)
    }

    /// Changes a session in place (compare and swap, so a concurrent change is not lost);
    /// nothing when there is no such session.
    fn update_session(
        &self,
        key: &SessionKey,
        mut change: impl FnMut(&mut Session),
    ) -> Result<(), StoreError> {
        let tree = self.sessions.tree();
        loop {
            let Some(old) = tree.get(key.0)? else {
                return Ok(());
            };
            let mut session: Session = decode(&old)?;
            let before = session.clone();
            change(&mut session);
            if session == before {
                return Ok(());
            }
            if tree
                .compare_and_swap(key.0, Some(old), Some(encode(&session)?))?
                .is_ok()
            {
                return Ok(());
            }
        }
    }

    /// Sessions still open (expired ones included until they are pruned).
    pub fn session_count(&self) -> usize {
        self.sessions.len()
    }

    /// Removes the sessions expired at `now`; how many.
    pub(super) fn prune_sessions(&self, now: DateTime<Utc>) -> Result<usize, StoreError> {
        let mut expired = Vec::new();
        for r in self.sessions.iter() {
            let (k, s) = r?;
            if s.expires <= now {
                expired.push(k);
            }
        }
        for k in &expired {
            self.sessions.remove(k)?;
        }
        Ok(expired.len())
    }
}
