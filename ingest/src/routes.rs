//! Routing, and the steps every partner request goes through: content type,
//! bounded body, validation errors in the contract's own shape, and the
//! confirmed publish.

use crate::AppState;
use crate::caller::Caller;
use crate::http::{BodyError, Reply, is_json_content_type, json, json_bytes, read_body};
use crate::partners;
use hyper::body::Incoming;
use hyper::header::{ALLOW, CONTENT_TYPE, HeaderValue, RETRY_AFTER};
use hyper::{HeaderMap, Method, Request, StatusCode};
use serde_json::json;
use shared::Envelope;
use shared::broker::PublishError;
use shared::contracts::crm_events::Event;
use shared::contracts::digital_leads::Platform;
use shared::contracts::{ContractError, FieldErrors, messages};
use shared::envelope::{AUDIT_HEADER_MAX_LEN, AUDIT_HEADERS};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

/// Seconds a partner is asked to wait before retrying a 503.
const RETRY_AFTER_SECS: &str = "5";
/// The CRM contract's base path.
pub(crate) const CRM_BASE: &str = "/api/v1/webhooks";

/// Every partner-facing route: (method, path template). The router below
/// serves exactly these, and the OpenAPI test holds the document to them.
pub fn partner_routes() -> Vec<(&'static str, String)> {
    let mut routes = vec![
        ("POST", "/api/webhook/".to_owned()),
        ("POST", "/webhook/".to_owned()),
        ("POST", "/admin/mg-digital-leads/source/cardekho".to_owned()),
        ("POST", "/admin/mg-digital-leads/source/carwale".to_owned()),
        ("POST", "/functions/v1/webhook-call-capture".to_owned()),
        ("POST", format!("{CRM_BASE}/incoming")),
    ];
    routes.extend(
        Event::ALL
            .iter()
            .filter_map(|event| event.route())
            .map(|route| ("POST", format!("{CRM_BASE}{route}"))),
    );
    routes
}

/// Each contract's shape for error bodies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Style {
    /// `{"status": "error", "message": …, "errors": {…}}` (Tata calls and WhatsApp).
    Tata,
    /// `{"error": …}` (CarDekho, CarWale).
    DigitalLeads,
    /// `{"error": <reason phrase>, "message": …}` (call capture).
    CallCapture,
    /// `{"detail": …}` (CRM events).
    Crm,
}

impl Style {
    /// An error response in this contract's shape.
    pub(crate) fn error(self, status: StatusCode, message: impl Into<String>) -> Reply {
        let message = message.into();
        let body = match self {
            Style::Tata => json!({"status": "error", "message": message}),
            Style::DigitalLeads => json!({"error": message}),
            Style::CallCapture => {
                json!({"error": status.canonical_reason().unwrap_or("Error"), "message": message})
            }
            Style::Crm => json!({"detail": message}),
        };
        json(status, &body)
    }

    /// The 400 for a body that breaks the contract.
    pub(crate) fn invalid(self, error: &ContractError) -> Reply {
        let fields = match error {
            ContractError::Fields(fields) => fields,
            other => {
                let message = other.to_string();
                return match self {
                    Style::Tata => json(
                        StatusCode::BAD_REQUEST,
                        &json!({"status": "error", "message": "Invalid data received",
                                "errors": {"non_field_errors": [message]}}),
                    ),
                    _ => self.error(StatusCode::BAD_REQUEST, message),
                };
            }
        };
        match self {
            Style::Tata => json(
                StatusCode::BAD_REQUEST,
                &json!({"status": "error", "message": "Invalid data received", "errors": fields}),
            ),
            Style::DigitalLeads if fields.only_missing() => {
                let names: Vec<&str> = fields.fields().map(|(f, _)| f).collect();
                self.error(
                    StatusCode::BAD_REQUEST,
                    format!("Missing required fields: {}", names.join(", ")),
                )
            }
            Style::DigitalLeads => self.error(
                StatusCode::BAD_REQUEST,
                format!("Invalid fields: {}", sentences(fields, "")),
            ),
            Style::CallCapture => self.error(StatusCode::BAD_REQUEST, sentences(fields, "")),
            // The CRM contract names fields inside `data` bare ("lead_status is required").
            Style::Crm => self.error(StatusCode::BAD_REQUEST, sentences(fields, "data.")),
        }
    }

    /// 503 with `Retry-After`: the broker could not take the message.
    fn unavailable(self) -> Reply {
        let mut reply = self.error(
            StatusCode::SERVICE_UNAVAILABLE,
            "temporarily unable to accept the webhook; retry later",
        );
        reply
            .headers_mut()
            .insert(RETRY_AFTER, HeaderValue::from_static(RETRY_AFTER_SECS));
        reply
    }

