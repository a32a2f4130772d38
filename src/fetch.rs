//! HTTP fetching: the only place that talks to the sources' servers.
//!
//! Every request has a connect timeout and a total timeout, the body is capped in size while
//! it streams, gzip and brotli are accepted, at most 5 redirects are followed, and the
//! validators of the last good response (ETag, Last-Modified) make the request conditional.
//! A global semaphore and one per host bound the requests in flight. Every address reached,
//! redirects included, passes the configuration's [`Guard`] (no SSRF).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use chrono::{DateTime, Utc};
use reqwest::header::{self, HeaderMap, HeaderValue};
use serde::{Deserialize, Serialize};
use tokio::sync::Semaphore;
use url::Url;

use crate::netguard::Guard;

/// Caching validators from the last good response of a source.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Validators {
    pub etag: Option<String>,
    pub last_modified: Option<String>,
}

/// A fetched document.
#[derive(Debug, Clone)]
pub struct Fetched {
    pub body: Bytes,
    pub content_type: Option<String>,
    /// After redirects; relative links resolve against it.
    pub final_url: Url,
    pub validators: Validators,
    /// When the server's TLS certificate expires (an `https` address).
    pub certificate_expires: Option<DateTime<Utc>>,
}

#[derive(Debug)]
pub enum FetchOutcome {
    /// 304: nothing changed since the validators were taken (and when the server's
    /// certificate expires).
    NotModified(Option<DateTime<Utc>>),
    Fetched(Fetched),
}

/// Why a fetch failed. All are per-source and retried later.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("timed out after {0:?}")]
    Timeout(Duration),
    #[error("could not connect: {0}")]
    Connect(String),
    #[error("the server answered {status}")]
    Status { status: u16 },
    #[error("the body is larger than the {limit}-byte limit")]
    TooLarge { limit: usize },
    #[error("too many redirects")]
    Redirects,
    #[error("refused: {0}")]
    NotPublic(String),
    #[error("{0}")]
    Other(String),
}

impl FetchError {
    /// The reason in Italian, for the admin UI.
    pub fn italian(&self) -> String {
        match self {
            FetchError::Timeout(d) => format!(
                "il server non ha risposto entro {} secondi",
                d.as_secs().max(1)
            ),
            FetchError::Connect(why) => format!(
                "non riesco a collegarmi al server: {}",
                network_words(why, false)
            ),
            FetchError::Status { status } => format!(
                "il server ha risposto {status}{}",
                match status {
                    401 | 403 => " (accesso negato)",
                    404 | 410 => " (pagina non trovata: l'indirizzo è cambiato?)",
                    429 => " (troppe richieste: rallento)",
                    500..=599 => " (errore del server del sito)",
                    _ => "",
                }
            ),
            FetchError::TooLarge { limit } => {
                format!(
                    "il documento supera il limite di {} MB",
                    limit / (1024 * 1024)
                )
            }
            FetchError::Redirects => "troppi reindirizzamenti".into(),
            FetchError::NotPublic(_) => "l'indirizzo porta a una rete interna, non pubblica: per sicurezza non viene letto (solo le fonti scritte nella configurazione possono stare in una rete interna)".into(),
            FetchError::Other(why) => network_words(why, false).to_owned(),
        }
    }
}

/// Limits applied to every fetch.
#[derive(Debug, Clone)]
pub struct FetchLimits {
    pub connect_timeout: Duration,
    pub timeout: Duration,
    pub max_body_bytes: usize,
    pub concurrency: usize,
    pub per_host_concurrency: usize,
}

/// A shared HTTP client with its limits. Cheap to clone.
#[derive(Clone)]
pub struct Fetcher {
    client: reqwest::Client,
    /// Which addresses may be reached; applied by the client's resolver and redirect policy,
    /// and here to IP literals.
    guard: Guard,
    /// Requests go through a proxy from the environment (read once, as reqwest does).
    proxied: bool,
    limits: FetchLimits,
    /// Fetches in flight, at most `concurrency`; `None` on the emergency lane.
    global: Option<Arc<Semaphore>>,
    per_host: Arc<Mutex<HashMap<String, Arc<Semaphore>>>>,
}

