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
    ///
    /// Failures are told apart: one before any byte was written (the file cannot be opened:
    /// too many open files, no permission) is "not sent" and retried; a write that fails half
    /// way (a full disk) is cut back to where it started, so the file stays valid JSON
    /// lines, and is "not sent" too; only when that cut fails may part of it remain
    /// ("may have been sent", for [`FileSink::reconcile`]).
    pub async fn append(&self, lines: Vec<String>) -> Result<(), SinkError> {
        let _guard = self.lock.lock().await;
        let path = self.path.clone();
        let shown = self.path.display().to_string();
        tokio::task::spawn_blocking(move || -> Result<(), SinkError> {
            let not_sent = |e: std::io::Error| SinkError::NotSent(format!("{shown}: {e}").into());
            if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                std::fs::create_dir_all(parent).map_err(not_sent)?;
            }
            let mut file = std::fs::OpenOptions::new()
                .create(true)
                .read(true)
                .append(true)
                .open(&*path)
                .map_err(not_sent)?;
            append_lines(&mut file, lines.concat().as_bytes())
                .map_err(|failure| failure.into_error(&shown))
        })
        .await
        .map_err(|e| SinkError::MaybeSent(e.to_string().into()))?
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

/// What an append needs of a file; a trait so that a failing disk can be played in tests.
trait AppendTarget: Write {
    fn len(&mut self) -> std::io::Result<u64>;
    fn last_byte(&mut self, len: u64) -> std::io::Result<u8>;
    fn cut(&mut self, len: u64) -> std::io::Result<()>;
    fn sync(&mut self) -> std::io::Result<()>;
}

impl AppendTarget for std::fs::File {
    fn len(&mut self) -> std::io::Result<u64> {
        Ok(self.metadata()?.len())
    }

    fn last_byte(&mut self, len: u64) -> std::io::Result<u8> {
        let mut byte = [0];
        self.seek(SeekFrom::Start(len.saturating_sub(1)))?;
        self.read_exact(&mut byte)?;
        Ok(byte[0])
    }

    fn cut(&mut self, len: u64) -> std::io::Result<()> {
        self.set_len(len)?;
        self.sync_data()
    }

    fn sync(&mut self) -> std::io::Result<()> {
        self.sync_data()
    }
}

/// How an append failed.
enum AppendFailure {
    /// Nothing of it is in the file.
    NotWritten(std::io::Error),
    /// Part of it may be.
    Partial(std::io::Error),
}

impl AppendFailure {
    fn into_error(self, path: &str) -> SinkError {
        match self {
            AppendFailure::NotWritten(e) => SinkError::NotSent(format!("{path}: {e}").into()),
            AppendFailure::Partial(e) => SinkError::MaybeSent(format!("{path}: {e}").into()),
        }
    }
}

/// Appends `bytes` whole and synced, or cuts the file back to where it was. A line left
/// unfinished by an earlier crash is ended first, so no message is glued onto it.
fn append_lines(file: &mut impl AppendTarget, bytes: &[u8]) -> Result<(), AppendFailure> {
    let start = file.len().map_err(AppendFailure::NotWritten)?;
    let unfinished =
        start > 0 && file.last_byte(start).map_err(AppendFailure::NotWritten)? != b'\n';
    let written = if unfinished {
        file.write_all(b"\n")
    } else {
        Ok(())
    }
    .and_then(|()| file.write_all(bytes))
    .and_then(|()| file.sync());
    match written {
        Ok(()) => Ok(()),
        Err(e) => match file.cut(start) {
            Ok(()) => Err(AppendFailure::NotWritten(e)),
            Err(_) => Err(AppendFailure::Partial(e)),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A disk with `room` bytes left: a write beyond it is cut short, as a full disk does.
    struct Disk {
        data: Vec<u8>,
        room: usize,
    }

    impl Write for Disk {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            if self.room == 0 {
                return Err(std::io::Error::from_raw_os_error(libc::ENOSPC));
            }
            let n = buf.len().min(self.room);
            self.data.extend_from_slice(&buf[..n]);
            self.room -= n;
            Ok(n)
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl AppendTarget for Disk {
        fn len(&mut self) -> std::io::Result<u64> {
            Ok(self.data.len() as u64)
        }

        fn last_byte(&mut self, _len: u64) -> std::io::Result<u8> {
            Ok(*self.data.last().unwrap_or(&b'\n'))
        }

        fn cut(&mut self, len: u64) -> std::io::Result<()> {
            self.data.truncate(len as usize);
            Ok(())
        }

        fn sync(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// A file that cannot be opened (here: a directory; in life, too many open files) was
    /// not written: the message is retried, not written off as "unknown".
    #[tokio::test]
    async fn a_file_that_cannot_be_opened_is_not_sent() {
        let dir = tempfile::tempdir().unwrap();
        let sink = FileSink::new("out", dir.path().to_owned());
        let failed = sink.append(vec!["{}\n".into()]).await;
        assert!(matches!(failed, Err(SinkError::NotSent(_))), "{failed:?}");
    }

    #[test]
    fn a_full_disk_leaves_the_file_as_it_was_and_nothing_glued() {
        let mut disk = Disk {
            data: b"{\"id\":\"a\"}\n{\"id\":\"brok".to_vec(), // a crash left half a line
            room: 10,
        };
        let before = disk.data.clone();
        let failed = append_lines(&mut disk, b"{\"id\":\"b\",\"text\":\"long\"}\n");
        assert!(matches!(failed, Err(AppendFailure::NotWritten(_))));
        assert_eq!(disk.data, before, "cut back to where it was");
        // Space again: the message goes on its own line, after the broken one.
        disk.room = 1000;
        append_lines(&mut disk, b"{\"id\":\"b\"}\n").unwrap_or_else(|_| panic!("appended"));
        let text = String::from_utf8(disk.data).unwrap();
        assert_eq!(text.lines().last(), Some("{\"id\":\"b\"}"));
        assert_eq!(text.lines().count(), 3);
    }
}
