//! Why a request is not accepted, decided once ([`Refusal`]), and how each
//! contract writes that down ([`ErrorShape`]): every error body the edge
//! sends is rendered here, in the shape its partner was promised.

use crate::http::{Reply, json};
use hyper::StatusCode;
use hyper::header::{ALLOW, HeaderValue, RETRY_AFTER};
use serde_json::json;
use shared::contracts::{ContractError, FieldErrors, messages};
use std::time::Duration;

/// Seconds a partner is asked to wait before retrying a 503.
const RETRY_AFTER_SECS: &str = "5";

/// Why a request gets no 201, by what the partner must do about it.
#[derive(Debug)]
pub(crate) enum Refusal {
    /// 401: no credential, or a wrong one where the contract says 401.
    Unauthorised(&'static str),
    /// 403: a credential that is not one of ours (lead portals).
    Forbidden(&'static str),
    /// 429: over a configured limit; retry after the wait.
    RateLimited(Duration),
    /// 413: a body over `MAX_BODY_BYTES` (the limit, in bytes).
    TooLarge(usize),
    /// 415: not `application/json`.
    UnsupportedMedia,
    /// 408: the body did not arrive in time.
    Timeout,
    /// 400: the body could not be read off the connection.
    Unreadable(String),
    /// 400: the body breaks the contract (malformed, or these fields).
    Invalid(ContractError),
    /// 503 with `Retry-After`: neither the broker nor the spool took it.
    Unavailable,
    /// 405: the route takes only this method.
    MethodNotAllowed(&'static str),
    /// 404: no such endpoint.
    NotFound(String),
}

impl From<ContractError> for Refusal {
    fn from(error: ContractError) -> Self {
        Refusal::Invalid(error)
    }
}

/// Each contract's shape for error bodies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ErrorShape {
    /// `{"status": "error", "message": …, "errors": {…}}` (Tata calls and WhatsApp).
    Tata,
    /// `{"error": …}` (CarDekho, CarWale).
    DigitalLeads,
    /// `{"error": <reason phrase>, "message": …}` (call capture).
    CallCapture,
    /// `{"detail": …}` (CRM events).
    Crm,
}

impl ErrorShape {
    /// The reply for `refusal`, in this contract's shape.
    pub(crate) fn render(self, refusal: Refusal) -> Reply {
        // (status, message, a header the status calls for)
        let (status, message, header) = match refusal {
            Refusal::Unauthorised(message) => (StatusCode::UNAUTHORIZED, message.to_owned(), None),
            Refusal::Forbidden(message) => (StatusCode::FORBIDDEN, message.to_owned(), None),
            Refusal::RateLimited(wait) => {
                let seconds = wait.as_secs_f64().ceil().max(1.0) as u64;
                (
                    StatusCode::TOO_MANY_REQUESTS,
                    "Rate limit exceeded".to_owned(),
                    HeaderValue::from_str(&seconds.to_string())
                        .ok()
                        .map(|value| (RETRY_AFTER, value)),
                )
            }
            Refusal::TooLarge(limit) => (
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("body larger than {limit} bytes"),
                None,
            ),
            Refusal::UnsupportedMedia => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "Content-Type must be application/json".to_owned(),
                None,
            ),
            Refusal::Timeout => (
                StatusCode::REQUEST_TIMEOUT,
                "body not received in time".to_owned(),
                None,
            ),
            Refusal::Unreadable(detail) => (
                StatusCode::BAD_REQUEST,
                format!("could not read body: {detail}"),
                None,
            ),
            Refusal::Invalid(error) => return self.invalid(&error),
            Refusal::Unavailable => (
                StatusCode::SERVICE_UNAVAILABLE,
                "temporarily unable to accept the webhook; retry later".to_owned(),
                Some((RETRY_AFTER, HeaderValue::from_static(RETRY_AFTER_SECS))),
            ),
            Refusal::MethodNotAllowed(allow) => (
                StatusCode::METHOD_NOT_ALLOWED,
                format!("method not allowed; use {allow}"),
                Some((ALLOW, HeaderValue::from_static(allow))),
            ),
            Refusal::NotFound(message) => (StatusCode::NOT_FOUND, message, None),
        };
        let mut reply = self.error(status, message);
        if let Some((name, value)) = header {
            reply.headers_mut().insert(name, value);
        }
        reply
    }

    /// An error body in this contract's shape.
    fn error(self, status: StatusCode, message: impl Into<String>) -> Reply {
        let message = message.into();
        let body = match self {
            ErrorShape::Tata => json!({"status": "error", "message": message}),
            ErrorShape::DigitalLeads => json!({"error": message}),
            ErrorShape::CallCapture => {
                json!({"error": status.canonical_reason().unwrap_or("Error"), "message": message})
            }
            ErrorShape::Crm => json!({"detail": message}),
        };
        json(status, &body)
    }

    /// The 400 for a body that breaks the contract.
    fn invalid(self, error: &ContractError) -> Reply {
        let fields = match error {
            ContractError::Fields(fields) => fields,
            other => {
                let message = other.to_string();
                return match self {
                    ErrorShape::Tata => json(
                        StatusCode::BAD_REQUEST,
                        &json!({"status": "error", "message": "Invalid data received",
                                "errors": {"non_field_errors": [message]}}),
                    ),
                    _ => self.error(StatusCode::BAD_REQUEST, message),
                };
            }
        };
        match self {
            ErrorShape::Tata => json(
                StatusCode::BAD_REQUEST,
                &json!({"status": "error", "message": "Invalid data received", "errors": fields}),
            ),
            ErrorShape::DigitalLeads if fields.only_missing() => {
                let names: Vec<&str> = fields.fields().map(|(f, _)| f).collect();
                self.error(
                    StatusCode::BAD_REQUEST,
                    format!("Missing required fields: {}", names.join(", ")),
                )
            }
            ErrorShape::DigitalLeads => self.error(
                StatusCode::BAD_REQUEST,
                format!("Invalid fields: {}", sentences(fields, "")),
            ),
            ErrorShape::CallCapture => self.error(StatusCode::BAD_REQUEST, sentences(fields, "")),
            // The CRM contract names fields inside `data` bare ("lead_status is required").
            ErrorShape::Crm => self.error(StatusCode::BAD_REQUEST, sentences(fields, "data.")),
        }
    }
}

/// Field problems as sentences: "company_id is required; outcome: …",
/// with `strip` removed from the front of field names.
fn sentences(fields: &FieldErrors, strip: &str) -> String {
    fields
        .fields()
        .flat_map(|(field, list)| {
            let field = field.strip_prefix(strip).unwrap_or(field);
            list.iter().map(move |m| {
                if m == messages::REQUIRED {
                    format!("{field} is required")
                } else {
                    format!("{field}: {m}")
                }
            })
        })
        .collect::<Vec<_>>()
        .join("; ")
}
