//! Secrets: named by the configuration (`*_env` keys), read from the process's environment,
//! a file, or systemd's credentials. Never part of the configuration file itself.

/// A secret named `var` from the process's environment: the variable itself; else the file
/// named by `{var}_FILE` (Docker and Kubernetes secrets); else `$CREDENTIALS_DIRECTORY/{var}`
/// (systemd's `LoadCredential=`). A file's trailing line break is not part of the secret.
pub fn secret_from_env(var: &str) -> Option<String> {
    from_sources(
        var,
        |name| std::env::var(name).ok(),
        |path| std::fs::read_to_string(path).ok(),
    )
}

/// [`secret_from_env`] over any environment and file system (for its tests).
fn from_sources(
    var: &str,
    env: impl Fn(&str) -> Option<String>,
    read: impl Fn(&std::path::Path) -> Option<String>,
) -> Option<String> {
    let non_empty = |v: String| Some(v).filter(|v| !v.is_empty());
    let from_file = |path: &std::path::Path| {
        read(path).and_then(|text| non_empty(text.trim_end_matches(['\r', '\n']).to_owned()))
    };
    env(var).and_then(non_empty).or_else(|| {
        let named = env(&format!("{var}_FILE")).and_then(non_empty);
        match named {
            Some(path) => from_file(std::path::Path::new(&path)),
            None => env("CREDENTIALS_DIRECTORY")
                .and_then(non_empty)
                .and_then(|dir| from_file(&std::path::Path::new(&dir).join(var))),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_from_the_environment_a_file_or_systemd_credentials() {
        let env = |vars: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                vars.iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| v.to_string())
            }
        };
        let files = |path: &std::path::Path| match path.to_str() {
            Some("/run/secrets/token") => Some("s3cret-from-file\n".to_owned()),
            Some("/run/credentials/banditore.service/WA_TOKEN") => Some("from-systemd".to_owned()),
            _ => None,
        };
        assert_eq!(
            from_sources("WA_TOKEN", env(&[("WA_TOKEN", "plain")]), files).as_deref(),
            Some("plain")
        );
        assert_eq!(
            from_sources(
                "WA_TOKEN",
                env(&[("WA_TOKEN_FILE", "/run/secrets/token")]),
                files
            )
            .as_deref(),
            Some("s3cret-from-file")
        );
        assert_eq!(
            from_sources(
                "WA_TOKEN",
                env(&[(
                    "CREDENTIALS_DIRECTORY",
                    "/run/credentials/banditore.service"
                )]),
                files
            )
            .as_deref(),
            Some("from-systemd")
        );
        assert_eq!(
            from_sources("WA_TOKEN", env(&[("WA_TOKEN_FILE", "/nope")]), files),
            None
        );
    }
}
