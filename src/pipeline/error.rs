//! Why a poll failed: in English for logs, in Italian for the admin UI, as a kind for
//! `/metrics`.

use crate::fetch::FetchError;
use crate::source::ParseError;
use crate::store::StoreError;

/// Why a poll failed.
#[derive(Debug, thiserror::Error)]
pub enum PollError {
    #[error("fetch failed: {0}")]
    Fetch(#[from] FetchError),
    #[error("{0}")]
    Parse(#[from] ParseError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("no source named {0:?}")]
    UnknownSource(String),
    #[error("the parser stopped unexpectedly: {0}")]
    Internal(String),
}

impl PollError {
    /// The kind of failure, for `/metrics`.
    pub fn kind(&self) -> &'static str {
        match self {
            PollError::Fetch(FetchError::Timeout(_)) => "timeout",
            PollError::Fetch(FetchError::Connect(_)) => "connect",
            PollError::Fetch(FetchError::Status { .. }) => "status",
            PollError::Fetch(FetchError::TooLarge { .. }) => "too_large",
            PollError::Fetch(FetchError::Redirects) => "redirects",
            PollError::Fetch(FetchError::NotPublic(_)) => "not_public",
            PollError::Fetch(_) => "fetch",
            PollError::Parse(_) => "parse",
            PollError::Store(_) => "store",
            PollError::UnknownSource(_) | PollError::Internal(_) => "internal",
        }
    }

    /// The reason in Italian, for the admin UI.
    pub fn italian(&self) -> String {
        match self {
            PollError::Fetch(e) => e.italian(),
            PollError::Parse(e) => e.italian(),
            PollError::Store(_) => {
                "errore interno dell'archivio: vedi il registro del server".into()
            }
            PollError::UnknownSource(name) => format!("nessuna fonte si chiama {name}"),
            PollError::Internal(why) => format!("il lettore si è fermato ({why})"),
        }
    }
}