impl Fetcher {
    pub fn new(limits: FetchLimits, user_agent: &str, guard: Guard) -> Result<Fetcher, FetchError> {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::ACCEPT,
            HeaderValue::from_static(
                "application/rss+xml, application/atom+xml, application/feed+json, application/xml;q=0.9, text/xml;q=0.9, text/html;q=0.8, */*;q=0.5",
            ),
        );
        let proxied = proxied();
        let client = reqwest::Client::builder()
            .user_agent(user_agent)
            .default_headers(headers)
            .connect_timeout(limits.connect_timeout)
            .timeout(limits.timeout)
            .redirect(redirects(guard.clone(), proxied))
            .dns_resolver(Arc::new(GuardedResolver(guard.clone())))
            .gzip(true)
            .brotli(true)
            .pool_idle_timeout(Duration::from_secs(30))
            // The server's certificate, so admins hear when it is about to expire.
            .tls_info(true)
            .build()
            .map_err(|e| FetchError::Other(format!("cannot build the HTTP client: {e}")))?;
        Ok(Fetcher {
            client,
            guard,
            proxied,
            global: Some(Arc::new(Semaphore::new(limits.concurrency.max(1)))),
            per_host: Arc::default(),
            limits,
        })
    }

    /// The same client for emergency sources (CAP, earthquakes): outside the global limit,
    /// so an alert's fetch never queues behind news fetches stuck on slow servers. There are
    /// a handful of such sources; the per-host limit still applies.
    pub fn emergency_lane(&self) -> Fetcher {
        Fetcher {
            global: None,
            ..self.clone()
        }
    }

    pub fn limits(&self) -> &FetchLimits {
        &self.limits
    }

    /// GETs `url`, conditionally when `validators` hold something. `timeout` overrides the
    /// default total timeout for this request.
    pub async fn get(
        &self,
        url: &Url,
        validators: &Validators,
        timeout: Option<Duration>,
    ) -> Result<FetchOutcome, FetchError> {
        let timeout = timeout.unwrap_or(self.limits.timeout);
        self.guard
            .check_literal(url)
            .map_err(FetchError::NotPublic)?;
        if self.guard.needs_lookup(url, self.proxied) {
            // Through a proxy the name is resolved there, not by our resolver; and the
            // resolver lets a configured host's addresses through whatever the port.
            let (guard, checked) = (self.guard.clone(), url.clone());
            tokio::task::spawn_blocking(move || guard.check_name_blocking(&checked))
                .await
                .map_err(|e| FetchError::Other(e.to_string()))?
                .map_err(FetchError::NotPublic)?;
        }
        // Host first, then global: a task waiting for a busy host does not hold a global slot.
        let host_slot = match self.host_semaphore(url) {
            Some(host) => Some(host.acquire_owned().await),
            None => None,
        };
        let global_slot = match &self.global {
            Some(global) => Some(global.clone().acquire_owned().await),
            None => None,
        };
        let (_host, _global) = match (host_slot.transpose(), global_slot.transpose()) {
            (Ok(h), Ok(g)) => (h, g),
            _ => return Err(FetchError::Other("the fetcher is shutting down".into())),
        };
        match tokio::time::timeout(timeout, self.get_inner(url, validators, timeout)).await {
            Ok(result) => result,
            Err(_) => Err(FetchError::Timeout(timeout)),
        }
    }

    async fn get_inner(
        &self,
        url: &Url,
        validators: &Validators,
        timeout: Duration,
    ) -> Result<FetchOutcome, FetchError> {
        let mut req = self.client.get(url.clone()).timeout(timeout);
        if let Some(etag) = &validators.etag {
            req = req.header(header::IF_NONE_MATCH, etag);
        }
        if let Some(lm) = &validators.last_modified {
            req = req.header(header::IF_MODIFIED_SINCE, lm);
        }
        let mut resp = req.send().await.map_err(|e| classify(e, timeout))?;
        let status = resp.status();
        let certificate_expires = resp
            .extensions()
            .get::<reqwest::tls::TlsInfo>()
            .and_then(|tls| tls.peer_certificate())
            .and_then(certificate_expiry);
        if status == reqwest::StatusCode::NOT_MODIFIED {
            return Ok(FetchOutcome::NotModified(certificate_expires));
        }
        if !status.is_success() {
            return Err(FetchError::Status {
                status: status.as_u16(),
            });
        }
        let header_str = |name: header::HeaderName| {
            resp.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let content_type = header_str(header::CONTENT_TYPE);
        let validators = Validators {
            etag: header_str(header::ETAG),
            last_modified: header_str(header::LAST_MODIFIED),
        };
        let limit = self.limits.max_body_bytes;
        if resp.content_length().is_some_and(|n| n > limit as u64) {
            return Err(FetchError::TooLarge { limit });
        }
        let final_url = resp.url().clone();
        let mut body = BytesMut::new();
        while let Some(chunk) = resp.chunk().await.map_err(|e| classify(e, timeout))? {
            if body.len() + chunk.len() > limit {
                return Err(FetchError::TooLarge { limit });
            }
            body.extend_from_slice(&chunk);
        }
        Ok(FetchOutcome::Fetched(Fetched {
            body: body.freeze(),
            content_type,
            final_url,
            validators,
            certificate_expires,
        }))
    }

    /// The limit of fetches in flight to `url`'s host. The per-host limit is politeness
    /// towards other people's servers: a loopback address (a local mirror or proxy, a test
    /// server) has none but the global one.
    fn host_semaphore(&self, url: &Url) -> Option<Arc<Semaphore>> {
        let loopback = match url.host() {
            Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
            Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
            Some(url::Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
            None => false,
        };
        if loopback {
            return None;
        }
        let key = format!(
            "{}:{}",
            url.host_str().unwrap_or_default(),
            url.port_or_known_default().unwrap_or(0)
        );
        let mut map = self
            .per_host
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let host = map
            .entry(key)
            .or_insert_with(|| Arc::new(Semaphore::new(self.limits.per_host_concurrency.max(1))));
        Some(host.clone())
    }
}

/// When a DER certificate stops being valid; `None` when it cannot be read (the connection
/// was verified all the same: this is only for the warning).
pub fn certificate_expiry(der: &[u8]) -> Option<DateTime<Utc>> {
    use x509_cert::der::Decode;
    let cert = x509_cert::Certificate::from_der(der).ok()?;
    let after = cert.tbs_certificate.validity.not_after.to_unix_duration();
    DateTime::from_timestamp(i64::try_from(after.as_secs()).ok()?, 0)
}

/// Whether requests go through a proxy named in the environment (reqwest honours
/// `HTTP_PROXY`, `HTTPS_PROXY` and `ALL_PROXY`, in either case).
fn proxied() -> bool {
    [
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "ALL_PROXY",
        "http_proxy",
        "https_proxy",
        "all_proxy",
    ]
    .iter()
    .any(|v| std::env::var_os(v).is_some_and(|v| !v.is_empty()))
}

/// At most 5 redirects, each to an address the guard lets through (a host name is checked
/// again when it is resolved; through a proxy, here).
fn redirects(guard: Guard, proxied: bool) -> reqwest::redirect::Policy {
    reqwest::redirect::Policy::custom(move |attempt| {
        if attempt.previous().len() >= 5 {
            return attempt.error(TooManyRedirects);
        }
        let checked = guard.check_literal(attempt.url()).and_then(|()| {
            if guard.needs_lookup(attempt.url(), proxied) {
                // A blocking lookup, only where the resolver is not enough.
                guard.check_name_blocking(attempt.url())
            } else {
                Ok(())
            }
        });
        match checked {
            Ok(()) => attempt.follow(),
            Err(why) => attempt.error(NotPublic(why)),
        }
    })
}

#[derive(Debug, thiserror::Error)]
#[error("too many redirects")]
struct TooManyRedirects;

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct NotPublic(String);

/// The system's resolver, keeping only the addresses the guard lets a host reach: the
/// connection goes to one of those, so a second DNS answer cannot slip another in.
struct GuardedResolver(Guard);

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let guard = self.0.clone();
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let found: Vec<std::net::SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let allowed: Vec<std::net::SocketAddr> = found
                .into_iter()
                .filter(|a| guard.allows(&host, a.ip()))
                .collect();
            if allowed.is_empty() {
                let why = NotPublic(format!(
                    "{host} has only non-public addresses and is not a configured source's"
                ));
                return Err(Box::new(why) as Box<dyn std::error::Error + Send + Sync>);
            }
            Ok(Box::new(allowed.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

fn classify(e: reqwest::Error, timeout: Duration) -> FetchError {
    let cause = root_cause(&e);
    if e.is_timeout() {
        FetchError::Timeout(timeout)
    } else if cause.contains("non-public") {
        FetchError::NotPublic(cause)
    } else if e.is_redirect() {
        FetchError::Redirects
    } else if e.is_connect() {
        FetchError::Connect(root_cause(&e))
    } else {
        FetchError::Other(root_cause(&e))
    }
}

/// A network failure in Italian, from the error's own (English) words: the operating system's
/// and the HTTP client's. `timeout` when the client already knows the time ran out.
pub fn network_words(detail: &str, timeout: bool) -> &'static str {
    let d = detail.to_ascii_lowercase();
    let has = |words: &[&str]| words.iter().any(|w| d.contains(w));
    if timeout || has(&["timed out", "timeout", "deadline"]) {
        "il server non ha risposto in tempo"
    } else if has(&["refused"]) {
        "il server ha rifiutato la connessione (nessun servizio a quell'indirizzo e porta)"
    } else if has(&[
        "dns",
        "lookup",
        "name or service not known",
        "no address associated",
        "nodename nor servname",
        "not known",
        "name resolution",
    ]) {
        "il nome del sito non si trova (errore DNS): controlla l'indirizzo"
    } else if has(&["certificate", "tls", "ssl", "handshake"]) {
        "la connessione sicura (HTTPS) non è riuscita: il certificato del sito non è valido"
    } else if has(&["unreachable", "no route"]) {
        "il server non è raggiungibile dalla rete"
    } else if has(&[
        "reset",
        "closed",
        "broken pipe",
        "incomplete",
        "eof",
        "aborted",
    ]) {
        "la connessione si è interrotta"
    } else {
        "errore di rete"
    }
}

/// The innermost error message: reqwest's outer ones only say "error sending request".
pub fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cur = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    cur.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_other_peoples_hosts_have_a_per_host_limit() {
        let limits = FetchLimits {
            connect_timeout: Duration::from_secs(1),
            timeout: Duration::from_secs(1),
            max_body_bytes: 1,
            concurrency: 8,
            per_host_concurrency: 2,
        };
        let fetcher = Fetcher::new(limits, "test", Guard::open()).unwrap();
        let slots = |u: &str| fetcher.host_semaphore(&Url::parse(u).unwrap());
        for local in [
            "http://127.0.0.1:8080/a",
            "http://[::1]/a",
            "http://LOCALHOST/a",
        ] {
            assert!(slots(local).is_none(), "{local}");
        }
        let a = slots("https://comune.example.it/feed").unwrap();
        assert_eq!(a.available_permits(), 2);
        let same = slots("https://comune.example.it:443/altro").unwrap();
        assert!(Arc::ptr_eq(&a, &same));
        let other = slots("https://comune.example.it:8443/feed").unwrap();
        assert!(!Arc::ptr_eq(&a, &other));
    }

    #[test]
    fn network_errors_in_italian() {
        let cases = [
            (
                "Connection refused (os error 111)",
                false,
                "rifiutato la connessione",
            ),
            (
                "dns error: failed to lookup address information: Name or service not known",
                false,
                "errore DNS",
            ),
            (
                "failed to lookup address information: Temporary failure in name resolution",
                false,
                "errore DNS",
            ),
            ("operation timed out", false, "non ha risposto in tempo"),
            ("error sending request", true, "non ha risposto in tempo"),
            (
                "invalid peer certificate: UnknownIssuer",
                false,
                "certificato",
            ),
            ("connection reset by peer", false, "interrotta"),
            (
                "Network is unreachable (os error 101)",
                false,
                "non è raggiungibile",
            ),
            ("something else", false, "errore di rete"),
        ];
        for (detail, timeout, words) in cases {
            assert!(network_words(detail, timeout).contains(words), "{detail}");
        }
    }
}
