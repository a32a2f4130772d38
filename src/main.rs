//! The `banditore` command line: parses arguments, sets up logging, calls the library.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};
use tokio_util::sync::CancellationToken;

use banditore::app::App;
use banditore::config::{Config, SourceKind};
use banditore::schedule::SystemClock;

#[derive(Parser)]
#[command(
    name = "banditore",
    version,
    about = "Carries a comune's official news to WhatsApp"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Args, Clone)]
struct Paths {
    /// Configuration file.
    #[arg(long, env = "BANDITORE_CONFIG", default_value = "sources.toml")]
    config: PathBuf,
    /// Data directory (the store lives here).
    #[arg(long, env = "BANDITORE_DATA", default_value = "data")]
    data: PathBuf,
}

#[derive(Subcommand)]
enum Command {
    /// Run the daemon: poll every source on its schedule and deliver, until SIGINT/SIGTERM.
    Run(Paths),
    /// One poll cycle over all sources, deliver what is due, then exit.
    Once(Paths),
    /// Validate the configuration and print every problem with its line.
    Check {
        #[arg(long, env = "BANDITORE_CONFIG", default_value = "sources.toml")]
        config: PathBuf,
    },
    /// Print, one JSON per line, the messages a document would produce. Sends and stores nothing.
    Preview {
        /// A local file or an http(s) URL.
        input: String,
        #[arg(long, value_enum, default_value = "auto")]
        kind: KindArg,
        /// Resolve relative links of a local file against this URL.
        #[arg(long)]
        base_url: Option<url::Url>,
    },
    /// A complete offline demonstration on loopback; then the admin UI until Ctrl-C.
    Demo {
        /// Stop when the scenario is over instead of serving the admin UI.
        #[arg(long)]
        exit: bool,
    },
    /// Show recent messages and their delivery state per sink.
    Log {
        #[command(flatten)]
        paths: Paths,
        /// How many messages.
        #[arg(long, default_value = "20")]
        limit: usize,
    },
    /// Sources and their health.
    Source {
        #[command(subcommand)]
        command: SourceCommand,
    },
    /// The review queue (sources with forward = "review").
    Queue {
        #[command(flatten)]
        paths: Paths,
        #[command(subcommand)]
        command: QueueCommand,
    },
    /// The citizens who opted in (numbers and consent only).
    Subscribers {
        #[command(flatten)]
        paths: Paths,
        #[command(subcommand)]
        command: SubscribersCommand,
    },
    /// Print an argon2 hash of a password read from standard input, for a [[user]] in the
    /// configuration.
    HashPassword,
    /// Measure a poll cycle over many generated feeds served on loopback.
    Bench {
        /// Number of feeds.
        #[arg(long, default_value = "1000")]
        feeds: usize,
        /// Items per feed.
        #[arg(long, default_value = "20")]
        items: usize,
        /// Instead: broadcast one message to this many subscribers on a loopback Cloud API.
        #[arg(long)]
        broadcast: Option<usize>,
    },
}

#[derive(Subcommand)]
enum QueueCommand {
    /// What waits for review.
    List,
    /// Send an item now, or at --at (RFC 3339).
    Approve {
        id: String,
        #[arg(long)]
        at: Option<chrono::DateTime<chrono::FixedOffset>>,
    },
    /// Drop an item.
    Reject { id: String },
    /// Change an item's title and text (the text keeps the official link on its own line).
    Edit {
        id: String,
        #[arg(long)]
        title: String,
        #[arg(long)]
        text: String,
    },
}

#[derive(Subcommand)]
enum SubscribersCommand {
    /// Numbers and when they consented.
    List,
    /// How many.
    Count,
    /// CSV (phone,consented_at,consent_text) on standard output.
    Export,
    /// Remove a number (and its consent).
    Delete { number: String },
    /// Add numbers from a CSV with a consent for every row (all or nothing).
    Import { csv: PathBuf },
}

