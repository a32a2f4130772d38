//! axum's `Form`, `Query` and `Path`, refusing what they cannot read with an Italian page
//! (axum's own rejections are English plain text), with the same status (400, 415 or 422).

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;

use super::error_page;

/// Why a request's form, address or query could not be read.
fn rejected(status: StatusCode) -> Response {
    let text = match status {
        StatusCode::UNSUPPORTED_MEDIA_TYPE => {
            "La richiesta non contiene un modulo web: usa i moduli dell'interfaccia."
        }
        StatusCode::PAYLOAD_TOO_LARGE => "Il modulo inviato è troppo grande.",
        _ => "I dati inviati non si leggono: ricarica la pagina e riprova.",
    };
    let status = if status.is_client_error() {
        status
    } else {
        StatusCode::BAD_REQUEST
    };
    error_page(status, "Richiesta non valida", text)
}

/// A form body (`application/x-www-form-urlencoded`).
pub struct Form<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Form<T> {
    type Rejection = Response;

    async fn from_request(req: Request, state: &S) -> Result<Self, Response> {
        axum::Form::<T>::from_request(req, state)
            .await
            .map(|axum::Form(v)| Form(v))
            .map_err(|r| rejected(r.status()))
    }
}

/// The query string.
pub struct Query<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for Query<T> {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Response> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Query(v)| Query(v))
            .map_err(|r| rejected(r.status()))
    }
}

/// The parameters of the route's path.
pub struct Path<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for Path<T> {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Response> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Path(v)| Path(v))
            .map_err(|r| rejected(r.into_response().status()))
    }
}
