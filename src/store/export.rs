//! `store export` and `store import`: the whole store as JSON lines, for backups and moves.
//!
//! The first line is a header; then one line per record, tree by tree, in key order:
//!
//! ```text
//! {"banditore_export":1,"version":"0.1.0","exported_at":"…","subscribers_only":false}
//! {"tree":"subscribers","key":"393401234567","value":{"consented_at":"…",…}}
//! {"tree":"log","key_hex":"0000000000000007","value":{…}}
//! {"tree":"seen_by_source","key":"comune","value_hex":"01…"}
//! {"banditore_export_end":{"records":2}}
//! ```
//!
//! The last line says how many records came before it: an export cut short (a full disk, a
//! dropped connection) is refused by `import` instead of restoring half a store.
//!
//! A key is `key` when it is UTF-8 text, else `key_hex`; a value is `value` when it is JSON
//! (most records), else `value_hex` (the binary ones): nothing is lost either way, and the
//! readable parts stay readable. Each tree is read in one pass (sled's iterators see a
//! consistent tree while the daemon writes), so an export taken while `run` runs is a
//! consistent copy of each tree, not of the store as a whole: a message sent during the
//! export may be in the log and still in the outbox, and a restore then marks it uncertain
//! rather than sending it twice (the delivery records say a request may have left).
//!
//! Admin sessions are not exported (a restore logs everyone out); everything else is, phone
//! numbers included: an export is personal data and is to be kept like the data directory.

use std::io::{BufRead, Write};

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use super::{Store, StoreError};

/// The format's version, in the header.
const FORMAT: u32 = 1;

/// Trees left out of every export.
const NOT_EXPORTED: &[&str] = &["sessions", "__sled__default"];

/// Why an export or an import stopped.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot write the export: {0}")]
    Write(std::io::Error),
    #[error("cannot read the export: {0}")]
    Read(std::io::Error),
    #[error("line {line}: {why}")]
    Bad { line: usize, why: String },
    #[error(
        "the store is not empty (tree {0:?} has records): import only into a new data directory"
    )]
    NotEmpty(String),
}

#[derive(Serialize, Deserialize)]
struct Header {
    banditore_export: u32,
    version: String,
    exported_at: chrono::DateTime<chrono::Utc>,
    subscribers_only: bool,
}

#[derive(Serialize, Deserialize)]
struct Trailer {
    banditore_export_end: End,
}

#[derive(Serialize, Deserialize)]
struct End {
    records: u64,
}

#[derive(Serialize, Deserialize)]
struct Line<'a> {
    tree: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    key_hex: Option<String>,
    #[serde(default, borrow, skip_serializing_if = "Option::is_none")]
    value: Option<&'a RawValue>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    value_hex: Option<String>,
}

impl Store {
    /// Writes the store (or only its subscribers) to `out` as JSON lines. Returns how many
    /// records went out.
    pub fn export(
        &self,
        subscribers_only: bool,
        now: chrono::DateTime<chrono::Utc>,
        out: &mut dyn Write,
    ) -> Result<u64, ExportError> {
        let header = Header {
            banditore_export: FORMAT,
            version: env!("CARGO_PKG_VERSION").to_owned(),
            exported_at: now,
            subscribers_only,
        };
        write_line(out, &header)?;
        let mut names: Vec<String> = self
            .db
            .tree_names()
            .iter()
            .map(|n| String::from_utf8_lossy(n).into_owned())
            .filter(|n| !NOT_EXPORTED.contains(&n.as_str()))
            .filter(|n| !subscribers_only || n == "subscribers")
            .collect();
        names.sort();
        let mut count = 0;
        for name in names {
            let tree = self.db.open_tree(&name).map_err(StoreError::from)?;
            for record in tree.iter() {
                let (k, v) = record.map_err(StoreError::from)?;
                let (key, key_hex) = match std::str::from_utf8(&k) {
                    Ok(text) => (Some(text.to_owned()), None),
                    Err(_) => (None, Some(hex::encode(&k))),
                };
                // As JSON only when that gives back the very same bytes on one line.
                let json = std::str::from_utf8(&v)
                    .ok()
                    .filter(|text| !text.contains(['\n', '\r']))
                    .and_then(|text| serde_json::from_str::<&RawValue>(text).ok())
                    .filter(|raw| raw.get().len() == v.len());
                let line = Line {
                    tree: name.clone(),
                    key,
                    key_hex,
                    value: json,
                    value_hex: json.is_none().then(|| hex::encode(&v)),
                };
                write_line(out, &line)?;
                count += 1;
            }
        }
        write_line(
            out,
            &Trailer {
                banditore_export_end: End { records: count },
            },
        )?;
        out.flush().map_err(ExportError::Write)?;
        Ok(count)
    }

