//! Secrets: named by the configuration (`*_env` keys), read from the process's environment,
//! a file, or systemd's credentials. Never part of the configuration file itself.

/// A secret named `var` from the process's environment: the variable itself; else the file
/// named by `{var}_FILE` (Docker and Kubernetes secrets); else `$CREDENTIALS_DIRECTORY/{var}`
/// (systemd's `LoadCredential=`). A file's trailing line break is not part of the secret.
pub fn secret_from_env(var: &str) -> Option<String> {
    from_process(var).ok()
}

/// Why [`secret_from_env`] found no secret named `var`, in words for the person who set it
/// up (a file named but unreadable, or empty, is not "not set").
pub fn why_no_secret(var: &str) -> String {
    from_process(var).err().unwrap_or_default()
}

fn from_process(var: &str) -> Result<String, String> {
    from_sources(
        var,
        |name| std::env::var(name).ok(),
        |path| std::fs::read_to_string(path),
    )
}

/// The lookup of [`secret_from_env`] over any environment and file system (for its tests):
/// the secret, or why there is none.
fn from_sources(
    var: &str,
    env: impl Fn(&str) -> Option<String>,
    read: impl Fn(&std::path::Path) -> std::io::Result<String>,
) -> Result<String, String> {
    let set = |name: &str| env(name).filter(|v| !v.is_empty());
    if let Some(value) = set(var) {
        return Ok(value);
    }
    let from_file = |path: &std::path::Path| {
        read(path).map(|text| text.trim_end_matches(['\r', '\n']).to_owned())
    };
    if let Some(path) = set(&format!("{var}_FILE")) {
        return match from_file(std::path::Path::new(&path)) {
            Ok(secret) if !secret.is_empty() => Ok(secret),
            Ok(_) => Err(format!("{var}_FILE names {path}, which is empty")),
            Err(e) => Err(format!(
                "{var}_FILE names {path}, which cannot be read: {e}"
            )),
        };
    }
    let Some(dir) = set("CREDENTIALS_DIRECTORY") else {
        return Err(format!(
            "{var} is not set (nor {var}_FILE, nor a systemd credential {var})"
        ));
    };
    let file = std::path::Path::new(&dir).join(var);
    match from_file(&file) {
        Ok(secret) if !secret.is_empty() => Ok(secret),
        Ok(_) => Err(format!("the credential {} is empty", file.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(format!(
            "{var} is not set, nor {var}_FILE, and there is no credential {var} in {dir}"
        )),
        Err(e) => Err(format!(
            "the credential {} cannot be read: {e}",
            file.display()
        )),
    }
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
            Some("/run/secrets/token") => Ok("s3cret-from-file\n".to_owned()),
            Some("/run/credentials/banditore.service/WA_TOKEN") => Ok("from-systemd".to_owned()),
            _ => Err(std::io::ErrorKind::NotFound.into()),
        };
        assert_eq!(
            from_sources("WA_TOKEN", env(&[("WA_TOKEN", "plain")]), files)
                .ok()
                .as_deref(),
            Some("plain")
        );
        assert_eq!(
            from_sources(
                "WA_TOKEN",
                env(&[("WA_TOKEN_FILE", "/run/secrets/token")]),
                files
            )
            .ok()
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
            .ok()
            .as_deref(),
            Some("from-systemd")
        );
        assert_eq!(
            from_sources("WA_TOKEN", env(&[("WA_TOKEN_FILE", "/nope")]), files).ok(),
            None
        );
    }
}
