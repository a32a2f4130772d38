//! `banditore hash-password`: an argon2 hash of a password read from standard input, for a
//! `[[user]]` of the configuration. The same hash, with the same minimum length, as the admin
//! UI makes (`users::hash_password`).

use std::process::ExitCode;

use banditore::http::admin::users::{hash_password, MIN_PASSWORD};

use super::EXIT_USAGE;

pub fn run() -> anyhow::Result<ExitCode> {
    let mut password = String::new();
    std::io::stdin().read_line(&mut password)?;
    let password = password.trim_end_matches(['\n', '\r']);
    if password.chars().count() < MIN_PASSWORD {
        eprintln!("banditore: use a password of at least {MIN_PASSWORD} characters");
        return Ok(ExitCode::from(EXIT_USAGE));
    }
    // A random salt from the operating system (argon2's `getrandom` feature).
    let hash = hash_password(password).map_err(|e| anyhow::anyhow!("{e}"))?;
    println!("{hash}");
    Ok(ExitCode::SUCCESS)
}
