//! The worker's side of the admin listener: readiness (broker and database
//! reachable) and the webhook log, `GET /logs` and `GET /logs/{log_id}`.
//!
//! The log endpoints follow the CRM contract's (`page`, `page_size` up to
//! 100, `direction`, `is_successful`), generalised to every source, with the
//! filters an operator needs: `source`, `status`, `since`/`until` (receive
//! time, RFC 3339), `ingest_id`, and the partner's own id as `partner_ref`
//! or by its name (`call_id`, `wamid`, `external_call_id`, `lead_id`,
//! `pre_lead_id`, `customer_id`), and `call_history_id` (any id the edge
//! returned for a captured call, resolved through its aliases to the
//! record's deliveries). Bodies come with phone numbers and e-mail
//! addresses masked unless the request says `unmask=true`.

// Helpers short-circuit with `Result<_, AdminResponse>`: the error is the
// response itself, built once per request, so boxing it would only add an
// allocation.
#![allow(clippy::result_large_err)]

use crate::liveness::Liveness;
use chrono::{DateTime, Utc};
use hyper::StatusCode;
use sea_orm::{DatabaseConnection, EntityTrait};
use serde_json::{Value, json};
use shared::Source;
use shared::admin::{AdminRequest, AdminResponse, AdminRoutes, error};
use std::collections::HashMap;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use store::delivery_log::LogStatus;
use store::entities::call_record_aliases;
use store::entities::webhook_log;
use store::log_search::{Direction, LogPage, LogSearch};
use uuid::Uuid;

/// Largest `page_size`, as in the CRM contract.
pub const MAX_PAGE_SIZE: u64 = 100;
/// How long readiness waits for the database to answer.
const PING_TIMEOUT: Duration = Duration::from_secs(2);

/// Query parameters naming the partner's own id; all match `partner_ref`.
const PARTNER_ID_PARAMS: &[&str] = &[
    "partner_ref",
    "call_id",
    "wamid",
    "external_call_id",
    "lead_id",
    "pre_lead_id",
    "customer_id",
];
/// Every other accepted parameter.
const PARAMS: &[&str] = &[
    "page",
    "page_size",
    "direction",
    "is_successful",
    "status",
    "source",
    "since",
    "until",
    "ingest_id",
    "call_history_id",
    "unmask",
];

/// What the worker shares with its admin listener.
pub struct WorkerAdmin {
    /// Set once the database is connected and migrated.
    pub db: OnceLock<DatabaseConnection>,
    /// True while a broker session is consuming.
    pub broker_connected: AtomicBool,
    /// Whether the worker is moving (readiness and the watchdog read it).
    pub liveness: Liveness,
    /// `WORKER_STALL_SECS`: queued work with no progress this long is "not ready".
    stall_timeout: Duration,
}

impl WorkerAdmin {
    /// Shared state for a worker whose readiness fails after `stall_timeout`
    /// of queued work without progress.
    pub fn new(stall_timeout: Duration) -> Self {
        Self {
            db: OnceLock::new(),
            broker_connected: AtomicBool::new(false),
            liveness: Liveness::default(),
            stall_timeout,
        }
    }
}

impl AdminRoutes for WorkerAdmin {
    const METRIC_PREFIX: &'static str = "leadpipe_worker";

    async fn ready(&self) -> Result<Value, Value> {
        let broker = self.broker_connected.load(Ordering::Relaxed);
        let database = match self.db.get() {
            None => false,
            Some(db) => matches!(
                tokio::time::timeout(PING_TIMEOUT, db.ping()).await,
                Ok(Ok(()))
            ),
        };
        let word = |up: bool| if up { "connected" } else { "unreachable" };
        // Only an open session can stall; a closed one is "unreachable".
        let stall = broker
            .then(|| self.liveness.stall(self.stall_timeout))
            .flatten();
        let ready = broker && database && stall.is_none();
        let consuming = stall.unwrap_or_else(|| if broker { "ok" } else { "no" }.to_owned());
        let body = json!({
            "status": if ready { "ready" } else { "not ready" },
            "broker": word(broker),
            "database": word(database),
            "consuming": consuming,
        });
        if ready { Ok(body) } else { Err(body) }
    }

