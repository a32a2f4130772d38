//! A sled tree whose values are one type, stored as JSON: every read decodes, every write
//! encodes, in one place.

use std::marker::PhantomData;

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::StoreError;

/// A tree of `V` values.
#[derive(Clone)]
pub(super) struct Table<V> {
    tree: sled::Tree,
    _values: PhantomData<fn() -> V>,
}

impl<V: Serialize + DeserializeOwned> Table<V> {
    pub fn open(db: &sled::Db, name: &str) -> Result<Table<V>, StoreError> {
        Ok(Table {
            tree: db.open_tree(name)?,
            _values: PhantomData,
        })
    }

    /// The tree itself, for transactions and batches.
    pub fn tree(&self) -> &sled::Tree {
        &self.tree
    }

    pub fn get(&self, key: impl AsRef<[u8]>) -> Result<Option<V>, StoreError> {
        self.tree.get(key)?.map(|v| decode(&v)).transpose()
    }

    pub fn insert(&self, key: impl AsRef<[u8]>, value: &V) -> Result<(), StoreError> {
        self.tree.insert(key.as_ref(), encode(value)?)?;
        Ok(())
    }

    /// Removes a key; whether it was there.
    pub fn remove(&self, key: impl AsRef<[u8]>) -> Result<bool, StoreError> {
        Ok(self.tree.remove(key)?.is_some())
    }

    /// Every (key, value), in key order.
    pub fn iter(
        &self,
    ) -> impl DoubleEndedIterator<Item = Result<(sled::IVec, V), StoreError>> + '_ {
        self.tree.iter().map(|r| {
            let (k, v) = r?;
            Ok((k, decode(&v)?))
        })
    }

    /// Every (key, value) whose key starts with `prefix`.
    pub fn scan_prefix(
        &self,
        prefix: impl AsRef<[u8]>,
    ) -> impl Iterator<Item = Result<(sled::IVec, V), StoreError>> + '_ {
        self.tree.scan_prefix(prefix).map(|r| {
            let (k, v) = r?;
            Ok((k, decode(&v)?))
        })
    }

    pub fn len(&self) -> usize {
        self.tree.len()
    }

    /// A page of the values `keep` lets through, newest key first, skipping the first `skip`
    /// of them; also whether more follow.
    pub fn newest_page(
        &self,
        keep: impl Fn(&V) -> bool,
        skip: usize,
        take: usize,
    ) -> Result<(Vec<V>, bool), StoreError> {
        let mut page = Vec::with_capacity(take);
        let mut matched = 0;
        for r in self.iter().rev() {
            let (_, value) = r?;
            if !keep(&value) {
                continue;
            }
            matched += 1;
            if matched <= skip {
                continue;
            }
            if page.len() == take {
                return Ok((page, true));
            }
            page.push(value);
        }
        Ok((page, false))
    }
}

pub(super) fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, StoreError> {
    serde_json::to_vec(value).map_err(|e| StoreError::Corrupt(e.to_string()))
}

pub(super) fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, StoreError> {
    serde_json::from_slice(bytes).map_err(|e| StoreError::Corrupt(e.to_string()))
}
