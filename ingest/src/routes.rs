//! Routing, and the steps every partner request goes through: content type,
//! bounded body, validation errors in the contract's own shape, and the
//! confirmed publish.

use crate::AppState;
use crate::caller::Caller;
use crate::http::{BodyError, Reply, is_json_content_type, json, json_bytes, read_body};
use crate::partners::{self, Found};
use crate::refusal::{ErrorShape, Refusal};
use hyper::body::Incoming;
use hyper::header::CONTENT_TYPE;
use hyper::{HeaderMap, Method, Request, StatusCode};
use serde_json::json;
use shared::Envelope;
use shared::broker::PublishError;
use shared::envelope::{AUDIT_HEADER_MAX_LEN, AUDIT_HEADERS};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

/// Every partner-facing route: (method, path template), from the partners'
/// declarations. The router serves exactly these, and the OpenAPI test
/// holds the document to them.
pub fn partner_routes() -> Vec<(&'static str, String)> {
    partners::routes()
}

/// Routes one request, and leaves its line in the access log. Never fails:
/// every outcome is a JSON response.
pub(crate) async fn handle(
    state: Arc<AppState>,
    peer: SocketAddr,
    request: Request<Incoming>,
) -> Result<Reply, Infallible> {
    let started = std::time::Instant::now();
    let path = request.uri().path().to_owned();
    let method = request.method().clone();
    let post = method == Method::POST;
    let get = method == Method::GET;
    let caller = Caller::new(peer, request.headers(), &state.trusted_proxies);
    let found = state.routes.find(&path);
    let source = crate::metrics::source_label(found.as_ref());
    let reply = route(&state, &caller, request, &path, found, post, get).await;
    state.metrics.answered(source, reply.status());
    crate::access_log::record(&crate::access_log::Line {
        source,
        method: &method,
        path: &path,
        status: reply.status(),
        elapsed: started.elapsed(),
        caller: &caller,
    });
    Ok(reply)
}

async fn route(
    state: &Arc<AppState>,
    caller: &Caller,
    request: Request<Incoming>,
    path: &str,
    found: Option<Found>,
    post: bool,
    get: bool,
) -> Reply {
    if let Some(found) = found {
        return match found {
            Found::Route(partner) if post => {
                match (partner.handle)(state, caller, request, path).await {
                    Ok(reply) => reply,
                    Err(refusal) => partner.shape.render(refusal),
                }
            }
            Found::Route(partner) => partner.shape.render(Refusal::MethodNotAllowed("POST")),
            Found::Unknown(partner) => partner.shape.render(Refusal::NotFound("Not Found".into())),
        };
    }
    let not_found =
        || ErrorShape::Tata.render(Refusal::NotFound(format!("no such endpoint: {path}")));
    match path {
        "/openapi.json" if get => json_bytes(StatusCode::OK, state.openapi.clone()),
        "/healthz" if get => json(StatusCode::OK, &json!({"status": "ok"})),
        "/readyz" if get => match readiness(state) {
            Ok(body) => json(StatusCode::OK, &body),
            Err(body) => json(StatusCode::SERVICE_UNAVAILABLE, &body),
        },
        docs if get && state.docs && docs.starts_with("/docs") => {
            crate::docs::serve(docs).unwrap_or_else(not_found)
        }
        "/healthz" | "/readyz" | "/openapi.json" => {
            ErrorShape::Tata.render(Refusal::MethodNotAllowed("GET"))
        }
        _ => not_found(),
    }
}

/// Ready when a webhook can be answered 201: the broker connection and its
/// confirm channels are up, or the spool has room ("accepting, spooling").
pub(crate) fn readiness(state: &AppState) -> Result<serde_json::Value, serde_json::Value> {
    let spooled = state.spool.as_ref().map_or(0, |spool| spool.len());
    let spool_has_room = state.spool.as_ref().is_some_and(|spool| !spool.is_full());
    if state.publisher.is_connected() {
        Ok(json!({"status": "ready", "broker": "connected", "spooled": spooled}))
    } else if spool_has_room {
        Ok(json!({"status": "accepting, spooling", "broker": "disconnected", "spooled": spooled}))
    } else {
        Err(json!({"status": "not ready", "broker": "disconnected", "spooled": spooled}))
    }
}