    async fn route(&self, request: AdminRequest) -> Option<AdminResponse> {
        let path = request.path.trim_end_matches('/');
        let one = path.strip_prefix("/logs/");
        if path != "/logs" && one.is_none() {
            return None;
        }
        if request.method != hyper::Method::GET {
            return Some(error(
                StatusCode::METHOD_NOT_ALLOWED,
                "method not allowed; use GET",
            ));
        }
        let Some(db) = self.db.get() else {
            return Some(error(
                StatusCode::SERVICE_UNAVAILABLE,
                "the database is not connected yet",
            ));
        };
        let unmask = match flag(&request.query, "unmask") {
            Ok(value) => value.unwrap_or(false),
            Err(refusal) => return Some(refusal),
        };
        let answer = match one {
            Some(id) => get_one(db, id, unmask).await,
            None => list(db, &request.query, unmask).await,
        };
        Some(answer.unwrap_or_else(|refusal| refusal))
    }
}

fn bad_request(message: impl Into<String>) -> AdminResponse {
    error(StatusCode::BAD_REQUEST, message)
}

fn database_error(failure: sea_orm::DbErr) -> AdminResponse {
    tracing::warn!(error = %failure, "webhook log query failed");
    error(
        StatusCode::SERVICE_UNAVAILABLE,
        "the database did not answer; try again",
    )
}

fn flag(query: &HashMap<String, String>, name: &str) -> Result<Option<bool>, AdminResponse> {
    match query.get(name).map(String::as_str) {
        None => Ok(None),
        Some("true") => Ok(Some(true)),
        Some("false") => Ok(Some(false)),
        Some(other) => Err(bad_request(format!(
            "{name} must be true or false, not {other:?}"
        ))),
    }
}

fn time(
    query: &HashMap<String, String>,
    name: &str,
) -> Result<Option<DateTime<Utc>>, AdminResponse> {
    query
        .get(name)
        .map(|raw| {
            DateTime::parse_from_rfc3339(raw)
                .map(|t| t.with_timezone(&Utc))
                .map_err(|_| {
                    bad_request(format!(
                        "{name} must be an RFC 3339 time such as 2026-01-31T09:30:00Z"
                    ))
                })
        })
        .transpose()
}

fn number(
    query: &HashMap<String, String>,
    name: &str,
    default: u64,
    max: u64,
) -> Result<u64, AdminResponse> {
    match query.get(name) {
        None => Ok(default),
        Some(raw) => match raw.parse::<u64>() {
            Ok(n) if (1..=max).contains(&n) => Ok(n),
            _ => Err(bad_request(format!(
                "{name} must be a whole number from 1 to {max}"
            ))),
        },
    }
}

/// `outgoing` for what the system sends (console replies), else `incoming`.
fn direction(source: &str) -> &'static str {
    match source.parse::<Source>() {
        Ok(source) if source.is_outgoing() => "outgoing",
        _ => "incoming",
    }
}

/// One log row as the API shows it.
fn item(row: webhook_log::Model, unmask: bool) -> Value {
    let successful = LogStatus::parse(&row.status).is_some_and(LogStatus::is_successful);
    let body = if unmask {
        row.body
    } else {
        shared::redact::mask_body(&row.body)
    };
    json!({
        "log_id": row.ingest_id,
        "ingest_id": row.ingest_id,
        "source": row.source,
        "direction": direction(&row.source),
        "received_at": row.received_at,
        "status": row.status,
        "is_successful": successful,
        "reason": row.reason,
        "attempts": row.attempts,
        "partner_ref": row.partner_ref,
        "idempotency_key": row.idempotency_key,
        "body": body,
        "body_masked": !unmask,
        // Set once the body was dropped for its age (RAW_BODY_RETENTION_DAYS).
        "body_dropped_at": row.body_dropped_at,
        "created_at": row.created_at,
        "updated_at": row.updated_at,
    })
}

