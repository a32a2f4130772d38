//! The `banditore` command line: parses arguments, sets up logging, and calls one function
//! per command (`cli/<command>.rs`).

mod cli;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use cli::{KindArg, Paths};

#[derive(Parser)]
#[command(
    name = "banditore",
    version,
    about = "Carries a comune's official news to WhatsApp",
    after_long_help = cli::MORE_HELP
)]
struct Cli {
    /// Log lines as text for people, or as JSON objects (one per line) for log collectors.
    #[arg(
        long,
        global = true,
        value_enum,
        env = "BANDITORE_LOG_FORMAT",
        default_value = "text"
    )]
    log_format: cli::LogFormat,
    #[command(subcommand)]
    command: Command,
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
        /// Apply the options of this source of the configuration (preset, selectors, area,
        /// severity, radius, policy, max_chars, footer).
        #[arg(long)]
        source: Option<String>,
        /// The configuration that names --source.
        #[arg(long, env = "BANDITORE_CONFIG", default_value = "sources.toml")]
        config: PathBuf,
        /// Print every item with its decision (send, hold, drop, wait) and why.
        #[arg(long)]
        explain: bool,
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
    /// Sinks: where messages go.
    Sink {
        #[command(subcommand)]
        command: SinkCommand,
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
    /// The whole store as JSON lines, for backups and moves.
    Store {
        #[command(flatten)]
        paths: Paths,
        #[command(subcommand)]
        command: StoreCommand,
    },
    /// Print an argon2 hash of a password read from standard input, for a [[user]] in the
    /// configuration.
    HashPassword,
    /// Exit 0 when the daemon of this configuration answers ready (for container
    /// HEALTHCHECKs; the image has no curl).
    Healthcheck(Paths),
    /// Print a completion script for a shell (bash, zsh, fish, elvish, powershell).
    Completions { shell: clap_complete::Shell },
    /// Print the manual page (roff), e.g. `banditore man > banditore.1`; with `--dir`, write
    /// it and one page per command (banditore-run.1, …) into that folder.
    Man {
        #[arg(long)]
        dir: Option<std::path::PathBuf>,
    },
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
        /// With --broadcast: the sink's messages_per_second (default: no limit).
        #[arg(long, requires = "broadcast")]
        rate: Option<u32>,
        /// With --broadcast: the simulated Cloud API's round trip, in milliseconds.
        #[arg(long, default_value = "0", requires = "broadcast")]
        latency_ms: u64,
        /// With --broadcast: queue an alert a second into the broadcast and time how long
        /// it waits for its first request.
        #[arg(long, requires = "broadcast")]
        alert: bool,
        /// Instead: this many CAP sources each publish an alert at a random moment of 30 s,
        /// beside --feeds news feeds, with the daemon's loops and default schedules; reports
        /// the time from publication to the first request at a loopback Cloud API.
        #[arg(long, conflicts_with = "broadcast")]
        alerts: Option<usize>,
    },
}

