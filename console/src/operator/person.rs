//! A person's data, for operators (issue 24): `GET /operator/person` asks
//! for a number; `GET /operator/person/export.json?phone=` answers the
//! same document as `console person export` as a download. The access
//! audit records each export (by a hash of the number).
//!
//! Erasure: `GET /operator/person/erase?phone=` is the dry run (what would
//! go, table by table, and the dead letters); its CSRF-checked form posts
//! to `POST /operator/person/erase`, which queues the erasure for a worker
//! and shows `/operator/person/erasures/{id}`: queued, then what went.

use crate::AppState;
use crate::auth::Staff;
use crate::auth::form_csrf_refusal;
use crate::refusal::Refusal;
use crate::views::page;
use axum::Form;
use axum::extract::{ConnectInfo, Extension, Path, Query, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Redirect, Response};
use maud::html;
use serde::Deserialize;
use std::net::SocketAddr;
use std::sync::Arc;
use uuid::Uuid;

/// `?phone=`.
#[derive(Debug, Default, Deserialize)]
pub struct PersonQuery {
    phone: Option<String>,
}

/// `GET /operator/person`: the form.
pub async fn form(Extension(staff): Extension<Staff>) -> Response {
    page(
        "A person's data",
        &staff,
        "operator",
        html! {
            (super::log::subnav())
            h1 { "A person's data" }
            p.muted { "Everything the database holds about one person, found by their number in any spelling, as one JSON file. Each export is recorded in the access audit." }
            form.filters method="get" action="/operator/person/export.json" {
                input name="phone" type="tel" required placeholder="+91 98765 43210" aria-label="Phone number";
                button type="submit" { "Export" }
            }
            h2 { "Erase a person" }
            p.muted { "Everything held about one number, in the database and the dead-letter queues. You see what would go before anything is erased." }
            form.filters method="get" action="/operator/person/erase" {
                input name="phone" type="tel" required placeholder="+91 98765 43210" aria-label="Phone number to erase";
                button type="submit" { "See what would go" }
            }
        },
    )
    .into_response()
}

/// Everything held about the person `?phone=` names (the export, and
/// what an erasure would remove); 400 for a number that is not one.
async fn everything(state: &AppState, phone: Option<&str>) -> Result<serde_json::Value, Refusal> {
    match crate::person::export_everywhere(&state.db, &state.broker, phone.unwrap_or_default())
        .await
    {
        Ok(document) => Ok(document),
        Err(crate::person::ExportError::NotAPhone(_)) => Err(Refusal::BadRequest(
            "phone must be a phone number, such as +91 98765 43210".into(),
        )),
        Err(crate::person::ExportError::Database(error)) => Err(super::database_unavailable(error)),
    }
}

/// `GET /operator/person/export.json?phone=`.
pub async fn export(
    State(state): State<Arc<AppState>>,
    Query(query): Query<PersonQuery>,
) -> Response {
    let document = match everything(&state, query.phone.as_deref()).await {
        Ok(document) => document,
        Err(refusal) => return refusal.into_response(),
    };
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            ),
            (
                header::CONTENT_DISPOSITION,
                HeaderValue::from_static("attachment; filename=\"person.json\""),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        ],
        document.to_string(),
    )
        .into_response()
}

/// `GET /operator/person/erase?phone=`: the dry run.
pub async fn erase_preview(
    State(state): State<Arc<AppState>>,
    Extension(staff): Extension<Staff>,
    Query(query): Query<PersonQuery>,
) -> Response {
    let document = match everything(&state, query.phone.as_deref()).await {
        Ok(document) => document,
        Err(refusal) => return refusal.into_response(),
    };
    let e164 = document["phone"].as_str().unwrap_or_default().to_owned();
    let would_go = crate::person::what_would_go(&document);
    page(
        "Erase a person",
        &staff,
        "operator",
        html! {
            (super::log::subnav())
            h1 { "Erase " (e164) }
            @if would_go.is_empty() {
                p { "Nothing is held about this number." }
            } @else {
                p { "An erasure removes, for good:" }
                table.list {
                    thead { tr { th { "What" } th { "How many" } } }
                    tbody {
                        @for (what, count) in &would_go {
                            tr { td { (what) } td { (count) } }
                        }
                    }
                }
                p.muted { "The webhook log keeps each delivery's id, source, times and status; its body and reason go. The erasure is recorded with your name and a hash of the number, never the number." }
                form.confirm method="post" action="/operator/person/erase" {
                    input type="hidden" name="csrf_token" value=(staff.csrf_token);
                    input type="hidden" name="phone" value=(e164);
                    button.danger type="submit" { "Erase everything listed" }
                }
            }
        },
    )
    .into_response()
}