#[derive(Subcommand)]
enum SourceCommand {
    /// Detect what an address is (feed autodiscovery, CAP, page template), show a preview,
    /// and append it to the configuration, keeping its comments.
    Add {
        url: url::Url,
        #[arg(long)]
        name: Option<String>,
        /// Force the kind instead of detecting it.
        #[arg(long, value_enum)]
        kind: Option<KindArg>,
        #[command(flatten)]
        paths: Paths,
    },
    /// List sources with their health.
    List(Paths),
    /// Fetch one source now and show what it would send (nothing is stored or sent).
    Test {
        name: String,
        #[arg(long, env = "BANDITORE_CONFIG", default_value = "sources.toml")]
        config: PathBuf,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum KindArg {
    Auto,
    Feed,
    Page,
    Cap,
    Quake,
}

impl KindArg {
    fn kind(self) -> Option<SourceKind> {
        match self {
            KindArg::Auto => None,
            KindArg::Feed => Some(SourceKind::Feed),
            KindArg::Page => Some(SourceKind::Page),
            KindArg::Cap => Some(SourceKind::Cap),
            KindArg::Quake => Some(SourceKind::Quake),
        }
    }
}

/// Exit codes of the contract.
const EXIT_USAGE: u8 = 1;
const EXIT_BAD_INPUT: u8 = 2;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { EXIT_USAGE } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    let default_filter = match cli.command {
        Command::Preview { .. }
        | Command::Check { .. }
        | Command::Bench { .. }
        | Command::HashPassword => "warn",
        // The demo narrates what happens; the log would repeat it.
        Command::Demo { .. } => "error",
        _ => "banditore=info,warn",
    };
    init_logging(default_filter);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("banditore: cannot start the runtime: {e}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    match runtime.block_on(dispatch(cli.command)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("banditore: {e:#}");
            ExitCode::from(EXIT_USAGE)
        }
    }
}

fn init_logging(default: &str) {
    use std::io::IsTerminal;
    let filter = tracing_subscriber::EnvFilter::try_from_env("RUST_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .init();
}

fn load(path: &std::path::Path) -> Result<Config, ExitCode> {
    Config::load(path).map_err(|e| {
        eprint!("{e}");
        eprintln!(
            "run `banditore check --config {}` after fixing",
            path.display()
        );
        ExitCode::from(EXIT_USAGE)
    })
}

async fn dispatch(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Check { config } => match Config::load(&config) {
            Ok(cfg) => {
                println!(
                    "{}: valid ({} sources, {} sinks)",
                    config.display(),
                    cfg.sources.len(),
                    cfg.sinks.len()
                );
                Ok(ExitCode::SUCCESS)
            }
            Err(e) => {
                print!("{e}");
                Ok(ExitCode::from(EXIT_USAGE))
            }
        },
        Command::Once(paths) => {
            let cfg = match load(&paths.config) {
                Ok(c) => c,
                Err(code) => return Ok(code),
            };
            let app = App::build(cfg, &paths.data, Arc::new(SystemClock))?;
            let report = app.once().await?;
            for (name, result) in &report.polls {
                match result {
                    Ok(outcome) => tracing::info!(source = %name, ?outcome, "ok"),
                    Err(e) => tracing::warn!(source = %name, error = %e, "failed"),
                }
            }
            tracing::info!(
                sources = report.polls.len(),
                failed = report.failures(),
                sent = report.delivery.sent,
                unknown = report.delivery.unknown,
                pending = report.delivery.pending,
                "cycle done"
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Run(paths) => {
            let cfg = match load(&paths.config) {
                Ok(c) => c,
                Err(code) => return Ok(code),
            };
            let app = App::build(cfg, &paths.data, Arc::new(SystemClock))?;
            let shutdown = CancellationToken::new();
            tokio::spawn(wait_for_signal(shutdown.clone()));
            banditore::app::AppCell::new(app)
                .serve(shutdown, Some(paths.config.clone()))
                .await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Preview {
            input,
            kind,
            base_url,
        } => preview(&input, kind.kind(), base_url).await,
        Command::Demo { exit } => {
            banditore::demo::run(exit).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Log { paths, limit } => {
            let cfg = match load(&paths.config) {
                Ok(c) => c,
                Err(code) => return Ok(code),
            };
            let app = App::build(cfg, &paths.data, Arc::new(SystemClock))?;
            print!("{}", banditore::report::log(&app, limit)?);
            Ok(ExitCode::SUCCESS)
        }
        Command::Source { command } => match command {
            SourceCommand::List(paths) => {
                let cfg = match load(&paths.config) {
                    Ok(c) => c,
                    Err(code) => return Ok(code),
                };
                let app = App::build(cfg, &paths.data, Arc::new(SystemClock))?;
                print!("{}", banditore::report::sources(&app)?);
                Ok(ExitCode::SUCCESS)
            }
            SourceCommand::Add {
                url,
                name,
                kind,
                paths,
            } => {
                let cfg = match load(&paths.config) {
                    Ok(c) => c,
                    Err(code) => return Ok(code),
                };
                let app = App::build(cfg, &paths.data, Arc::new(SystemClock))?;
                let detected = match banditore::admin::sources::detect(&app, url, true).await {
                    Ok(d) => d,
                    Err(e) => {
                        eprintln!("banditore: {e}");
                        return Ok(ExitCode::from(EXIT_BAD_INPUT));
                    }
                };
                let kind = kind.and_then(KindArg::kind).unwrap_or(detected.kind);
                let name = name.unwrap_or_else(|| {
                    banditore::admin::sources::suggest_name(&detected.url, app.config())
                });
                println!("{name}: kind {} at {}", kind.as_str(), detected.url);
                if !detected.note.is_empty() {
                    println!("{}", detected.note);
                }
                for m in &detected.messages {
                    println!("{}", banditore::sink::render(m));
                }
                let text = std::fs::read_to_string(&paths.config)?;
                let preset = detected.preset.map(banditore::admin::sources::preset_name);
                let new_text = banditore::admin::sources::append_source(
                    &text,
                    &name,
                    kind.as_str(),
                    detected.url.as_str(),
                    preset,
                )
                .map_err(anyhow::Error::msg)?;
                if let Err(problems) = Config::parse(&new_text) {
                    eprintln!("banditore: not added; the configuration would be invalid:");
                    for p in problems {
                        eprintln!("  {p}");
                    }
                    return Ok(ExitCode::from(EXIT_USAGE));
                }
                std::fs::write(&paths.config, new_text)?;
                println!(
                    "added to {}; its first poll records what is there and sends nothing",
                    paths.config.display()
                );
                Ok(ExitCode::SUCCESS)
            }
            SourceCommand::Test { name, config } => {
                let cfg = match load(&config) {
                    Ok(c) => c,
                    Err(code) => return Ok(code),
                };
                let Some(src) = cfg.source(&name) else {
                    eprintln!(
                        "banditore: no source named {name:?} in {}",
                        config.display()
                    );
                    return Ok(ExitCode::from(EXIT_USAGE));
                };
                preview(&src.url, Some(src.kind), None).await
            }
        },
        Command::Subscribers { paths, command } => subscribers(&paths, command),
        Command::HashPassword => {
            use argon2::PasswordHasher;
            let mut password = String::new();
            std::io::stdin().read_line(&mut password)?;
            let password = password.trim_end_matches(['\n', '\r']);
            if password.len() < 10 {
                eprintln!("banditore: use a password of at least 10 characters");
                return Ok(ExitCode::from(EXIT_USAGE));
            }
            let salt = argon2::password_hash::SaltString::generate(
                &mut argon2::password_hash::rand_core::OsRng,
            );
            let hash = argon2::Argon2::default()
                .hash_password(password.as_bytes(), &salt)
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            println!("{hash}");
            Ok(ExitCode::SUCCESS)
        }
        Command::Queue { paths, command } => {
            let cfg = match load(&paths.config) {
                Ok(c) => c,
                Err(code) => return Ok(code),
            };
            let app = App::build(cfg, &paths.data, Arc::new(SystemClock))?;
            let who = format!(
                "cli:{}",
                std::env::var("USER").unwrap_or_else(|_| "unknown".into())
            );
            let result = match command {
                QueueCommand::List => {
                    for item in banditore::review::pending(&app)? {
                        let when = item
                            .send_at
                            .map(|t| format!(" (scheduled {})", t.to_rfc3339()))
                            .unwrap_or_default();
                        println!(
                            "{} [{}] {}{when}",
                            item.message.id, item.message.source, item.message.title
                        );
                    }
                    Ok(())
                }
                QueueCommand::Approve { id, at } => banditore::review::approve(
                    &app,
                    &id,
                    &who,
                    at.map(|t| t.with_timezone(&chrono::Utc)),
                ),
                QueueCommand::Reject { id } => banditore::review::reject(&app, &id, &who),
                QueueCommand::Edit { id, title, text } => {
                    banditore::review::edit(&app, &id, &who, &title, &text).map(|_| ())
                }
            };
            match result {
                Ok(()) => {
                    app.deliver(&CancellationToken::new()).await?;
                    app.store().flush()?;
                    Ok(ExitCode::SUCCESS)
                }
                Err(e) => {
                    eprintln!("banditore: {e}");
                    Ok(ExitCode::from(EXIT_USAGE))
                }
            }
        }
        Command::Bench {
            feeds,
            items,
            broadcast,
        } => {
            match broadcast {
                Some(n) => print!("{}", banditore::bench::broadcast(n).await?),
                None => print!("{}", banditore::bench::run(feeds, items).await?),
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Opens only the store (no sinks, no secrets needed) for the subscriber commands.
fn subscribers(paths: &Paths, command: SubscribersCommand) -> anyhow::Result<ExitCode> {
    let cfg = match load(&paths.config) {
        Ok(c) => c,
        Err(code) => return Ok(code),
    };
    let store = banditore::store::Store::open(
        &paths.data.join("store"),
        cfg.settings.cache_mb * 1024 * 1024,
    )
    .with_context(|| format!("cannot open the store in {}", paths.data.display()))?;
    match command {
        SubscribersCommand::List => {
            for row in store.subscribers() {
                let (phone, s) = row?;
                println!(
                    "{phone}\t{}\t{}",
                    s.consented_at.to_rfc3339(),
                    s.consent_text
                );
            }
        }
        SubscribersCommand::Count => println!("{}", store.subscriber_count()),
        SubscribersCommand::Export => {
            let n = banditore::subscribers::export(&store, std::io::stdout().lock())?;
            eprintln!("{n} subscribers exported");
        }
        SubscribersCommand::Delete { number } => {
            let Some(phone) = banditore::webhooks::normalise_phone(&number) else {
                eprintln!("banditore: {number:?} is not a phone number");
                return Ok(ExitCode::from(EXIT_USAGE));
            };
            if store.unsubscribe(&phone)? {
                store.flush()?;
                println!("{phone} removed");
            } else {
                println!("{phone} was not subscribed");
            }
        }
        SubscribersCommand::Import { csv } => {
            let file = match std::fs::File::open(&csv) {
                Ok(f) => f,
                Err(e) => {
                    eprintln!("banditore: {}: {e}", csv.display());
                    return Ok(ExitCode::from(EXIT_BAD_INPUT));
                }
            };
            match banditore::subscribers::parse_import(file) {
                Ok(rows) => {
                    let added = banditore::subscribers::import(&store, &rows)?;
                    println!(
                        "{added} subscribers added ({} already present)",
                        rows.len() - added
                    );
                }
                Err(problems) => {
                    eprintln!(
                        "banditore: {}: nothing imported; {} rows refused:",
                        csv.display(),
                        problems.len()
                    );
                    for p in problems {
                        eprintln!("  line {}: {}", p.line, p.message);
                    }
                    return Ok(ExitCode::from(EXIT_BAD_INPUT));
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn preview(
    input: &str,
    kind: Option<SourceKind>,
    base_url: Option<url::Url>,
) -> anyhow::Result<ExitCode> {
    let tz = chrono_tz::Europe::Rome;
    let (bytes, content_type, name, base) = match url::Url::parse(input) {
        Ok(url) if url.scheme() == "http" || url.scheme() == "https" => {
            let fetcher = banditore::fetch::Fetcher::new(
                banditore::fetch::FetchLimits {
                    connect_timeout: std::time::Duration::from_secs(10),
                    timeout: std::time::Duration::from_secs(30),
                    max_body_bytes: 10 * 1024 * 1024,
                    concurrency: 1,
                    per_host_concurrency: 1,
                },
                &banditore::config::Settings::default().user_agent(),
            )?;
            match fetcher.get(&url, &Default::default(), None).await {
                Ok(banditore::fetch::FetchOutcome::Fetched(f)) => {
                    let name = url.host_str().unwrap_or("preview").to_owned();
                    (
                        f.body.to_vec(),
                        f.content_type,
                        name,
                        Some(base_url.unwrap_or(f.final_url)),
                    )
                }
                Ok(banditore::fetch::FetchOutcome::NotModified) => {
                    eprintln!(
                        "banditore: {input}: the server answered 304 to an unconditional request"
                    );
                    return Ok(ExitCode::from(EXIT_BAD_INPUT));
                }
                Err(e) => {
                    eprintln!("banditore: {input}: {e}");
                    return Ok(ExitCode::from(EXIT_BAD_INPUT));
                }
            }
        }
        _ => {
            let path = PathBuf::from(input);
            let bytes = match std::fs::read(&path) {
                Ok(b) => b,
                Err(e) => {
                    eprintln!("banditore: {input}: {e}");
                    return Ok(ExitCode::from(EXIT_BAD_INPUT));
                }
            };
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| input.to_owned());
            (bytes, None, name, base_url)
        }
    };
    let base_missing = base.is_none();
    match banditore::preview::preview(&bytes, content_type.as_deref(), &name, kind, base, tz) {
        Ok(p) => {
            let mut out = std::io::stdout().lock();
            for m in &p.messages {
                use std::io::Write;
                let line = serde_json::to_string(m).context("cannot write JSON")?;
                if writeln!(out, "{line}").is_err() {
                    break; // stdout closed (e.g. piped into head)
                }
            }
            let local_without_base = base_missing;
            for (title, why) in &p.skipped {
                let hint = if local_without_base {
                    " (pass --base-url with the document's address)"
                } else {
                    ""
                };
                eprintln!("banditore: skipped {title:?}: {why}{hint}");
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            eprintln!("banditore: {input}: {e}");
            Ok(ExitCode::from(EXIT_BAD_INPUT))
        }
    }
}

/// Resolves on SIGINT or SIGTERM and fires the token.
async fn wait_for_signal(token: CancellationToken) {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(e) => {
                    tracing::error!(error = %e, "cannot listen for SIGTERM");
                    let _ = ctrl_c.await;
                    token.cancel();
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
    tracing::info!("shutting down");
    token.cancel();
}
