//! `banditore check`: validates the configuration and prints every problem with its line.

use std::path::Path;
use std::process::ExitCode;

use banditore::config::Config;

use super::EXIT_USAGE;

pub fn run(path: &Path) -> ExitCode {
    match Config::load(path) {
        Ok(cfg) => {
            println!(
                "{}: valid ({} sources, {} sinks)",
                path.display(),
                cfg.sources.len(),
                cfg.sinks.len()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            print!("{e}");
            ExitCode::from(EXIT_USAGE)
        }
    }
}
