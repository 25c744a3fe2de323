//! The steps every partner request goes through, in order: the partner's
//! own checks (its credential, its limits) come first, in its file; then
//! [`accept`] reads the JSON body within the edge's limits, checks it
//! against the contract, wraps it in an envelope with the audit headers and
//! any ids the edge assigns, and publishes it with the broker's confirm (or
//! into the spool), so the partner's file only says what it answers.
//! A partner whose credential is computed over the body (the CRM's
//! signature) reads it first with [`read_json`] and goes on with
//! [`accept_body`].

use crate::AppState;
use crate::caller::Caller;
use crate::http::{BodyError, is_json_content_type, read_body};
use crate::refusal::Refusal;
use bytes::Bytes;
use hyper::HeaderMap;
use hyper::body::Incoming;
use hyper::header::CONTENT_TYPE;
use hyper::http::request::Parts;
use shared::broker::PublishError;
use shared::contracts::ContractError;
use shared::envelope::{AUDIT_HEADER_MAX_LEN, AUDIT_HEADERS};
use shared::{Envelope, Source};

/// A webhook the edge has made safe: what the contract read from its body,
/// and the envelope it was published in (its ingest id, assigned ids).
pub(crate) struct Accepted<T> {
    /// The body as its contract reads it.
    pub parsed: T,
    /// As published.
    pub envelope: Envelope,
}

/// After the partner's own checks: reads the body, then [`accept_body`].
pub(crate) async fn accept<T>(
    state: &AppState,
    caller: &Caller,
    parts: &Parts,
    body: Incoming,
    source: Source,
    parse: impl FnOnce(&[u8]) -> Result<T, ContractError>,
    assign: impl FnOnce(&T, &mut Envelope),
) -> Result<Accepted<T>, Refusal> {
    let body = read_json(state, &parts.headers, body).await?;
    accept_body(state, caller, parts, &body, source, parse, assign).await
}

/// Checks a body read with [`read_json`] against its contract (`parse`),
/// wraps it in an envelope for `source` with the audit headers and what
/// `assign` adds (path ids, ids the edge assigns), and publishes it: `Ok`
/// only once it is safe.
pub(crate) async fn accept_body<T>(
    state: &AppState,
    caller: &Caller,
    parts: &Parts,
    body: &Bytes,
    source: Source,
    parse: impl FnOnce(&[u8]) -> Result<T, ContractError>,
    assign: impl FnOnce(&T, &mut Envelope),
) -> Result<Accepted<T>, Refusal> {
    let parsed = parse(body)?;
    let mut envelope = Envelope::new(source, audit_headers(&parts.headers, caller));
    assign(&parsed, &mut envelope);
    publish(state, caller, &envelope, body).await?;
    Ok(Accepted { parsed, envelope })
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
pub(crate) async fn read_json(
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
