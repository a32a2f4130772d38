//! Admin alerts raised and not yet cleared (`watch` decides them, `daemon::alerting` tells
//! the admins). One record per key while the trouble lasts.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{Store, StoreError};

/// An alert raised, and whether the admins have been told.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RaisedAlarm {
    pub key: String,
    pub title: String,
    pub detail: String,
    pub url: Option<String>,
    pub since: DateTime<Utc>,
    /// The alert sinks took the notice (a failed notice is tried again at the next check).
    pub notified: bool,
}

impl Store {
    /// The alerts raised, in key order.
    pub fn raised_alarms(&self) -> Result<Vec<RaisedAlarm>, StoreError> {
        self.alarms.iter().map(|r| r.map(|(_, a)| a)).collect()
    }

    pub fn raise_alarm(&self, alarm: &RaisedAlarm) -> Result<(), StoreError> {
        self.alarms.insert(&alarm.key, alarm)
    }

    /// Removes a cleared alert; whether it was raised.
    pub fn clear_alarm(&self, key: &str) -> Result<bool, StoreError> {
        self.alarms.remove(key)
    }
}
