//! Seen keys: one record per source (`seen_by_source`), the keys of every item the source has
//! listed, each with when it was last seen and whether it is the key of an item present in the
//! source's last successful parse (pruning never forgets those, even when the feed answers 304
//! for months).
//!
//! One record per source rather than one per key: a poll reads its source's keys with one
//! lookup and writes them back with one insert, where a record per key cost three tree
//! inserts per item inside the poll's transaction (most of a first poll's time). The record
//! is small (25 bytes a key, three keys an item) and only rewritten when a poll finds new
//! items or re-stamps old ones (at most daily).
//!
//! The encoding is a plain array of fixed-width entries — kind (1 byte), hash (16), last seen
//! (u64 BE, unix seconds), flags (1 byte: 1 = present) — sorted by key: a fixed layout needs no
//! serialisation crate and cannot change under us when one is upgraded.

use std::collections::{HashMap, HashSet};

use crate::ident::Key;

use super::StoreError;

const ENTRY: usize = 1 + 16 + 8 + 1;
const PRESENT: u8 = 1;

/// The seen keys of one source.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SeenKeys(HashMap<Key, Seen>);

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Seen {
    /// Unix seconds.
    at: u64,
    present: bool,
}

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
                    let (hash, rest) = rest.split_at(16);
                    let (stamp, flags) = rest.split_at(8);
                    let key = Key {
                        kind: kind.first().copied().unwrap_or_default(),
                        hash: hash.try_into().unwrap_or_default(),
                    };
                    let seen = Seen {
                        at: stamp.try_into().map(u64::from_be_bytes).unwrap_or_default(),
                        present: flags.first().is_some_and(|f| f & PRESENT != 0),
                    };
                    (key, seen)
                })
                .collect(),
        ))
    }

    /// The stored record: entries sorted by key, so equal sets encode equally.
    pub(super) fn encode(&self) -> Vec<u8> {
        let mut entries: Vec<(&Key, &Seen)> = self.0.iter().collect();
        entries.sort_unstable_by_key(|(k, _)| (k.kind, k.hash));
        let mut raw = Vec::with_capacity(entries.len() * ENTRY);
        for (key, seen) in entries {
            raw.push(key.kind);
            raw.extend_from_slice(&key.hash);
            raw.extend_from_slice(&seen.at.to_be_bytes());
            raw.push(if seen.present { PRESENT } else { 0 });
        }
        raw
    }

    /// When each key was last seen (None for keys never seen).
    pub fn last_seen(&self, keys: &[Key]) -> Vec<Option<u64>> {
        keys.iter().map(|k| self.0.get(k).map(|s| s.at)).collect()
    }

    /// Marks `keys` as seen at `stamp`.
    pub(super) fn touch(&mut self, keys: &[Key], stamp: u64) {
        for key in keys {
            self.0.entry(*key).or_default().at = stamp;
        }
    }

    /// Marks `key` as seen at `stamp` unless it was seen later.
    pub(super) fn touch_max(&mut self, key: Key, stamp: u64) {
        let seen = self.0.entry(key).or_default();
        seen.at = seen.at.max(stamp);
    }

    /// The keys of the items present in the source's last parse are `present` (known keys;
    /// others are ignored), and only those. Returns whether anything changed.
    pub(super) fn set_present(&mut self, present: &[Key]) -> bool {
        let present: HashSet<&Key> = present.iter().collect();
        let mut changed = false;
        for (key, seen) in &mut self.0 {
            let now = present.contains(key);
            changed |= seen.present != now;
            seen.present = now;
        }
        changed
    }

    /// Marks one known key present (a migration from the old layout).
    pub(super) fn mark_present(&mut self, key: &Key) {
        if let Some(seen) = self.0.get_mut(key) {
            seen.present = true;
        }
    }

    /// How many keys are of items present in the last parse.
    pub fn present(&self) -> usize {
        self.0.values().filter(|s| s.present).count()
    }

    /// Forgets the keys last seen before `cutoff`, except present ones. Returns how many.
    pub(super) fn forget_before(&mut self, cutoff: u64) -> usize {
        let before = self.0.len();
        self.0.retain(|_, seen| seen.at >= cutoff || seen.present);
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
    fn forgets_old_keys_unless_present() {
        let mut seen = SeenKeys::default();
        seen.touch(&[key(1, 1), key(1, 2)], 10);
        seen.touch(&[key(1, 3)], 30);
        assert!(seen.set_present(&[key(1, 2), key(9, 9)]));
        assert!(!seen.set_present(&[key(1, 2)]));
        let seen_again = SeenKeys::decode(&seen.encode()).unwrap();
        assert_eq!(seen_again, seen);
        assert_eq!(seen.present(), 1);
        assert_eq!(seen.forget_before(20), 1);
        assert_eq!(seen.last_seen(&[key(1, 1)]), [None]);
        assert_eq!(seen.len(), 2);
    }
}