    /// Loads an export into this store, which must be empty (a new data directory). Every
    /// line is checked before anything is written, so a damaged file loads nothing. Returns
    /// how many records came in.
    pub fn import(&self, input: &mut dyn BufRead) -> Result<u64, ExportError> {
        for name in self.db.tree_names() {
            let tree = self.db.open_tree(&name).map_err(StoreError::from)?;
            // A new store knows its schema already.
            let only_schema = name == "meta"
                && tree.len() == 1
                && tree.contains_key(super::SCHEMA_KEY).unwrap_or(false);
            if !tree.is_empty() && !only_schema {
                return Err(ExportError::NotEmpty(
                    String::from_utf8_lossy(&name).into_owned(),
                ));
            }
        }
        let known: Vec<String> = self
            .db
            .tree_names()
            .iter()
            .map(|n| String::from_utf8_lossy(n).into_owned())
            .collect();
        let mut records: Vec<(String, Vec<u8>, Vec<u8>)> = Vec::new();
        let mut text = String::new();
        let mut number = 0;
        let mut header_seen = false;
        let mut end = None;
        loop {
            text.clear();
            if input.read_line(&mut text).map_err(ExportError::Read)? == 0 {
                break;
            }
            number += 1;
            let bad = |why: String| ExportError::Bad { line: number, why };
            if text.trim().is_empty() {
                continue;
            }
            if end.is_some() {
                return Err(bad("a record after the export's last line".into()));
            }
            if !header_seen {
                let header: Header = serde_json::from_str(&text)
                    .map_err(|e| bad(format!("not a banditore export header ({e})")))?;
                if header.banditore_export != FORMAT {
                    return Err(bad(format!(
                        "export format {} (this banditore reads {FORMAT})",
                        header.banditore_export
                    )));
                }
                header_seen = true;
                continue;
            }
            if let Ok(trailer) = serde_json::from_str::<Trailer>(&text) {
                end = Some((number, trailer.banditore_export_end.records));
                continue;
            }
            let line: Line = serde_json::from_str(&text).map_err(|e| bad(e.to_string()))?;
            if !known.contains(&line.tree) || NOT_EXPORTED.contains(&line.tree.as_str()) {
                return Err(bad(format!(
                    "unknown tree {:?} (exported by a newer banditore?)",
                    line.tree
                )));
            }
            let key = match (line.key, line.key_hex) {
                (Some(k), None) => k.into_bytes(),
                (None, Some(h)) => hex::decode(h).map_err(|e| bad(format!("key_hex: {e}")))?,
                _ => return Err(bad("a record needs one of key and key_hex".into())),
            };
            let value = match (line.value, line.value_hex) {
                (Some(v), None) => v.get().as_bytes().to_vec(),
                (None, Some(h)) => hex::decode(h).map_err(|e| bad(format!("value_hex: {e}")))?,
                _ => return Err(bad("a record needs one of value and value_hex".into())),
            };
            records.push((line.tree, key, value));
        }
        if !header_seen {
            return Err(ExportError::Bad {
                line: 0,
                why: "empty file: not a banditore export".into(),
            });
        }
        let count = records.len() as u64;
        match end {
            None => {
                return Err(ExportError::Bad {
                    line: number,
                    why: "the export is cut short (its last line is missing): nothing imported"
                        .into(),
                })
            }
            Some((line, records)) if records != count => {
                return Err(ExportError::Bad {
                    line,
                    why: format!("the export says {records} records, the file holds {count}"),
                })
            }
            Some(_) => {}
        }
        for (tree, key, value) in records {
            self.db
                .open_tree(&tree)
                .and_then(|t| t.insert(key, value))
                .map_err(StoreError::from)?;
        }
        // New ids come after every imported one.
        self.note_ids_in_use()?;
        self.flush()?;
        Ok(count)
    }
}

fn write_line(out: &mut dyn Write, value: &impl Serialize) -> Result<(), ExportError> {
    serde_json::to_writer(&mut *out, value)
        .map_err(|e| ExportError::Write(std::io::Error::other(e)))?;
    out.write_all(b"\n").map_err(ExportError::Write)
}