    /// 429 with `Retry-After`.
    pub(crate) fn rate_limited(self, wait: Duration) -> Reply {
        let mut reply = self.error(StatusCode::TOO_MANY_REQUESTS, "Rate limit exceeded");
        let seconds = wait.as_secs_f64().ceil().max(1.0) as u64;
        if let Ok(value) = HeaderValue::from_str(&seconds.to_string()) {
            reply.headers_mut().insert(RETRY_AFTER, value);
        }
        reply
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
    let reply = route(&state, &caller, request, &path, post, get).await;
    let source = crate::metrics::source_label(&path);
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
    post: bool,
    get: bool,
) -> Reply {
    match path {
        "/api/webhook/" | "/api/webhook" if post => {
            partners::tata::call(state, caller, request).await
        }
        "/webhook/" | "/webhook" if post => partners::tata::whatsapp(state, caller, request).await,
        "/admin/mg-digital-leads/source/cardekho" if post => {
            partners::digital_leads::handle(state, caller, request, Platform::CarDekho).await
        }
        "/admin/mg-digital-leads/source/carwale" if post => {
            partners::digital_leads::handle(state, caller, request, Platform::CarWale).await
        }
        "/functions/v1/webhook-call-capture" if post => {
            partners::call_capture::handle(state, caller, request).await
        }
        "/api/webhook/" | "/api/webhook" | "/webhook/" | "/webhook" => {
            method_not_allowed(Style::Tata, "POST")
        }
        "/admin/mg-digital-leads/source/cardekho" | "/admin/mg-digital-leads/source/carwale" => {
            method_not_allowed(Style::DigitalLeads, "POST")
        }
        "/functions/v1/webhook-call-capture" => method_not_allowed(Style::CallCapture, "POST"),
        crm if crm.starts_with(CRM_BASE) => match Event::match_path(&crm[CRM_BASE.len()..]) {
            Some(endpoint) if post => partners::crm::handle(state, caller, request, endpoint).await,
            Some(_) => method_not_allowed(Style::Crm, "POST"),
            None => Style::Crm.error(StatusCode::NOT_FOUND, "Not Found"),
        },
        "/openapi.json" if get => json_bytes(StatusCode::OK, state.openapi.clone()),
        "/healthz" if get => json(StatusCode::OK, &json!({"status": "ok"})),
        "/readyz" if get => match readiness(state) {
            Ok(body) => json(StatusCode::OK, &body),
            Err(body) => json(StatusCode::SERVICE_UNAVAILABLE, &body),
        },
        docs if get && state.docs && docs.starts_with("/docs") => crate::docs::serve(docs)
            .unwrap_or_else(|| {
                Style::Tata.error(StatusCode::NOT_FOUND, format!("no such endpoint: {path}"))
            }),
        "/healthz" | "/readyz" | "/openapi.json" => method_not_allowed(Style::Tata, "GET"),
        _ => Style::Tata.error(StatusCode::NOT_FOUND, format!("no such endpoint: {path}")),
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

fn method_not_allowed(style: Style, allow: &'static str) -> Reply {
    let mut reply = style.error(
        StatusCode::METHOD_NOT_ALLOWED,
        format!("method not allowed; use {allow}"),
    );
    reply
        .headers_mut()
        .insert(ALLOW, HeaderValue::from_static(allow));
    reply
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

/// Reads a JSON body under the edge's limits, or the 4xx that explains why not.
pub(crate) async fn json_body(
    state: &AppState,
    style: Style,
    headers: &HeaderMap,
    body: Incoming,
) -> Result<bytes::Bytes, Reply> {
    if !is_json_content_type(headers.get(CONTENT_TYPE)) {
        return Err(style.error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Content-Type must be application/json",
        ));
    }
    read_body(headers, body, state.max_body_bytes, state.body_read_timeout)
        .await
        .map_err(|e| match e {
            BodyError::TooLarge => style.error(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("body larger than {} bytes", state.max_body_bytes),
            ),
            BodyError::Timeout => {
                style.error(StatusCode::REQUEST_TIMEOUT, "body not received in time")
            }
            BodyError::Broken(detail) => style.error(
                StatusCode::BAD_REQUEST,
                format!("could not read body: {detail}"),
            ),
        })
}

/// Publishes and maps the broker's verdict: `Ok` only once the webhook is
/// safe, confirmed by the broker or, failing that, on disk in the spool.
/// The caller's access-log line then names the webhook's ingest id.
pub(crate) async fn publish(
    state: &AppState,
    style: Style,
    caller: &Caller,
    envelope: &Envelope,
    body: &[u8],
) -> Result<(), Reply> {
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
            spool(state, style, envelope, body).await?;
            caller.accepted(envelope.ingest_id);
            Ok(())
        }
    }
}

/// Writes a webhook the broker did not confirm to the spool: `Ok` once it
/// is on disk; 503 when there is no spool, it is full, or the disk failed.
async fn spool(
    state: &AppState,
    style: Style,
    envelope: &Envelope,
    body: &[u8],
) -> Result<(), Reply> {
    let Some(spool) = &state.spool else {
        return Err(style.unavailable());
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
            Err(style.unavailable())
        }
    }
}
