//! `banditore preview`: the messages a document would produce, one JSON per line. With
//! `--source NAME` the document is read with that source's options; with `--explain` every
//! item gets a line with its decision. Sends nothing, stores nothing.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;

use banditore::config::{Settings, SourceConfig, SourceKind};
use banditore::fetch::{FetchLimits, FetchOutcome, Fetcher};
use banditore::format::FormatError;
use banditore::pipeline::plan::Action;
use banditore::pipeline::preview::Filters;

use super::{load, EXIT_BAD_INPUT, EXIT_USAGE};

pub struct Options {
    pub kind: Option<SourceKind>,
    pub base_url: Option<url::Url>,
    pub source: Option<String>,
    pub config: PathBuf,
    pub explain: bool,
}

/// A document to preview.
struct Document {
    bytes: Vec<u8>,
    content_type: Option<String>,
    /// Stands in for the source's name when no --source is given.
    name: String,
    /// Where it came from (a `file:` URL for a local file).
    url: url::Url,
    base: Option<url::Url>,
}

pub async fn run(input: &str, options: &Options) -> anyhow::Result<ExitCode> {
    let (settings, configured) = match &options.source {
        Some(name) => {
            let config = match load(&options.config) {
                Ok(c) => c,
                Err(code) => return Ok(code),
            };
            let Some(src) = config.source(name).cloned() else {
                eprintln!(
                    "banditore: no source named {name:?} in {}",
                    options.config.display()
                );
                return Ok(ExitCode::from(EXIT_USAGE));
            };
            (config.settings, Some(src))
        }
        None => (Settings::default(), None),
    };
    let doc = match read(input, options.base_url.clone(), &settings).await {
        Ok(doc) => doc,
        Err(e) => {
            eprintln!("banditore: {input}: {e}");
            return Ok(ExitCode::from(EXIT_BAD_INPUT));
        }
    };
    // A configured source's preview is what its polls would do, filters included; a bare
    // document shows everything it could produce.
    let filters = match configured {
        Some(_) => Filters::Source,
        None => Filters::None,
    };
    let src = match configured {
        Some(src) => src,
        None => {
            let kind = options.kind.unwrap_or_else(|| {
                banditore::pipeline::preview::detect_kind(&doc.bytes, doc.content_type.as_deref())
            });
            SourceConfig::adhoc(&doc.name, kind, doc.url.clone())
        }
    };
    let plan = match banditore::pipeline::preview::preview(
        &doc.bytes,
        doc.content_type.as_deref(),
        &src,
        &settings,
        doc.base.clone(),
        filters,
        chrono::Utc::now(),
    ) {
        Ok(plan) => plan,
        Err(e) => {
            eprintln!("banditore: {input}: {e}");
            return Ok(ExitCode::from(EXIT_BAD_INPUT));
        }
    };
    if options.explain {
        eprintln!(
            "banditore: a preview judges the document alone; a real poll also applies max_age, flood protection, one story once and corrections (`banditore source test NAME` shows them)"
        );
    }
    if plan.decisions.is_empty() {
        eprintln!(
            "banditore: {input}: the document gives no item for citizens (nothing to decide)"
        );
    }
    let mut out = std::io::stdout().lock();
    for decision in &plan.decisions {
        let line = match (decision.action.message(), options.explain) {
            (Some(m), false) => serde_json::to_string(m).context("cannot write JSON")?,
            (message, true) => {
                let mut value = match message {
                    Some(m) => serde_json::to_value(m).context("cannot write JSON")?,
                    None => serde_json::json!({ "title": decision.title }),
                };
                if let Some(obj) = value.as_object_mut() {
                    obj.insert(
                        "decision".into(),
                        serde_json::json!({
                            "action": decision.action.name(),
                            "reason": decision.action.reason(),
                        }),
                    );
                }
                value.to_string()
            }
            (None, false) => {
                let hint = match &decision.action {
                    Action::Unusable(FormatError::NoLink) if doc.base.is_none() => {
                        " (pass --base-url with the document's address)"
                    }
                    _ => "",
                };
                eprintln!(
                    "banditore: skipped {:?}: {}{hint}",
                    decision.title,
                    decision.action.reason()
                );
                continue;
            }
        };
        use std::io::Write;
        if writeln!(out, "{line}").is_err() {
            break; // stdout closed (e.g. piped into head)
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// A local file, or an http(s) URL fetched once with the configuration's limits.
async fn read(
    input: &str,
    base_url: Option<url::Url>,
    settings: &Settings,
) -> anyhow::Result<Document> {
    match url::Url::parse(input) {
        Ok(url) if url.scheme() == "http" || url.scheme() == "https" => {
            let fetcher = Fetcher::new(
                FetchLimits {
                    connect_timeout: settings.connect_timeout,
                    timeout: settings.fetch_timeout,
                    max_body_bytes: settings.max_body_bytes,
                    concurrency: 1,
                    per_host_concurrency: 1,
                },
                &settings.user_agent(),
                // The address its user typed, and what its document links to: this is the
                // admin's own command, not the daemon reading documents unattended.
                banditore::netguard::Guard::open(),
            )?;
            match fetcher.get(&url, &Default::default(), None).await? {
                FetchOutcome::Fetched(f) => Ok(Document {
                    bytes: f.body.to_vec(),
                    content_type: f.content_type,
                    name: url.host_str().unwrap_or("preview").to_owned(),
                    base: Some(base_url.unwrap_or(f.final_url)),
                    url,
                }),
                FetchOutcome::NotModified(_) => {
                    anyhow::bail!("the server answered 304 to an unconditional request")
                }
            }
        }
        _ => {
            let path = PathBuf::from(input);
            let bytes = std::fs::read(&path)?;
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| input.to_owned());
            let url = url::Url::from_file_path(std::fs::canonicalize(&path)?)
                .map_err(|()| anyhow::anyhow!("cannot make an address of this path"))?;
            Ok(Document {
                bytes,
                content_type: None,
                name,
                url,
                base: base_url,
            })
        }
    }
}
