//! The operator's view (staff with the `operator` role only): the webhook
//! log with its filters and one delivery's outcome and history, the dead
//! letters by source and reason with replay and purge (a dry run first,
//! then a confirmation), per-source counts of the last hour, and the audit
//! of staff access to personal data.
//!
//! It shares its dead-letter logic with the `dead-letters` command-line
//! tool (the same library), so both keep the same promises: nothing leaves
//! a dead-letter queue before its replayed copy is confirmed, and an
//! interrupted action can simply be run again.

pub mod access;
pub mod dead_letters;
pub mod log;
pub mod overview;
pub mod person;

use crate::AppState;
use crate::auth::{Role, Staff};
use crate::refusal::Refusal;
use axum::Router;
use axum::extract::Request;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use shared::Source;
use shared::broker::DeadLetterQueues;
use std::sync::Arc;
use std::time::Duration;

/// Longest the console waits for the broker when it opens the dead-letter
/// queues for a page or an action.
const BROKER_TIMEOUT: Duration = Duration::from_secs(10);

/// The operator's routes, each behind [`require_operator`] (on top of the
/// session every console route needs).
pub fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/operator/", get(overview::show))
        .route("/operator/log", get(log::list))
        .route("/operator/log/{id}", get(log::one))
        .route("/operator/dead-letters", get(dead_letters::list))
        .route("/operator/dead-letters/confirm", get(dead_letters::confirm))
        .route("/operator/dead-letters/apply", post(dead_letters::apply))
        .route("/operator/access", get(access::list))
        .route("/operator/access.csv", get(access::csv))
        .route("/operator/person", get(person::form))
        .route("/operator/person/export.json", get(person::export))
        .route(
            "/operator/person/erase",
            get(person::erase_preview).post(person::erase),
        )
        .route("/operator/person/erasures/{id}", get(person::erasure))
        .route_layer(axum::middleware::from_fn(require_operator))
}

/// Refuses (403) staff without the operator role. It runs inside the
/// session check, so the staff member is known.
async fn require_operator(request: Request, next: Next) -> Response {
    let role = request.extensions().get::<Staff>().map(|staff| staff.role);
    if role != Some(Role::Operator) {
        return Refusal::Forbidden(
            "The operator's view is for staff with the operator role.".into(),
        )
        .into_response();
    }
    next.run(request).await
}

/// Logs a database failure; the page answers 503.
fn database_unavailable(error: impl std::fmt::Display) -> Refusal {
    Refusal::database("an operator page", error)
}

/// Logs a broker failure; the page answers 503.
fn broker_unavailable(error: &anyhow::Error) -> Refusal {
    tracing::warn!(
        error = format!("{error:#}"),
        "broker error on an operator page"
    );
    Refusal::BrokerUnavailable(
        "RabbitMQ is unavailable, so the dead letters cannot be read; try again shortly.".into(),
    )
}

/// Opens the dead-letter queues (bounded).
async fn open_queues(state: &AppState) -> anyhow::Result<DeadLetterQueues> {
    tokio::time::timeout(BROKER_TIMEOUT, DeadLetterQueues::connect(&state.broker))
        .await
        .map_err(|_| anyhow::anyhow!("no broker connection within {BROKER_TIMEOUT:?}"))?
}

/// A source chosen in a filter: empty means all; anything else must be a
/// source's name (a 400 naming them otherwise).
fn parse_source(raw: Option<&str>) -> Result<Option<Source>, Refusal> {
    match raw.map(str::trim).filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(name) => name.parse::<Source>().map(Some).map_err(|_| {
            let names: Vec<_> = Source::ALL.iter().map(|s| s.name()).collect();
            Refusal::BadRequest(format!("source must be one of {}", names.join(", ")))
        }),
    }
}