#[derive(Subcommand)]
pub(crate) enum QueueCommand {
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
pub(crate) enum SubscribersCommand {
    /// Numbers and when they consented.
    List,
    /// How many.
    Count,
    /// CSV (phone,consented_at,consent_text,topics,zones,stopped) on standard output.
    Export,
    /// Remove a number (and its consent).
    Delete { number: String },
    /// Add numbers from a CSV with a consent for every row (all or nothing).
    Import { csv: PathBuf },
}

#[derive(Subcommand)]
pub(crate) enum StoreCommand {
    /// Everything (admin sessions aside) as JSON lines on standard output; works while
    /// `run` runs. The last line says how many records came before it.
    Export {
        /// Only the subscribers (numbers and consent).
        #[arg(long)]
        subscribers_only: bool,
    },
    /// Load an export into an empty data directory (no daemon on it); a damaged or cut
    /// file loads nothing.
    Import {
        file: PathBuf,
        /// For an export older than the store it replaces (a daily snapshot): each source's
        /// next poll records what is there without sending it, as a new source's first poll
        /// does, so nothing that went out after the export goes out again.
        #[arg(long)]
        rebaseline: bool,
    },
}

#[derive(Subcommand)]
pub(crate) enum SourceCommand {
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
    /// Fetch one source now and show what its next poll would send, against what the store
    /// knows (nothing is stored or sent).
    Test {
        name: String,
        #[command(flatten)]
        paths: Paths,
    },
    /// Send the batch flood protection holds for a source (HELD in `source list`) to the
    /// review queue, where editors approve or reject each item.
    Release {
        name: String,
        /// Send the batch as one message (a line and the link of each item) instead.
        #[arg(long)]
        digest: bool,
        #[command(flatten)]
        paths: Paths,
    },
    /// Drop the batch flood protection holds for a source: none of it is sent.
    Discard {
        name: String,
        #[command(flatten)]
        paths: Paths,
    },
    /// Add every feed of an OPML file (a feed reader's export) as a source, keeping the
    /// configuration's comments; feeds already followed are skipped. Each new source's first
    /// poll records what is there and sends nothing.
    ImportOpml {
        file: std::path::PathBuf,
        #[command(flatten)]
        paths: Paths,
    },
    /// Print the feed sources as an OPML file, for a feed reader or another banditore.
    ExportOpml(Paths),
}

#[derive(Subcommand)]
pub(crate) enum SinkCommand {
    /// End a sink's pause (its token renewed, its bot back in the channel): what waits for it
    /// goes at once. A sink pauses itself when its account cannot send.
    Resume {
        name: String,
        #[command(flatten)]
        paths: Paths,
    },
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { cli::EXIT_USAGE } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    let default_filter = match cli.command {
        Command::Preview { .. }
        | Command::Check { .. }
        | Command::Bench { .. }
        | Command::Store { .. }
        | Command::Healthcheck(_)
        | Command::HashPassword => "warn",
        // The demo narrates what happens; the log would repeat it.
        Command::Demo { .. } => "error",
        _ => "banditore=info,warn",
    };
    cli::init_logging(default_filter, cli.log_format);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("banditore: cannot start the runtime: {e}");
            return ExitCode::from(cli::EXIT_USAGE);
        }
    };
    match runtime.block_on(dispatch(cli.command)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("banditore: {e:#}");
            ExitCode::from(cli::EXIT_USAGE)
        }
    }
}

async fn dispatch(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Run(paths) => cli::run::run(&paths).await,
        Command::Once(paths) => cli::run::once(&paths).await,
        Command::Check { config } => Ok(cli::check::run(&config)),
        Command::Preview {
            input,
            kind,
            base_url,
            source,
            config,
            explain,
        } => {
            let options = cli::preview::Options {
                kind: kind.kind(),
                base_url,
                source,
                config,
                explain,
            };
            cli::preview::run(&input, &options).await
        }
        Command::Demo { exit } => cli::demo::run(exit).await,
        Command::Log { paths, limit } => cli::log::run(&paths, limit).await,
        Command::Source { command } => cli::source::run(command).await,
        Command::Sink {
            command: SinkCommand::Resume { name, paths },
        } => {
            let request = banditore::daemon::control::Request::SinkResume {
                name,
                who: cli::who(),
            };
            cli::store_command(&paths, request).await
        }
        Command::Queue { paths, command } => cli::queue::run(&paths, command).await,
        Command::Subscribers { paths, command } => cli::subscribers::run(&paths, command).await,
        Command::Store { paths, command } => match command {
            StoreCommand::Export { subscribers_only } => {
                cli::store::export_command(&paths, subscribers_only).await
            }
            StoreCommand::Import { file, rebaseline } => {
                cli::store::import_command(&paths, &file, rebaseline).await
            }
        },
        Command::HashPassword => cli::hash_password::run(),
        Command::Healthcheck(paths) => cli::healthcheck::run(&paths).await,
        Command::Completions { shell } => {
            use clap::CommandFactory;
            clap_complete::generate(
                shell,
                &mut Cli::command(),
                "banditore",
                &mut std::io::stdout(),
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Man { dir } => {
            use clap::CommandFactory;
            match dir {
                Some(dir) => clap_mangen::generate_to(Cli::command(), dir)?,
                None => clap_mangen::Man::new(Cli::command()).render(&mut std::io::stdout())?,
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Bench {
            feeds,
            items,
            broadcast,
            rate,
            latency_ms,
            alert,
            alerts,
        } => cli::bench::run(feeds, items, broadcast, rate, latency_ms, alert, alerts).await,
    }
}
