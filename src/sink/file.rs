//! Appends one message JSON per line to a file, synced to disk before the send counts.

use std::io::{Read, Seek, SeekFrom, Write};
use std::path::PathBuf;
use std::sync::Arc;

use super::{Receipt, Reconciled, SinkError};
use crate::item::Message;

/// How much of the file's tail is read to find out whether an interrupted write landed.
const RECONCILE_TAIL: u64 = 1 << 20;

#[derive(Debug)]
pub struct FileSink {
    name: String,
    path: Arc<PathBuf>,
    lock: tokio::sync::Mutex<()>,
}

impl FileSink {
    /// The most bytes appended at once: a quarter of the tail [`FileSink::reconcile`] reads, so
    /// every line of an interrupted append is still within it.
    pub const BATCH_BYTES: usize = (RECONCILE_TAIL / 4) as usize;

    pub fn new(name: &str, path: PathBuf) -> Self {
        FileSink {
            name: name.to_owned(),
            path: Arc::new(path),
            lock: tokio::sync::Mutex::new(()),
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub async fn send(&self, message: &Message) -> Result<Receipt, SinkError> {
        self.append(vec![FileSink::line(message)?]).await?;
        Ok(Receipt::default())
    }

    /// The line a message is written as (JSON and a newline).
    pub fn line(message: &Message) -> Result<String, SinkError> {
        let mut line = serde_json::to_string(message)
            .map_err(|e| SinkError::Rejected(e.to_string().into()))?;
        line.push('\n');
        Ok(line)
    }

    /// Appends lines (from [`FileSink::line`]) in one write and syncs the file once. Lines
    /// appended together should total at most [`FileSink::BATCH_BYTES`], so that
    /// [`FileSink::reconcile`] finds each of them after a crash.
    pub async fn append(&self, lines: Vec<String>) -> Result<(), SinkError> {
        let _guard = self.lock.lock().await;
        let path = self.path.clone();
        tokio::task::spawn_blocking(move || -> std::io::Result<()> {
            if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                std::fs::create_dir_all(parent)?;
            }
            let mut file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&*path)?;
            file.write_all(lines.concat().as_bytes())?;
            file.sync_data()
        })
        .await
        .map_err(|e| SinkError::MaybeSent(e.to_string().into()))?
        // A failed append may have written part of the lines: reconcile decides later.
        .map_err(|e| SinkError::MaybeSent(format!("{}: {e}", self.path.display()).into()))
    }

    /// Looks for the message's line near the end of the file.
    pub async fn reconcile(&self, message: &Message) -> Reconciled {
        let path = self.path.clone();
        let id = message.id.clone();
        let found = tokio::task::spawn_blocking(move || -> std::io::Result<bool> {
            let mut file = match std::fs::File::open(&*path) {
                Ok(f) => f,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
                Err(e) => return Err(e),
            };
            let len = file.metadata()?.len();
            file.seek(SeekFrom::Start(len.saturating_sub(RECONCILE_TAIL)))?;
            let mut tail = Vec::new();
            file.read_to_end(&mut tail)?;
            let text = String::from_utf8_lossy(&tail);
            Ok(text
                .lines()
                .any(|line| serde_json::from_str::<Message>(line).is_ok_and(|m| m.id == id)))
        })
        .await;
        match found {
            Ok(Ok(true)) => Reconciled::Delivered,
            Ok(Ok(false)) => Reconciled::NotDelivered,
            _ => Reconciled::Unknown,
        }
    }
}
