//! One module per command; what they share is here: the paths, loading the configuration,
//! and running a store command locally or through the running daemon.

pub mod bench;
pub mod check;
pub mod demo;
pub mod hash_password;
pub mod healthcheck;
pub mod log;
pub mod preview;
pub mod queue;
pub mod run;
pub mod source;
pub mod store;
pub mod subscribers;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use clap::ValueEnum;

use banditore::config::{Config, SourceKind};
use banditore::daemon::control::{self, Context, Reply, Request};
use banditore::http::control::{request, socket_path};
use banditore::pipeline::Pipeline;
use banditore::schedule::{Clock, SystemClock};
use banditore::store::Store;

pub use banditore::daemon::control::{EXIT_BAD_INPUT, EXIT_USAGE};

#[derive(clap::Args, Clone)]
pub struct Paths {
    /// Configuration file.
    #[arg(
        long,
        global = true,
        env = "BANDITORE_CONFIG",
        default_value = "sources.toml"
    )]
    pub config: PathBuf,
    /// Data directory (the store lives here).
    #[arg(long, global = true, env = "BANDITORE_DATA", default_value = "data")]
    pub data: PathBuf,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum KindArg {
    Auto,
    Feed,
    Page,
    Cap,
    Quake,
}

impl KindArg {
    pub fn kind(self) -> Option<SourceKind> {
        match self {
            KindArg::Auto => None,
            KindArg::Feed => Some(SourceKind::Feed),
            KindArg::Page => Some(SourceKind::Page),
            KindArg::Cap => Some(SourceKind::Cap),
            KindArg::Quake => Some(SourceKind::Quake),
        }
    }
}

/// The end of `--help` and of the manual page: the environment, the files, the exit codes.
pub const MORE_HELP: &str = "\
Environment:
  BANDITORE_CONFIG      the configuration file (--config; default sources.toml)
  BANDITORE_DATA        the data directory (--data; default data)
  BANDITORE_LOG_FORMAT  text or json (--log-format)
  BANDITORE_ADMIN_TOKEN the admin UI's bearer token for scripts
  RUST_LOG              which log lines (default: banditore=info)
  NO_COLOR              no colours in log lines
  NAME, NAME_FILE, $CREDENTIALS_DIRECTORY/NAME
                        the secrets the configuration names (token_env = \"NAME\" …)

Files:
  sources.toml          the configuration (docs/configuration.md)
  DATA/store            the store; DATA/control.sock, the running daemon's control socket
  DATA/snapshots        a daily export, the newest 7 kept

Exit status:
  0 success; 1 an invalid configuration or usage; 2 an input document that cannot be used.
  A panic (101) is always a bug.

Each command has its own help: banditore <command> --help.";

/// How log lines are written (`--log-format`, `BANDITORE_LOG_FORMAT`).
#[derive(Clone, Copy, ValueEnum)]
pub enum LogFormat {
    /// Lines for people (colours on a terminal, unless `NO_COLOR` is set).
    Text,
    /// One JSON object per line, for log collectors.
    Json,
}

pub fn init_logging(default: &str, format: LogFormat) {
    use std::io::IsTerminal;
    let filter = tracing_subscriber::EnvFilter::try_from_env("RUST_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false);
    match format {
        LogFormat::Text => logs
            .with_ansi(
                std::io::stderr().is_terminal()
                    && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()),
            )
            .init(),
        LogFormat::Json => logs.json().with_ansi(false).init(),
    }
}

/// Loads the configuration, or prints every problem and gives the exit code.
pub fn load(path: &Path) -> Result<Config, ExitCode> {
    Config::load(path).map_err(|e| {
        eprint!("{e}");
        eprintln!(
            "run `banditore check --config {}` after fixing",
            path.display()
        );
        ExitCode::from(EXIT_USAGE)
    })
}

/// Prints what a command printed and gives its exit code.
pub fn print(reply: &Reply) -> ExitCode {
    use std::io::Write;
    // A closed stdout (piped into `head`) is not an error of ours.
    let _ = std::io::stdout().lock().write_all(reply.stdout.as_bytes());
    eprint!("{}", reply.stderr);
    ExitCode::from(reply.code)
}

/// Runs a store command: through the daemon that holds the data directory's store when one
/// is running, else on the store directly. No sink is built, so no secret is needed.
pub async fn store_command(paths: &Paths, req: Request) -> anyhow::Result<ExitCode> {
    if let Some(reply) = request(&socket_path(&paths.data), &req).await {
        return Ok(print(&reply?));
    }
    let config = match load(&paths.config) {
        Ok(c) => c,
        Err(code) => return Ok(code),
    };
    let store = Store::open_in(&paths.data, config.settings.cache_mb)?;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let pipeline = Pipeline::new(&config, store.clone(), clock.clone())?;
    let ctx = Context {
        config: &config,
        store: &store,
        pipeline: &pipeline,
        now: clock.now(),
    };
    let (reply, _) = control::execute(&ctx, req).await;
    store.flush()?;
    Ok(print(&reply))
}

/// Who did it, for the audit log.
pub fn who() -> String {
    format!(
        "cli:{}",
        std::env::var("USER").unwrap_or_else(|_| "unknown".into())
    )
}
