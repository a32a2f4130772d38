//! Secrets read from the environment. `Debug` and `Display` never show the value, so a
//! secret cannot reach a log line by accident.

use std::collections::HashMap;
use std::fmt;

use super::BuildError;

/// Where the variables named by `*_env` keys are looked up: the process environment, or (for
/// the demo and the benchmark) a fixed map, so they need not change the environment.
#[derive(Debug, Clone, Default)]
pub enum Secrets {
    #[default]
    Env,
    Fixed(HashMap<String, String>),
}

impl Secrets {
    fn get(&self, var: &str) -> Option<String> {
        match self {
            Secrets::Env => crate::config::secret_from_env(var),
            Secrets::Fixed(map) => map.get(var).cloned().filter(|v| !v.is_empty()),
        }
    }
}

#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: String) -> Secret {
        Secret(value)
    }

    /// Reads the variable `var` (named by the sink's `key`); a clear error when it is unset
    /// or empty.
    pub fn resolve(
        secrets: &Secrets,
        sink: &str,
        key: &'static str,
        var: &str,
    ) -> Result<Secret, BuildError> {
        secrets
            .get(var)
            .map(Secret)
            .ok_or_else(|| BuildError::MissingSecret {
                sink: sink.to_owned(),
                key,
                why: match secrets {
                    Secrets::Env => crate::config::why_no_secret(var),
                    Secrets::Fixed(_) => format!("{var} is not set"),
                },
            })
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// Compares two secrets in time that does not depend on where they differ (`subtle`; only
/// the length may show).
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    a.ct_eq(b).into()
}

/// HMAC-SHA256 of `data` with `key`, hex.
pub fn hmac_sha256_hex(key: &[u8], data: &[u8]) -> String {
    use hmac::{Hmac, KeyInit, Mac};
    let mut mac = <Hmac<sha2::Sha256> as KeyInit>::new_from_slice(key).unwrap_or_else(|_| {
        // HMAC accepts keys of any length; this branch cannot be taken.
        <Hmac<sha2::Sha256> as KeyInit>::new_from_slice(&[]).expect("empty HMAC key")
    });
    mac.update(data);
    hex::encode(mac.finalize().into_bytes())
}

/// Constant-time check of a hex HMAC-SHA256 (or SHA-512 when `sha512`) signature.
pub fn verify_hmac_hex(key: &[u8], data: &[u8], signature_hex: &str, sha512: bool) -> bool {
    use hmac::{Hmac, KeyInit, Mac};
    let Ok(expected) = hex::decode(signature_hex.trim()) else {
        return false;
    };
    if sha512 {
        let Ok(mut mac) = <Hmac<sha2::Sha512> as KeyInit>::new_from_slice(key) else {
            return false;
        };
        mac.update(data);
        mac.verify_slice(&expected).is_ok()
    } else {
        let Ok(mut mac) = <Hmac<sha2::Sha256> as KeyInit>::new_from_slice(key) else {
            return false;
        };
        mac.update(data);
        mac.verify_slice(&expected).is_ok()
    }
}

#[cfg(test)]
mod tests {

    use super::*;

    #[test]
    fn secrets_do_not_print() {
        let s = Secret::new("EAAG-very-secret".into());
        assert_eq!(format!("{s:?} {s}"), "Secret(***) ***");
    }

    #[test]
    fn hmac_vectors() {
        // RFC 4231 test case 2.
        assert_eq!(
            hmac_sha256_hex(b"Jefe", b"what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        assert!(verify_hmac_hex(
            b"Jefe",
            b"what do ya want for nothing?",
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
            false
        ));
        assert!(!verify_hmac_hex(
            b"Jefe",
            b"what do ya want for nothing!",
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
            false
        ));
        // WAHA's documented test vector (HMAC-SHA512).
        let body = br#"{"event":"message","session":"default","engine":"WEBJS"}"#;
        use hmac::{Hmac, KeyInit, Mac};
        let mut mac = <Hmac<sha2::Sha512> as KeyInit>::new_from_slice(b"my-secret-key").unwrap();
        mac.update(body);
        let hex = hex::encode(mac.finalize().into_bytes());
        assert!(
            hex.starts_with("208f8a55") && hex.ends_with("53fa89"),
            "{hex}"
        );
        assert!(verify_hmac_hex(b"my-secret-key", body, &hex, true));
    }
}
