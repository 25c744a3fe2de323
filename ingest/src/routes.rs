//! Routing: a partner's route to its handler (which runs the steps in
//! `pipeline`), and the edge's own routes (health, readiness, the OpenAPI
//! document, the docs).

use crate::AppState;
use crate::caller::Caller;
use crate::http::{Reply, json, json_bytes};
use crate::partners::{self, Found};
use crate::refusal::{ErrorShape, Refusal};
use hyper::body::Incoming;
use hyper::{Method, Request, StatusCode};
use serde_json::json;
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
