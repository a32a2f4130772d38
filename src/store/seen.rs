//! Seen keys: one record per source (`seen_by_source`), the keys of every item the source has
//! listed with when each was last seen.
//!
//! One record per source rather than one per key: a poll reads its source's keys with one
//! lookup and writes them back with one insert, where a record per key cost three tree
//! inserts per item inside the poll's transaction (most of a first poll's time). The record
//! is small (25 bytes a key, three keys an item) and only rewritten when a poll finds new
//! items or re-stamps old ones (at most daily).
//!
//! The encoding is a plain array of fixed-width entries — kind (1 byte), hash (16), last seen
//! (u64 BE, unix seconds) — sorted by key: a fixed layout needs no serialisation crate and
//! cannot change under us when one is upgraded.

use std::collections::HashMap;

use crate::ident::Key;

use super::StoreError;

const ENTRY: usize = 1 + 16 + 8;

/// The seen keys of one source and when each was last seen (unix seconds).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SeenKeys(HashMap<Key, u64>);

impl SeenKeys {
    /// Reads a stored record.
    pub(super) fn decode(raw: &[u8]) -> Result<SeenKeys, StoreError> {
        if !raw.len().is_multiple_of(ENTRY) {
            return Err(StoreError::Corrupt(format!(
                "a seen-keys record of {} bytes is not a whole number of {ENTRY}-byte entries",
                raw.len()
            )));
        }
        Ok(SeenKeys(
            raw.chunks_exact(ENTRY)
                .map(|e| {
                    let (kind, rest) = e.split_at(1);
                    let (hash, stamp) = rest.split_at(16);
                    let key = Key {
                        kind: kind.first().copied().unwrap_or_default(),
                        hash: hash.try_into().unwrap_or_default(),
                    };
                    let stamp = stamp.try_into().map(u64::from_be_bytes).unwrap_or_default();
                    (key, stamp)
                })
                .collect(),
        ))
    }

    /// The stored record: entries sorted by key, so equal sets encode equally.
    pub(super) fn encode(&self) -> Vec<u8> {
        let mut entries: Vec<(&Key, &u64)> = self.0.iter().collect();
        entries.sort_unstable_by_key(|(k, _)| (k.kind, k.hash));
        let mut raw = Vec::with_capacity(entries.len() * ENTRY);
        for (key, stamp) in entries {
            raw.push(key.kind);
            raw.extend_from_slice(&key.hash);
            raw.extend_from_slice(&stamp.to_be_bytes());
        }
        raw
    }

    /// When each key was last seen (None for keys never seen).
    pub fn last_seen(&self, keys: &[Key]) -> Vec<Option<u64>> {
        keys.iter().map(|k| self.0.get(k).copied()).collect()
    }

    /// Marks `keys` as seen at `stamp`.
    pub(super) fn touch(&mut self, keys: &[Key], stamp: u64) {
        for key in keys {
            self.0.insert(*key, stamp);
        }
    }

    /// Marks `key` as seen at `stamp` unless it was seen later.
    pub(super) fn touch_max(&mut self, key: Key, stamp: u64) {
        let at = self.0.entry(key).or_default();
        *at = (*at).max(stamp);
    }

    /// Forgets the keys last seen before `cutoff` for which `keep` is false. Returns how many.
    pub(super) fn forget_before(&mut self, cutoff: u64, keep: impl Fn(&Key) -> bool) -> usize {
        let before = self.0.len();
        self.0.retain(|key, stamp| *stamp >= cutoff || keep(key));
        before - self.0.len()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(kind: u8, fill: u8) -> Key {
        Key {
            kind,
            hash: [fill; 16],
        }
    }

    #[test]
    fn round_trips_and_encodes_in_key_order() {
        let mut seen = SeenKeys::default();
        seen.touch(&[key(2, 9), key(1, 7)], 5);
        seen.touch(&[key(1, 7)], 6);
        let raw = seen.encode();
        assert_eq!(raw.len(), 2 * ENTRY);
        assert_eq!(raw.first(), Some(&1));
        let back = SeenKeys::decode(&raw).unwrap();
        assert_eq!(back, seen);
        assert_eq!(
            back.last_seen(&[key(1, 7), key(2, 9), key(3, 0)]),
            [Some(6), Some(5), None]
        );
    }

    #[test]
    fn a_torn_record_is_an_error_not_a_panic() {
        assert!(matches!(
            SeenKeys::decode(&[1, 2, 3]),
            Err(StoreError::Corrupt(_))
        ));
        assert_eq!(SeenKeys::decode(&[]).unwrap(), SeenKeys::default());
    }

    #[test]
    fn forgets_old_keys_unless_kept() {
        let mut seen = SeenKeys::default();
        seen.touch(&[key(1, 1), key(1, 2)], 10);
        seen.touch(&[key(1, 3)], 30);
        assert_eq!(seen.forget_before(20, |k| *k == key(1, 2)), 1);
        assert_eq!(seen.last_seen(&[key(1, 1)]), [None]);
        assert_eq!(seen.len(), 2);
    }
}
