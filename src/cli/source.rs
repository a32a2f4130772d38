//! `banditore source list|test|add|release|discard`.

use std::process::ExitCode;

use banditore::config::{Config, SourceKind};
use banditore::daemon::control::Request;
use banditore::http::admin::source_form::Fields;
use banditore::http::admin::sources::{
    append_source, detect, preset_name, same_source, suggest_name, unique_name,
};
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
        SourceCommand::ImportOpml { file, paths } => import_opml(&file, &paths).await,
        SourceCommand::ExportOpml(paths) => export_opml(&paths),
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
        match Config::parse_at(&paths.config, &new_text) {
            Ok(_) => Ok((new_text, ())),
            Err(e) => Err(e
                .problems
                .into_iter()
                .map(|p| p.to_string())
                .collect::<Vec<_>>()),
        }
    });
    if let Err(code) = written(edited, paths, "not added")? {
        return Ok(code);
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

/// Adds the feeds of an OPML file that are not followed yet, in one edit of the file, and
/// has a running daemon reload it.
async fn import_opml(file: &std::path::Path, paths: &Paths) -> anyhow::Result<ExitCode> {
    let cfg = match load(&paths.config) {
        Ok(c) => c,
        Err(code) => return Ok(code),
    };
    let feeds = match std::fs::read_to_string(file)
        .map_err(|e| e.to_string())
        .and_then(|text| banditore::opml::feeds(&text))
    {
        Ok(feeds) => feeds,
        Err(e) => {
            eprintln!("banditore: {}: {e}", file.display());
            return Ok(ExitCode::from(EXIT_BAD_INPUT));
        }
    };
    let fields = Fields::for_new(&cfg);
    let edited = banditore::config::file::edit(&paths.config, |mut text| {
        // From the file as it is now, under its lock: names and addresses already there.
        let refused = |e: banditore::config::ConfigError| {
            e.problems.iter().map(|p| p.to_string()).collect::<Vec<_>>()
        };
        // Included files count: a feed followed there is followed.
        let mut current = Config::parse_at(&paths.config, &text).map_err(refused)?;
        let (mut added, mut skipped) = (Vec::new(), Vec::new());
        for feed in &feeds {
            let address = same_source(&feed.url);
            if current
                .sources
                .iter()
                .any(|s| same_source(&s.url) == address)
            {
                skipped.push(feed.url.to_string());
                continue;
            }
            let name = name_for(&feed.title, &feed.url, &current);
            text = append_source(
                &text,
                &name,
                SourceKind::Feed,
                feed.url.as_str(),
                None,
                &fields,
            )
            .map_err(|e| vec![e])?;
            current = Config::parse_at(&paths.config, &text).map_err(refused)?;
            added.push((name, feed.url.to_string()));
        }
        Ok::<_, Vec<String>>((text, (added, skipped)))
    });
    let (added, skipped) = match written(edited, paths, "nothing added")? {
        Ok(done) => done,
        Err(code) => return Ok(code),
    };
    for (name, url) in &added {
        println!("added {name}: {url}");
    }
    for url in &skipped {
        println!("already followed: {url}");
    }
    println!(
        "{} added to {}, {} already followed; each new source's first poll records what is there and sends nothing",
        added.len(),
        paths.config.display(),
        skipped.len()
    );
    if added.is_empty() {
        return Ok(ExitCode::SUCCESS);
    }
    match request(&socket_path(&paths.data), &Request::Reload).await {
        Some(reply) => Ok(print(&reply?)),
        None => Ok(ExitCode::SUCCESS),
    }
}

/// Prints the feed sources as OPML.
fn export_opml(paths: &Paths) -> anyhow::Result<ExitCode> {
    let cfg = match load(&paths.config) {
        Ok(c) => c,
        Err(code) => return Ok(code),
    };
    let feeds: Vec<(String, url::Url)> = cfg
        .sources
        .iter()
        .filter(|s| s.kind() == SourceKind::Feed)
        .map(|s| (s.name.clone(), s.url.clone()))
        .collect();
    print!("{}", banditore::opml::render("banditore", &feeds));
    Ok(ExitCode::SUCCESS)
}

/// A source name from an OPML outline's title ("Comune di Leinì" → "comune-di-leini"),
/// unique in `config`; from the address when the title gives none.
fn name_for(title: &str, url: &url::Url, config: &Config) -> String {
    let mut slug = String::new();
    for c in title
        .chars()
        .flat_map(char::to_lowercase)
        .map(banditore::ident::fold_accent)
    {
        if c.is_ascii_alphanumeric() {
            slug.push(c);
        } else if !slug.is_empty() && !slug.ends_with('-') {
            slug.push('-');
        }
    }
    let slug: String = slug.trim_matches('-').chars().take(48).collect();
    let slug = slug.trim_end_matches('-');
    if slug.is_empty() {
        return suggest_name(url, config);
    }
    unique_name(slug, config)
}

/// The outcome of an edit of the configuration file: what the edit returned, or the exit
/// code after saying why the file was left as it was (`what`: "not added").
fn written<T>(
    edited: Result<T, banditore::config::file::EditError<Vec<String>>>,
    paths: &Paths,
    what: &str,
) -> anyhow::Result<Result<T, ExitCode>> {
    match edited {
        Ok(value) => Ok(Ok(value)),
        Err(banditore::config::file::EditError::Refused(problems)) => {
            eprintln!("banditore: {what}; the configuration would be invalid:");
            for p in problems {
                eprintln!("  {p}");
            }
            Ok(Err(ExitCode::from(EXIT_USAGE)))
        }
        Err(banditore::config::file::EditError::Io(e)) => {
            Err(anyhow::anyhow!("{}: {e}", paths.config.display()))
        }
    }
}
