//! `banditore source list|test|add|release|discard`.

use std::process::ExitCode;

use banditore::config::Config;
use banditore::daemon::control::Request;
use banditore::http::admin::source_form::Fields;
use banditore::http::admin::sources::{append_source, detect, preset_name, suggest_name};
use banditore::http::control::{request, socket_path};

use super::{load, print, store_command, who, KindArg, Paths, EXIT_BAD_INPUT, EXIT_USAGE};
use crate::SourceCommand;

pub async fn run(command: SourceCommand) -> anyhow::Result<ExitCode> {
    match command {
        SourceCommand::List(paths) => store_command(&paths, Request::SourceList).await,
        SourceCommand::Test { name, paths } => {
            store_command(&paths, Request::SourceTest { name }).await
        }
        SourceCommand::Release {
            name,
            digest,
            paths,
        } => {
            let request = Request::SourceRelease {
                name,
                who: who(),
                digest,
            };
            store_command(&paths, request).await
        }
        SourceCommand::Discard { name, paths } => {
            store_command(&paths, Request::SourceDiscard { name, who: who() }).await
        }
        SourceCommand::Add {
            url,
            name,
            kind,
            paths,
        } => add(url, name, kind, &paths).await,
    }
}

/// Detects what the address is, shows a preview, appends the source to the configuration
/// (keeping its comments) and has a running daemon reload it.
async fn add(
    url: url::Url,
    name: Option<String>,
    kind: Option<KindArg>,
    paths: &Paths,
) -> anyhow::Result<ExitCode> {
    let cfg = match load(&paths.config) {
        Ok(c) => c,
        Err(code) => return Ok(code),
    };
    let detected = match detect(&cfg.settings, url, true).await {
        Ok(d) => d,
        Err(e) => {
            eprintln!("banditore: {e}");
            return Ok(ExitCode::from(EXIT_BAD_INPUT));
        }
    };
    let kind = kind.and_then(KindArg::kind).unwrap_or(detected.kind);
    let name = name.unwrap_or_else(|| suggest_name(&detected.url, &cfg));
    println!("{name}: kind {} at {}", kind.as_str(), detected.url);
    if !detected.note.is_empty() {
        println!("{}", detected.note);
    }
    for m in &detected.messages {
        println!("{}", banditore::sink::render(m));
    }
    let text = std::fs::read_to_string(&paths.config)?;
    let preset = detected.preset.map(preset_name);
    // Like the admin UI: review when other sources go through review.
    let fields = Fields::for_new(&cfg);
    println!("forward = \"{}\"", fields.forward);
    let new_text = append_source(&text, &name, kind, detected.url.as_str(), preset, &fields)
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
    match request(&socket_path(&paths.data), &Request::Reload).await {
        Some(reply) => Ok(print(&reply?)),
        None => Ok(ExitCode::SUCCESS),
    }
}
