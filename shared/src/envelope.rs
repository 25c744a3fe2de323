//! The message envelope: what travels with a webhook's raw body through the
//! broker. The body is never re-encoded; everything we add rides in AMQP
//! properties and headers, so the partner's bytes stay exactly as received.

use crate::source::Source;
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;
use uuid::Uuid;

/// Metadata the edge attaches to each accepted webhook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    /// Assigned by the edge (UUID v7, so it sorts by arrival); the AMQP
    /// `message_id`, and the key that makes redelivery harmless.
    pub ingest_id: Uuid,
    /// Which partner sent it; also the routing key.
    pub source: Source,
    /// When the edge received it (UTC). Orders events about the same record.
    pub received_at: DateTime<Utc>,
    /// The few request headers worth keeping for audit (name, value).
    pub request_headers: Vec<(String, String)>,
    /// Ids taken from the request path (`lead_id` of
    /// `/incoming/lead/{lead_id}/update`): the body alone does not say
    /// which record an event is about.
    pub path_params: BTreeMap<String, String>,
    /// Ids the edge assigned to records this message creates and returned to
    /// the partner (`lead_id`, `call_history_id`, …): the worker must store
    /// the records under them.
    pub assigned_ids: BTreeMap<String, String>,
    /// Delayed retries already spent (0 on first delivery).
    pub retry_attempt: u32,
}

impl Envelope {
    /// A fresh envelope for a request received now.
    pub fn new(source: Source, request_headers: Vec<(String, String)>) -> Self {
        Self {
            ingest_id: Uuid::now_v7(),
            source,
            received_at: Utc::now(),
            request_headers,
            path_params: BTreeMap::new(),
            assigned_ids: BTreeMap::new(),
            retry_attempt: 0,
        }
    }
}

/// Request headers kept for audit: enough to trace a delivery back to the
/// partner's request, never authentication material.
pub const AUDIT_HEADERS: &[&str] = &[
    "user-agent",
    "content-type",
    "x-forwarded-for",
    "x-request-id",
    "idempotency-key",
    "webhook-id",
];

/// Longest audit header value kept; anything longer is cut.
pub const AUDIT_HEADER_MAX_LEN: usize = 256;
