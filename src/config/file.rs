//! Changing the configuration file in place, as the admin UI and `source add` do: one writer
//! at a time (an advisory lock beside the file, so the daemon and the command line do not
//! undo each other's change), the new text written whole to a temporary file, synced, given
//! the old file's mode and owner, then renamed over it. A symbolic link stays a link: its
//! target is what changes.
//!
//! Hand-written rather than a crate's: `tempfile::persist` would replace a symlink and leave
//! the new file with the temporary file's mode (0600) and the writer's owner.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// Why a change was not written.
#[derive(Debug)]
pub enum EditError<E> {
    /// The file could not be read, locked or written.
    Io(std::io::Error),
    /// The change itself said no (an invalid result, say).
    Refused(E),
}

/// Reads the configuration at `path`, lets `change` turn its text into a new one (and a
/// value for the caller), and writes it back; all under the file's lock.
pub fn edit<T, E>(
    path: &Path,
    change: impl FnOnce(String) -> Result<(String, T), E>,
) -> Result<T, EditError<E>> {
    let target = real_path(path).map_err(EditError::Io)?;
    let _lock = lock(&target).map_err(EditError::Io)?;
    let text = std::fs::read_to_string(&target).map_err(EditError::Io)?;
    let (new_text, value) = change(text).map_err(EditError::Refused)?;
    replace(&target, &new_text).map_err(EditError::Io)?;
    Ok(value)
}

/// The file a path names, through a symbolic link.
fn real_path(path: &Path) -> std::io::Result<PathBuf> {
    if std::fs::symlink_metadata(path)?.file_type().is_symlink() {
        std::fs::canonicalize(path)
    } else {
        Ok(path.to_owned())
    }
}

/// Holds an exclusive `flock` on `<file>.lock` until dropped (the kernel lets go when the
/// descriptor closes, also when the process dies).
fn lock(target: &Path) -> std::io::Result<File> {
    let mut name = target.file_name().unwrap_or_default().to_os_string();
    name.push(".lock");
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o600)
        .open(target.with_file_name(name))?;
    // SAFETY: flock on a descriptor this function owns, for as long as the returned File.
    if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(file)
}

/// Writes `text` over `target` atomically, keeping its mode and (when allowed) its owner.
fn replace(target: &Path, text: &str) -> std::io::Result<()> {
    let old = std::fs::metadata(target)?;
    let mut name = std::ffi::OsString::from(".");
    name.push(target.file_name().unwrap_or_default());
    name.push(format!(".{}.tmp", std::process::id()));
    let tmp = target.with_file_name(name);
    let written = (|| {
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)?;
        file.write_all(text.as_bytes())?;
        file.sync_all()?;
        // Only root may give a file away; the owner writing its own file needs nothing.
        let _ = std::os::unix::fs::fchown(&file, Some(old.uid()), Some(old.gid()));
        file.set_permissions(old.permissions())?;
        drop(file);
        std::fs::rename(&tmp, target)?;
        if let Some(dir) = target.parent().filter(|d| !d.as_os_str().is_empty()) {
            File::open(dir)?.sync_all()?;
        }
        Ok(())
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn add_line(text: String) -> Result<(String, ()), String> {
        Ok((format!("{text}# one more\n"), ()))
    }

    #[test]
    fn keeps_the_mode_and_the_link() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("real.toml");
        std::fs::write(&real, "[settings]\n").unwrap();
        std::fs::set_permissions(&real, std::fs::Permissions::from_mode(0o640)).unwrap();
        let link = dir.path().join("sources.toml");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        edit(&link, add_line).unwrap();
        assert!(std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink());
        assert_eq!(
            std::fs::read_to_string(&real).unwrap(),
            "[settings]\n# one more\n"
        );
        let mode = std::fs::metadata(&real).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o640);
        // A refused change writes nothing.
        let refused = edit(&link, |_| Err::<(String, ()), _>("no"));
        assert!(matches!(refused, Err(EditError::Refused("no"))));
        assert_eq!(
            std::fs::read_to_string(&real).unwrap(),
            "[settings]\n# one more\n"
        );
    }

    #[test]
    fn writers_in_parallel_lose_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sources.toml");
        std::fs::write(&path, "").unwrap();
        let writers: Vec<_> = (0..8)
            .map(|i| {
                let path = path.clone();
                std::thread::spawn(move || {
                    edit(&path, |text| {
                        // Slow enough that unlocked writers would overlap.
                        std::thread::sleep(std::time::Duration::from_millis(20));
                        Ok::<_, String>((format!("{text}{i}\n"), ()))
                    })
                    .unwrap()
                })
            })
            .collect();
        for w in writers {
            w.join().unwrap();
        }
        assert_eq!(std::fs::read_to_string(&path).unwrap().lines().count(), 8);
    }
}
