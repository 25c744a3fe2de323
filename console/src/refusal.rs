//! Why the console cannot do what a request asks: one type for every page
//! and every JSON route, its variants chosen by what the client must do
//! about it, and rendered in one place: as plain text for a page, as
//! `{"error": "…"}` for the JSON the pages' scripts call ([`Refusal::json`]).

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// Seconds a client is asked to wait before trying a 503 again.
const RETRY_AFTER_SECS: &str = "5";

/// A request the console refuses, with the sentence that says why.
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    /// 400: the request itself is wrong; the sentence says how.
    #[error("{0}")]
    BadRequest(String),
    /// 401: no session; sign in.
    #[error("{0}")]
    Unauthorized(String),
    /// 403: signed in, but not allowed this (a role, a CSRF token).
    #[error("{0}")]
    Forbidden(String),
    /// 404: what the request names does not exist.
    #[error("{0}")]
    NotFound(String),
    /// 409: the thing changed since the client read it; read it again.
    #[error("{0}")]
    Conflict(String),
    /// 503: the database did not answer; try again shortly.
    #[error("The database is unavailable; try again shortly.")]
    DatabaseUnavailable,
    /// 503: RabbitMQ did not answer; the sentence says what was not done.
    #[error("{0}")]
    BrokerUnavailable(String),
}

impl Refusal {
    /// Logs a database failure where it happened (`place`, for the log
    /// only); the client is told the database is unavailable.
    pub fn database(place: &str, error: impl std::fmt::Display) -> Self {
        tracing::warn!(%error, place, "database error");
        Refusal::DatabaseUnavailable
    }

    /// The HTTP status for this refusal.
    pub fn status(&self) -> StatusCode {
        match self {
            Refusal::BadRequest(_) => StatusCode::BAD_REQUEST,
            Refusal::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Refusal::Forbidden(_) => StatusCode::FORBIDDEN,
            Refusal::NotFound(_) => StatusCode::NOT_FOUND,
            Refusal::Conflict(_) => StatusCode::CONFLICT,
            Refusal::DatabaseUnavailable | Refusal::BrokerUnavailable(_) => {
                StatusCode::SERVICE_UNAVAILABLE
            }
        }
    }

    /// The refusal as the route at `path` answers: JSON for the routes
    /// under `/ajax/`, plain text for pages (for code that runs before a
    /// handler, such as the session check, and so serves both).
    pub fn for_path(self, path: &str) -> Response {
        if is_json_route(path) {
            self.json()
        } else {
            self.into_response()
        }
    }

    /// The refusal as the JSON routes answer it: `{"error": "…"}`.
    pub fn json(self) -> Response {
        let body = Json(json!({"error": self.to_string()}));
        self.finish((self.status(), body).into_response())
    }

    /// A 503 asks the client to wait a little before trying again.
    fn finish(&self, mut response: Response) -> Response {
        if response.status() == StatusCode::SERVICE_UNAVAILABLE {
            response.headers_mut().insert(
                header::RETRY_AFTER,
                HeaderValue::from_static(RETRY_AFTER_SECS),
            );
        }
        response
    }
}

/// True for the routes that answer JSON (the pages' scripts call them).
pub fn is_json_route(path: &str) -> bool {
    path.starts_with("/ajax/")
}

/// A page's refusal: the sentence as plain text.
impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        self.finish((self.status(), self.to_string()).into_response())
    }
}

/// A JSON route's refusal, for handlers that return `Result<_, JsonRefusal>`
/// and use `?` on a [`Refusal`].
#[derive(Debug)]
pub struct JsonRefusal(pub Refusal);

impl From<Refusal> for JsonRefusal {
    fn from(refusal: Refusal) -> Self {
        JsonRefusal(refusal)
    }
}

impl IntoResponse for JsonRefusal {
    fn into_response(self) -> Response {
        self.0.json()
    }
}