/// The confirmation form.
#[derive(Debug, Deserialize)]
pub struct EraseForm {
    csrf_token: Option<String>,
    phone: Option<String>,
}

/// `POST /operator/person/erase`: queues the erasure (recorded in the
/// access audit) and shows its page.
pub async fn erase(
    State(state): State<Arc<AppState>>,
    Extension(staff): Extension<Staff>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    form: Result<Form<EraseForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    let Ok(Form(form)) = form else {
        return Refusal::BadRequest("Unreadable form.".into()).into_response();
    };
    if let Some(refusal) = form_csrf_refusal(&staff, form.csrf_token.as_deref()) {
        return refusal;
    }
    let phone = form.phone.unwrap_or_default();
    let id = match crate::person::request_erasure(&state.publisher, &phone, &staff.username).await {
        Ok(id) => id,
        Err(crate::person::ErasureError::NotAPhone(_)) => {
            return Refusal::BadRequest(
                "phone must be a phone number, such as +91 98765 43210".into(),
            )
            .into_response();
        }
        Err(error @ crate::person::ErasureError::Broker(_)) => {
            tracing::warn!(%error, "an erasure could not be queued");
            return Refusal::BrokerUnavailable(
                "The erasure could not be queued (broker unavailable); nothing was erased. Try again."
                    .into(),
            )
            .into_response();
        }
    };
    let subject =
        shared::phone::to_e164(&phone).map(|e164| store::access_log::number_subject(&e164));
    let actor = store::access_log::Actor {
        user: Some(staff.user_id),
        username: staff.username.clone(),
        address: Some(peer.ip().to_string()),
    };
    if let Err(error) = store::access_log::record(
        &state.db,
        &actor,
        store::access_log::Action::PersonErased,
        subject,
    )
    .await
    {
        // Queued already: the erasure's own record names who asked.
        tracing::warn!(%error, "an erasure could not be recorded in the access audit");
    }
    Redirect::to(&format!("/operator/person/erasures/{id}")).into_response()
}

/// `GET /operator/person/erasures/{id}`: queued, or what went.
pub async fn erasure(
    State(state): State<Arc<AppState>>,
    Extension(staff): Extension<Staff>,
    Path(id): Path<String>,
) -> Response {
    let Ok(id) = Uuid::parse_str(&id) else {
        return Refusal::BadRequest("an erasure's id is a UUID".into()).into_response();
    };
    let record = match crate::person::erasure(&state.db, id).await {
        Ok(record) => record,
        Err(error) => return super::database_unavailable(error).into_response(),
    };
    let counts: Vec<(String, i64)> = record
        .as_ref()
        .and_then(|r| r.counts.as_object())
        .map(|counts| {
            counts
                .iter()
                .map(|(table, n)| (table.clone(), n.as_i64().unwrap_or(0)))
                .filter(|(_, n)| *n > 0)
                .collect()
        })
        .unwrap_or_default();
    page(
        "Erasure",
        &staff,
        "operator",
        html! {
            (super::log::subnav())
            h1 { "Erasure " (id) }
            @match &record {
                None => p #erasure-state { "Queued: a worker will do it shortly. Reload this page to see what went." },
                Some(record) => {
                    p #erasure-state {
                        @if record.dead_letters_purged.is_some() { "Done" } @else { "Database erased; dead letters still to purge" }
                        " · asked by " (record.requested_by) " · erased " (record.erased_at.to_rfc3339())
                    }
                    table.list {
                        thead { tr { th { "What" } th { "Removed" } } }
                        tbody {
                            @for (table, n) in &counts {
                                tr { td { (table) } td { (n) } }
                            }
                            @if counts.is_empty() {
                                tr { td { "rows" } td { "0: nothing was held" } }
                            }
                            tr { td { "dead letters" } td { (record.dead_letters_purged.map_or("not yet".to_owned(), |n| n.to_string())) } }
                        }
                    }
                }
            }
        },
    )
    .into_response()
}
