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

/// Why [`secret_from_env`] found no secret named `var`, in words for the person who set it
/// up (a file named but unreadable, or empty, is not "not set").
pub fn why_no_secret(var: &str) -> String {
    let set = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    if let Some(path) = set(&format!("{var}_FILE")) {
        return match std::fs::read_to_string(&path) {
            Ok(_) => format!("{var}_FILE names {path}, which is empty"),
            Err(e) => format!("{var}_FILE names {path}, which cannot be read: {e}"),
        };
    }
    if let Some(dir) = set("CREDENTIALS_DIRECTORY") {
        let file = std::path::Path::new(&dir).join(var);
        if file.exists() {
            return format!(
                "the credential {} cannot be read or is empty",
                file.display()
            );
        }
        return format!(
            "{var} is not set, nor {var}_FILE, and there is no credential {var} in {dir}"
        );
    }
    format!("{var} is not set (nor {var}_FILE, nor a systemd credential {var})")
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
