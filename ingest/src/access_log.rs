//! The access log: one line per partner-facing request (the lead portals'
//! contract: "All requests log timestamp, partner, status code. Invalid
//! attempts are flagged"). Its target is `access`, so it can be routed or
//! silenced on its own (`RUST_LOG=info,access=off`).
//!
//! A line carries the time (the log's own), the source, method, route,
//! status, latency, the client's address (and the peer's, when a trusted
//! proxy forwarded it), which credential let the request in, by position,
//! and, once accepted, the webhook's ingest id (its id in the webhook log
//! and on the broker): never a key, a signature, a body, or a full phone
//! number.

use crate::caller::Caller;
use hyper::{Method, StatusCode};
use std::time::Duration;

/// What one request's line says.
pub(crate) struct Line<'a> {
    /// The metric label of the route (`tata_calls`, …, or `other`).
    pub(crate) source: &'static str,
    pub(crate) method: &'a Method,
    /// The request path (CRM paths carry record ids; masked like any text).
    pub(crate) path: &'a str,
    pub(crate) status: StatusCode,
    pub(crate) elapsed: Duration,
    pub(crate) caller: &'a Caller,
}

/// True for the answers that refuse a partner's request: what an operator
/// looks for when a partner says "you are rejecting us".
pub(crate) fn is_refusal(status: StatusCode) -> bool {
    matches!(status.as_u16(), 400 | 401 | 403 | 408 | 413 | 415 | 429)
}

/// Writes the line: `info` when accepted, `warn` when refused or failed.
pub(crate) fn record(line: &Line<'_>) {
    let route = shared::redact::mask_text(line.path);
    let latency_ms = line.elapsed.as_secs_f64() * 1000.0;
    let client = line.caller.client;
    // The peer only when it differs (a proxy in front).
    let via = (line.caller.peer.ip() != client).then(|| line.caller.peer.ip().to_string());
    let key = line
        .caller
        .credential()
        .map_or_else(|| "-".to_owned(), |credential| credential.to_string());
    let ingest_id = line.caller.ingest_id().map(|id| id.to_string());
    let status = line.status.as_u16();
    let refused = is_refusal(line.status);
    // One set of fields at two levels (a level must be known where the
    // event is declared).
    macro_rules! emit {
        ($level:ident) => {
            tracing::$level!(
                target: "access",
                source = line.source,
                method = %line.method,
                %route,
                status,
                latency_ms,
                %client,
                via,
                key,
                ingest_id,
                refused,
                "request"
            )
        };
    }
    if line.status.is_success() {
        emit!(info);
    } else {
        emit!(warn);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_are_the_partner_facing_4xx() {
        for status in [400, 401, 403, 408, 413, 415, 429] {
            assert!(
                is_refusal(StatusCode::from_u16(status).unwrap()),
                "{status}"
            );
        }
        for status in [201, 404, 405, 503] {
            assert!(
                !is_refusal(StatusCode::from_u16(status).unwrap()),
                "{status}"
            );
        }
    }
}
