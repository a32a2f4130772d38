//! `banditore check`: validates the configuration and prints every problem with its line,
//! then what is allowed but probably not meant (warnings), secrets not set included.

use std::path::Path;
use std::process::ExitCode;

use banditore::config::Config;

use super::EXIT_USAGE;

pub fn run(path: &Path) -> ExitCode {
    match Config::load(path) {
        Ok(cfg) => {
            let count = |n: usize, one: &str, many: &str| {
                format!("{n} {}", if n == 1 { one } else { many })
            };
            println!(
                "{}: valid ({}, {})",
                path.display(),
                count(cfg.sources.len(), "source", "sources"),
                count(cfg.sinks.len(), "sink", "sinks")
            );
            for w in &cfg.warnings {
                println!("  warning: {}", w.to_string().replace('\n', "\n  "));
            }
            for (sink, key, var) in cfg.unset_secrets() {
                println!(
                    "  warning: sink {sink:?}: no secret for {key} here: {}; `run` will refuse to start without it", banditore::config::why_no_secret(&var)
                );
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            print!("{e}");
            ExitCode::from(EXIT_USAGE)
        }
    }
}
