//! Routing and the per-contract handlers.

use crate::AppState;
use crate::http::{BodyError, Reply, is_json_content_type, json, read_body};
use hyper::body::Incoming;
use hyper::header::{ALLOW, CONTENT_TYPE, HeaderValue, RETRY_AFTER};
use hyper::{Method, Request, StatusCode};
use serde_json::json;
use shared::broker::PublishError;
use shared::contracts::{ContractError, tata_calls};
use shared::envelope::{AUDIT_HEADER_MAX_LEN, AUDIT_HEADERS};
use shared::{Envelope, Source};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

/// Seconds a partner is asked to wait before retrying a 503.
const RETRY_AFTER_SECS: &str = "5";

/// Routes one request. Never fails: every outcome is a JSON response.
pub(crate) async fn handle(
    state: Arc<AppState>,
    peer: SocketAddr,
    request: Request<Incoming>,
) -> Result<Reply, Infallible> {
    let path = request.uri().path();
    let method = request.method().clone();
    let reply = match path {
        "/api/webhook/" | "/api/webhook" => {
            if method == Method::POST {
                tata_call(&state, peer, request).await
            } else {
                method_not_allowed("POST")
            }
        }
        "/healthz" if method == Method::GET => json(StatusCode::OK, &json!({"status": "ok"})),
        "/readyz" if method == Method::GET => {
            if state.publisher.is_connected() {
                json(
                    StatusCode::OK,
                    &json!({"status": "ready", "broker": "connected"}),
                )
            } else {
                json(
                    StatusCode::SERVICE_UNAVAILABLE,
                    &json!({"status": "not ready", "broker": "disconnected"}),
                )
            }
        }
        "/healthz" | "/readyz" => method_not_allowed("GET"),
        _ => json(
            StatusCode::NOT_FOUND,
            &json!({"status": "error", "message": format!("no such endpoint: {path}")}),
        ),
    };
    Ok(reply)
}

fn method_not_allowed(allow: &'static str) -> Reply {
    let mut reply = json(
        StatusCode::METHOD_NOT_ALLOWED,
        &json!({"status": "error", "message": format!("method not allowed; use {allow}")}),
    );
    reply
        .headers_mut()
        .insert(ALLOW, HeaderValue::from_static(allow));
    reply
}

fn error(status: StatusCode, message: impl Into<String>) -> Reply {
    json(
        status,
        &json!({"status": "error", "message": message.into()}),
    )
}

/// The request headers kept with the message for audit, each cut to a bound.
fn audit_headers(request: &Request<Incoming>, peer: SocketAddr) -> Vec<(String, String)> {
    let mut kept: Vec<(String, String)> = AUDIT_HEADERS
        .iter()
        .filter_map(|&name| {
            let value = request.headers().get(name)?.to_str().ok()?;
            let value: String = value.chars().take(AUDIT_HEADER_MAX_LEN).collect();
            Some((name.to_owned(), value))
        })
        .collect();
    kept.push(("remote-addr".into(), peer.ip().to_string()));
    kept
}

/// Reads a JSON body under the edge's limits, or the 4xx that explains why not.
async fn json_body(state: &AppState, request: Request<Incoming>) -> Result<bytes::Bytes, Reply> {
    if !is_json_content_type(request.headers().get(CONTENT_TYPE)) {
        return Err(error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Content-Type must be application/json",
        ));
    }
    read_body(request, state.max_body_bytes, state.body_read_timeout)
        .await
        .map_err(|e| match e {
            BodyError::TooLarge => error(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("body larger than {} bytes", state.max_body_bytes),
            ),
            BodyError::Timeout => error(StatusCode::REQUEST_TIMEOUT, "body not received in time"),
            BodyError::Broken(detail) => error(
                StatusCode::BAD_REQUEST,
                format!("could not read body: {detail}"),
            ),
        })
}

/// Publishes and maps the broker's verdict: only a confirm gives `Ok`.
async fn publish(state: &AppState, envelope: &Envelope, body: &[u8]) -> Result<(), Reply> {
    match state.publisher.publish(envelope, body).await {
        Ok(()) => Ok(()),
        Err(err) => {
            match &err {
                PublishError::Unavailable => {
                    tracing::debug!(ingest_id = %envelope.ingest_id, source = %envelope.source, "refused: broker unavailable")
                }
                other => {
                    tracing::warn!(ingest_id = %envelope.ingest_id, source = %envelope.source, error = %other, "publish not confirmed")
                }
            }
            let mut reply = error(
                StatusCode::SERVICE_UNAVAILABLE,
                "temporarily unable to accept the webhook; retry later",
            );
            reply
                .headers_mut()
                .insert(RETRY_AFTER, HeaderValue::from_static(RETRY_AFTER_SECS));
            Err(reply)
        }
    }
}

/// `POST /api/webhook/`: Tata dealer call events.
async fn tata_call(state: &AppState, peer: SocketAddr, request: Request<Incoming>) -> Reply {
    let headers = audit_headers(&request, peer);
    let body = match json_body(state, request).await {
        Ok(body) => body,
        Err(reply) => return reply,
    };
    let call = match tata_calls::parse(&body) {
        Ok(call) => call,
        Err(ContractError::Fields(errors)) => {
            return json(
                StatusCode::BAD_REQUEST,
                &json!({"status": "error", "message": "Invalid data received", "errors": errors}),
            );
        }
        Err(other) => {
            return json(
                StatusCode::BAD_REQUEST,
                &json!({"status": "error", "message": "Invalid data received",
                        "errors": {"non_field_errors": [other.to_string()]}}),
            );
        }
    };
    let envelope = Envelope::new(Source::TataCalls, headers);
    if let Err(reply) = publish(state, &envelope, &body).await {
        return reply;
    }
    tracing::info!(ingest_id = %envelope.ingest_id, source = %envelope.source, "accepted");
    json(
        StatusCode::CREATED,
        &json!({
            "status": "success",
            "message": "Call data received successfully",
            "call_id": call.call_id,
            // The edge cannot know whether the call is new without the
            // database: `created` means this event was recorded (README).
            "created": true,
        }),
    )
}