/// The request headers kept with the message for audit, each cut to a
/// bound, and the client's address (a trusted proxy's forwarded one).
pub(crate) fn audit_headers(headers: &HeaderMap, caller: &Caller) -> Vec<(String, String)> {
    let mut kept: Vec<(String, String)> = AUDIT_HEADERS
        .iter()
        .filter_map(|&name| {
            let value = headers.get(name)?.to_str().ok()?;
            let value: String = value.chars().take(AUDIT_HEADER_MAX_LEN).collect();
            Some((name.to_owned(), value))
        })
        .collect();
    kept.push(("remote-addr".into(), caller.client.to_string()));
    kept
}

/// Reads a JSON body under the edge's limits, or why not.
pub(crate) async fn json_body(
    state: &AppState,
    headers: &HeaderMap,
    body: Incoming,
) -> Result<bytes::Bytes, Refusal> {
    if !is_json_content_type(headers.get(CONTENT_TYPE)) {
        return Err(Refusal::UnsupportedMedia);
    }
    read_body(headers, body, state.max_body_bytes, state.body_read_timeout)
        .await
        .map_err(|e| match e {
            BodyError::TooLarge => Refusal::TooLarge(state.max_body_bytes),
            BodyError::Timeout => Refusal::Timeout,
            BodyError::Broken(detail) => Refusal::Unreadable(detail),
        })
}

/// Publishes and maps the broker's verdict: `Ok` only once the webhook is
/// safe, confirmed by the broker or, failing that, on disk in the spool.
/// The caller's access-log line then names the webhook's ingest id.
pub(crate) async fn publish(
    state: &AppState,
    caller: &Caller,
    envelope: &Envelope,
    body: &[u8],
) -> Result<(), Refusal> {
    let metrics = &state.metrics;
    metrics.publishes_in_flight.inc();
    let started = std::time::Instant::now();
    let result = state.publisher.publish(envelope, body).await;
    metrics.publishes_in_flight.dec();
    if !matches!(result, Err(PublishError::Unavailable)) {
        metrics
            .confirm_seconds
            .observe(started.elapsed().as_secs_f64());
    }
    match result {
        Ok(()) => {
            // The access log's line says it, with the ingest id.
            caller.accepted(envelope.ingest_id);
            Ok(())
        }
        Err(err) => {
            match &err {
                PublishError::Unavailable => {
                    tracing::debug!(ingest_id = %envelope.ingest_id, source = %envelope.source, "refused: broker unavailable")
                }
                other => {
                    tracing::warn!(ingest_id = %envelope.ingest_id, source = %envelope.source, error = %other, "publish not confirmed")
                }
            }
            spool(state, envelope, body).await?;
            caller.accepted(envelope.ingest_id);
            Ok(())
        }
    }
}

/// Writes a webhook the broker did not confirm to the spool: `Ok` once it
/// is on disk; 503 when there is no spool, it is full, or the disk failed.
async fn spool(state: &AppState, envelope: &Envelope, body: &[u8]) -> Result<(), Refusal> {
    let Some(spool) = &state.spool else {
        return Err(Refusal::Unavailable);
    };
    match spool.append(envelope, body).await {
        Ok(()) => {
            let metrics = &state.metrics.spool;
            metrics.spooled.inc();
            metrics.show_counts(spool);
            tracing::info!(ingest_id = %envelope.ingest_id, source = %envelope.source, "accepted into the spool");
            Ok(())
        }
        Err(error) => {
            tracing::warn!(ingest_id = %envelope.ingest_id, source = %envelope.source, %error, "refused: not confirmed and not spooled");
            Err(Refusal::Unavailable)
        }
    }
}