async fn get_one(
    db: &DatabaseConnection,
    id: &str,
    unmask: bool,
) -> Result<AdminResponse, AdminResponse> {
    let id =
        Uuid::parse_str(id).map_err(|_| bad_request("log_id must be a UUID (the ingest id)"))?;
    let row = webhook_log::Entity::find_by_id(id)
        .one(db)
        .await
        .map_err(database_error)?
        .ok_or_else(|| error(StatusCode::NOT_FOUND, format!("no log entry {id}")))?;
    if unmask {
        tracing::info!(ingest_id = %id, "webhook log entry served unmasked");
    }
    Ok(shared::admin::json(
        StatusCode::OK,
        &json!({"status": "success", "data": item(row, unmask)}),
    ))
}

async fn list(
    db: &DatabaseConnection,
    query: &HashMap<String, String>,
    unmask: bool,
) -> Result<AdminResponse, AdminResponse> {
    if let Some(unknown) = query
        .keys()
        .find(|k| !PARAMS.contains(&k.as_str()) && !PARTNER_ID_PARAMS.contains(&k.as_str()))
    {
        return Err(bad_request(format!(
            "unknown parameter {unknown:?}; accepted: {}, {}",
            PARAMS.join(", "),
            PARTNER_ID_PARAMS.join(", ")
        )));
    }
    let page = number(query, "page", 1, u64::from(u32::MAX))?;
    let page_size = number(query, "page_size", 20, MAX_PAGE_SIZE)?;
    let direction = match query.get("direction").map(String::as_str) {
        None => None,
        Some("incoming") => Some(Direction::Incoming),
        Some("outgoing") => Some(Direction::Outgoing),
        Some(other) => {
            return Err(bad_request(format!(
                "direction must be incoming or outgoing, not {other:?}"
            )));
        }
    };
    let mut search = LogSearch {
        direction,
        successful: flag(query, "is_successful")?,
        since: time(query, "since")?,
        until: time(query, "until")?,
        ..LogSearch::default()
    };
    if let Some(status) = query.get("status") {
        let Some(status) = LogStatus::parse(status) else {
            return Err(bad_request(format!(
                "status must be one of {}",
                LogStatus::NAMES.join(", ")
            )));
        };
        search.status = Some(status);
    }
    if let Some(source) = query.get("source") {
        let source = source.parse::<Source>().map_err(|_| {
            let names: Vec<_> = Source::ALL.iter().map(|s| s.name()).collect();
            bad_request(format!("source must be one of {}", names.join(", ")))
        })?;
        search.source = Some(source);
    }
    if let Some(id) = query.get("ingest_id") {
        let id = Uuid::parse_str(id).map_err(|_| bad_request("ingest_id must be a UUID"))?;
        search.ingest_id = Some(id);
    }
    search.partner_ref = PARTNER_ID_PARAMS
        .iter()
        .filter_map(|name| query.get(*name).cloned())
        .collect();
    if let Some(id) = query.get("call_history_id") {
        // Any id the edge returned for a captured call, the record's own or
        // a repeat's: the deliveries of the record it stands for.
        let id = Uuid::parse_str(id).map_err(|_| bad_request("call_history_id must be a UUID"))?;
        let record = call_record_aliases::resolve(db, id)
            .await
            .map_err(database_error)?;
        // No record (yet): an empty list, so nothing matches.
        let log_ref: Vec<String> = record
            .as_ref()
            .map(call_record_aliases::log_ref)
            .into_iter()
            .collect();
        if search
            .source
            .is_some_and(|source| source != Source::CallCapture)
        {
            search.partner_ref_in = Some(Vec::new());
        } else {
            search.source = Some(Source::CallCapture);
            search.partner_ref_in = Some(log_ref);
        }
    }
    let LogPage { total, rows } = search
        .page(db, page, page_size)
        .await
        .map_err(database_error)?;
    if unmask {
        tracing::info!(rows = rows.len(), "webhook log page served unmasked");
    }
    let items: Vec<Value> = rows.into_iter().map(|row| item(row, unmask)).collect();
    Ok(shared::admin::json(
        StatusCode::OK,
        &json!({
            "status": "success",
            "data": {
                "items": items,
                "page": page,
                "page_size": page_size,
                "total": total,
                "total_pages": total.div_ceil(page_size),
            }
        }),
    ))
}
