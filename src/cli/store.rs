//! `banditore store export [--subscribers-only]` and `store import <FILE>`: the whole store
//! as JSON lines (see `store::export` for the format), for backups and moves. Export works
//! beside a running daemon (through its control socket) or on the store directly; import
//! only into an empty data directory, with no daemon on it.

use std::io::BufReader;
use std::path::Path;
use std::process::ExitCode;

use banditore::config::Settings;
use banditore::http::control::{export, socket_path};
use banditore::store::{ExportError, Store};

use super::{Paths, EXIT_BAD_INPUT, EXIT_USAGE};

pub async fn export_command(paths: &Paths, subscribers_only: bool) -> anyhow::Result<ExitCode> {
    let mut stdout = tokio::io::stdout();
    let complete = match export(&socket_path(&paths.data), subscribers_only, &mut stdout).await {
        Some(result) => result?,
        None => {
            // No daemon: the store directly. The configuration is not needed; a data
            // directory that is not there is a mistake, not an empty backup.
            if !paths.data.join("store").is_dir() {
                eprintln!(
                    "banditore: there is no store in {} (check --data or BANDITORE_DATA)",
                    paths.data.display()
                );
                return Ok(ExitCode::from(EXIT_USAGE));
            }
            let store = open(&paths.data)?;
            tokio::task::spawn_blocking(move || {
                let mut out = std::io::BufWriter::new(std::io::stdout().lock());
                store.export(subscribers_only, chrono::Utc::now(), &mut out)
            })
            .await??;
            true
        }
    };
    if complete {
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!("banditore: the export stopped before its end (did the daemon stop?); do not keep this file");
        Ok(ExitCode::from(EXIT_USAGE))
    }
}

pub async fn import_command(
    paths: &Paths,
    file: &Path,
    rebaseline: bool,
) -> anyhow::Result<ExitCode> {
    if tokio::net::UnixStream::connect(socket_path(&paths.data))
        .await
        .is_ok()
    {
        eprintln!(
            "banditore: a daemon is running on {}: import only into a new data directory, with no daemon on it",
            paths.data.display()
        );
        return Ok(ExitCode::from(EXIT_USAGE));
    }
    let input = match std::fs::File::open(file) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("banditore: {}: {e}", file.display());
            return Ok(ExitCode::from(EXIT_BAD_INPUT));
        }
    };
    let store = open(&paths.data)?;
    let result = tokio::task::spawn_blocking(move || {
        let records = store.import(&mut BufReader::with_capacity(64 * 1024, input))?;
        if rebaseline {
            store.rebaseline()?;
        }
        Ok::<_, ExportError>(records)
    })
    .await?;
    match result {
        Ok(records) => {
            println!("imported {records} records into {}", paths.data.display());
            if rebaseline {
                println!("each source's next poll records what is there without sending it");
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(e @ ExportError::Bad { .. }) | Err(e @ ExportError::Read(_)) => {
            eprintln!("banditore: {}: {e}", file.display());
            Ok(ExitCode::from(EXIT_BAD_INPUT))
        }
        Err(e) => {
            eprintln!("banditore: {e}");
            Ok(ExitCode::from(EXIT_USAGE))
        }
    }
}

fn open(data: &Path) -> anyhow::Result<Store> {
    Ok(Store::open_in(data, Settings::default().cache_mb)?)
}
