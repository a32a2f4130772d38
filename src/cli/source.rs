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
    let preset = detected.preset.map(preset_name);
    // Like the admin UI: review when other sources go through review.
    let fields = Fields::for_new(&cfg);
    println!("forward = \"{}\"", fields.forward);
    // Under the file's lock, from its text as it is now (the daemon may have changed it).
    let edited = banditore::config::file::edit(&paths.config, |text| {
        let new_text = append_source(&text, &name, kind, detected.url.as_str(), preset, &fields)
            .map_err(|e| vec![e])?;
        match Config::parse(&new_text) {
            Ok(_) => Ok((new_text, ())),
            Err(problems) => Err(problems
                .into_iter()
                .map(|p| p.to_string())
                .collect::<Vec<_>>()),
        }
    });
    match edited {
        Ok(()) => {}
        Err(banditore::config::file::EditError::Refused(problems)) => {
            eprintln!("banditore: not added; the configuration would be invalid:");
            for p in problems {
                eprintln!("  {p}");
            }
            return Ok(ExitCode::from(EXIT_USAGE));
        }
        Err(banditore::config::file::EditError::Io(e)) => {
            return Err(anyhow::anyhow!("{}: {e}", paths.config.display()))
        }
    }
    println!(
        "added to {}; its first poll records what is there and sends nothing",
        paths.config.display()
    );
    match request(&socket_path(&paths.data), &Request::Reload).await {
        Some(reply) => Ok(print(&reply?)),
        None => Ok(ExitCode::SUCCESS),
    }
}
