//! Daily snapshots: once a day the whole store is exported (the format of `store export`)
//! into `snapshots/` beside it, the newest [`KEEP`] kept. When sled cannot open its files (a
//! power cut in the middle of a write is a known sled failure mode), the daemon refuses to
//! start and names the newest snapshot and the command that restores it.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};

use super::{ExportError, Store, StoreError};

/// Snapshots kept.
pub const KEEP: usize = 7;
/// Their directory, in the data directory.
pub const DIR: &str = "snapshots";

/// A snapshot's file name for the day of `at`.
fn name(at: DateTime<Utc>) -> String {
    format!("banditore-{}.jsonl", at.format("%Y-%m-%d"))
}

/// The snapshots in `data_dir`, oldest first.
fn all(data_dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(data_dir.join(DIR))
        .into_iter()
        .flatten()
        .flatten()
        .map(|entry| entry.path())
        .filter(|path| {
            path.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("banditore-") && n.ends_with(".jsonl"))
        })
        .collect();
    files.sort();
    files
}

/// The newest snapshot in `data_dir`, if any.
pub fn newest(data_dir: &Path) -> Option<PathBuf> {
    all(data_dir).pop()
}

/// How to restore the newest snapshot (empty when there is none), for the error that says
/// the store cannot be opened.
pub fn restore_hint(data_dir: &Path) -> String {
    match newest(data_dir) {
        None => " There is no snapshot to restore.".into(),
        Some(file) => format!(
            " The newest snapshot is {file}. To restore it: stop the service (systemctl stop \
             banditore), move {store} aside (keep it for a report), run `banditore store import \
             {file} --rebaseline --data {data}` as the service's user (or give the new store back \
             to that user: chown -R), and start again (each source's first poll then sends \
             nothing: what went out after the snapshot is not sent again, what was published \
             meanwhile is not sent either).",
            file = file.display(),
            store = data_dir.join("store").display(),
            data = data_dir.display(),
        ),
    }
}

impl Store {
    /// Whether the store holds nothing a daemon writes (no source state, subscriber or log
    /// entry): a new store, or one whose files lost their contents.
    pub fn holds_nothing(&self) -> bool {
        self.sources.len() == 0 && self.subscribers.len() == 0 && self.log.len() == 0
    }

    /// Makes every source's next poll a baseline (what is there is recorded, not sent), as
    /// after a restore from an export older than what went out since.
    pub fn rebaseline(&self) -> Result<(), StoreError> {
        for entry in self.sources.iter() {
            let (name, mut state) = entry?;
            state.baselined = false;
            state.validators = Default::default();
            self.sources.insert(name, &state)?;
        }
        self.flush()
    }

    /// Writes today's snapshot into `data_dir` unless there is one; keeps the newest
    /// [`KEEP`]. The file is written whole (a temporary file, synced, renamed) and readable by
    /// its owner only: it holds phone numbers. Returns the file written, if one was.
    pub fn snapshot_if_due(
        &self,
        data_dir: &Path,
        now: DateTime<Utc>,
    ) -> Result<Option<PathBuf>, ExportError> {
        let dir = data_dir.join(DIR);
        let file = dir.join(name(now));
        // Nothing to keep yet (and an empty store beside snapshots means a damaged one).
        if file.exists() || self.holds_nothing() {
            return Ok(None);
        }
        {
            use std::os::unix::fs::DirBuilderExt;
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(&dir)
                .map_err(ExportError::Write)?;
        }
        let partial = dir.join(format!(".{}.partial", name(now)));
        let out = {
            use std::os::unix::fs::OpenOptionsExt;
            std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .open(&partial)
                .map_err(ExportError::Write)?
        };
        let mut writer = std::io::BufWriter::new(out);
        self.export(false, now, &mut writer)?;
        let out = writer
            .into_inner()
            .map_err(|e| ExportError::Write(e.into_error()))?;
        out.sync_all().map_err(ExportError::Write)?;
        std::fs::rename(&partial, &file).map_err(ExportError::Write)?;
        let files = all(data_dir);
        for old in files.iter().take(files.len().saturating_sub(KEEP)) {
            let _ = std::fs::remove_file(old);
        }
        Ok(Some(file))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn one_a_day_the_newest_kept_and_named_for_a_restore() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_in(dir.path(), 8).unwrap();
        assert!(restore_hint(dir.path()).contains("no snapshot"));
        let first = Utc.with_ymd_and_hms(2026, 10, 31, 3, 0, 0).unwrap();
        assert!(
            store.snapshot_if_due(dir.path(), first).unwrap().is_none(),
            "nothing to keep"
        );
        let subscriber = crate::store::Subscriber {
            consented_at: first,
            consent_text: "ISCRIVIMI".into(),
            consent_message_id: None,
            last_inbound_at: None,
            selection: Default::default(),
        };
        let phone = crate::phone::Phone::parse("+393401234567").unwrap();
        store.subscribe(&phone, &subscriber).unwrap();
        for day in 1..=9 {
            let at = Utc.with_ymd_and_hms(2026, 11, day, 3, 0, 0).unwrap();
            assert!(store.snapshot_if_due(dir.path(), at).unwrap().is_some());
            assert!(
                store.snapshot_if_due(dir.path(), at).unwrap().is_none(),
                "one a day"
            );
        }
        let kept = all(dir.path());
        assert_eq!(kept.len(), KEEP);
        let newest = newest(dir.path()).unwrap();
        assert!(newest.ends_with("banditore-2026-11-09.jsonl"));
        let hint = restore_hint(dir.path());
        assert!(
            hint.contains("banditore store import") && hint.contains("2026-11-09"),
            "{hint}"
        );
        let mut text = String::new();
        std::io::Read::read_to_string(&mut std::fs::File::open(&newest).unwrap(), &mut text)
            .unwrap();
        assert!(text.starts_with("{\"banditore_export\""), "{text}");
    }
}
