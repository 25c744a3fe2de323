//! A person's data, for operators (issue 24): `GET /operator/person` asks
//! for a number; `GET /operator/person/export.json?phone=` answers the
//! same document as `console person export` as a download. The access
//! audit records each export (by a hash of the number).

use crate::AppState;
use crate::auth::Staff;
use crate::refusal::Refusal;
use crate::views::page;
use axum::extract::{Extension, Query, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use maud::html;
use serde::Deserialize;
use std::sync::Arc;

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
        },
    )
    .into_response()
}

/// `GET /operator/person/export.json?phone=`.
pub async fn export(
    State(state): State<Arc<AppState>>,
    Query(query): Query<PersonQuery>,
) -> Response {
    let phone = query.phone.unwrap_or_default();
    let document = match crate::person::export_everywhere(&state.db, &state.broker, &phone).await {
        Ok(document) => document,
        Err(crate::person::ExportError::NotAPhone(_)) => {
            return Refusal::BadRequest(
                "phone must be a phone number, such as +91 98765 43210".into(),
            )
            .into_response();
        }
        Err(crate::person::ExportError::Database(error)) => {
            return super::database_unavailable(error).into_response();
        }
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
