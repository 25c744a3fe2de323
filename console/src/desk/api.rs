//! The desk's JSON routes: what the pages' scripts and other systems call
//! (documented in README, "The lead desk's API"). Every refusal is
//! `{"error": "…"}` with its status.

use super::{actions, detail, list};
use crate::AppState;
use crate::auth::Staff;
use crate::refusal::{JsonRefusal, Refusal};
use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Extension, Path, Query, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::Arc;

/// A JSON body, or a 400 saying what is wrong with it.
fn body<T>(body: Result<Json<T>, JsonRejection>) -> Result<T, Refusal> {
    body.map(|Json(body)| body).map_err(|rejection| {
        Refusal::BadRequest(format!("bad JSON body: {}", rejection.body_text()))
    })
}

/// `GET /ajax/leads/?view=&stage=&source=&owner=&overdue=&q=&from=&to=&page=`.
pub async fn list(
    State(state): State<Arc<AppState>>,
    Extension(staff): Extension<Staff>,
    Query(query): Query<list::ListQuery>,
) -> Result<Json<Value>, JsonRefusal> {
    let filters = list::Filters::parse(&state.db, &staff, &query).await?;
    let page = list::page(&state.db, &staff, &filters).await?;
    Ok(Json(json!({
        "leads": page.leads,
        "total": page.total,
        "page": filters.page,
        "page_size": list::PAGE_SIZE,
    })))
}

/// `GET /ajax/leads/{id}`.
pub async fn one(
    State(state): State<Arc<AppState>>,
    Extension(staff): Extension<Staff>,
    Path(id): Path<String>,
) -> Result<Json<detail::Detail>, JsonRefusal> {
    let lead = super::visible_lead(&state.db, &staff, super::lead_id(&id)?).await?;
    Ok(Json(detail::read(&state.db, lead).await?))
}

/// `POST /ajax/leads/{id}/assign` body.
#[derive(Deserialize)]
pub struct AssignBody {
    owner: Option<String>,
}

/// `POST /ajax/leads/{id}/assign` `{"owner": "username"}` (`null`
/// unassigns).
pub async fn assign(
    State(state): State<Arc<AppState>>,
    Extension(staff): Extension<Staff>,
    Path(id): Path<String>,
    request: Result<Json<AssignBody>, JsonRejection>,
) -> Result<Json<detail::Detail>, JsonRefusal> {
    let id = super::lead_id(&id)?;
    let request = body(request)?;
    actions::assign(&state, &staff, id, request.owner.as_deref()).await?;
    fresh(&state, &staff, id).await
}

/// `POST /ajax/leads/{id}/stage` body.
#[derive(Deserialize)]
pub struct StageBody {
    stage: String,
    lost_reason: Option<String>,
}

/// `POST /ajax/leads/{id}/stage` `{"stage": "...", "lost_reason": "..."}`.
pub async fn stage(
    State(state): State<Arc<AppState>>,
    Extension(staff): Extension<Staff>,
    Path(id): Path<String>,
    request: Result<Json<StageBody>, JsonRejection>,
) -> Result<Json<detail::Detail>, JsonRefusal> {
    let id = super::lead_id(&id)?;
    let request = body(request)?;
    actions::stage(
        &state,
        &staff,
        id,
        &request.stage,
        request.lost_reason.as_deref(),
    )
    .await?;
    fresh(&state, &staff, id).await
}

/// `POST /ajax/leads/{id}/notes` body.
#[derive(Deserialize)]
pub struct NoteBody {
    text: String,
}

/// `POST /ajax/leads/{id}/notes` `{"text": "..."}`: 201.
pub async fn note(
    State(state): State<Arc<AppState>>,
    Extension(staff): Extension<Staff>,
    Path(id): Path<String>,
    request: Result<Json<NoteBody>, JsonRejection>,
) -> Result<(StatusCode, Json<detail::Detail>), JsonRefusal> {
    let id = super::lead_id(&id)?;
    let request = body(request)?;
    actions::note(&state, &staff, id, &request.text).await?;
    Ok((StatusCode::CREATED, fresh(&state, &staff, id).await?))
}

/// `POST /ajax/leads/{id}/follow-ups` body.
#[derive(Deserialize)]
pub struct FollowUpBody {
    due_at: String,
    assignee: Option<String>,
    note: Option<String>,
}

/// `POST /ajax/leads/{id}/follow-ups` `{"due_at": "...", "assignee":
/// "...", "note": "..."}`: 201 with the follow-up's id.
pub async fn follow_up(
    State(state): State<Arc<AppState>>,
    Extension(staff): Extension<Staff>,
    Path(id): Path<String>,
    request: Result<Json<FollowUpBody>, JsonRejection>,
) -> Result<(StatusCode, Json<Value>), JsonRefusal> {
    let id = super::lead_id(&id)?;
    let request = body(request)?;
    let created = actions::follow_up(
        &state,
        &staff,
        id,
        &request.due_at,
        request.assignee.as_deref(),
        request.note.as_deref(),
    )
    .await?;
    Ok((StatusCode::CREATED, Json(json!({"id": created}))))
}

/// `POST /ajax/me/duty` body.
#[derive(Deserialize)]
pub struct DutyBody {
    on_duty: bool,
}

/// `POST /ajax/me/duty` `{"on_duty": true}`.
pub async fn duty(
    State(state): State<Arc<AppState>>,
    Extension(staff): Extension<Staff>,
    request: Result<Json<DutyBody>, JsonRejection>,
) -> Result<Json<Value>, JsonRefusal> {
    let request = body(request)?;
    actions::duty(&state, &staff, request.on_duty).await?;
    Ok(Json(json!({"on_duty": request.on_duty})))
}

/// The lead as it is after a change (still visible to whoever made it:
/// managers see every lead, and a salesperson only takes one for
/// themselves).
async fn fresh(
    state: &AppState,
    staff: &Staff,
    id: uuid::Uuid,
) -> Result<Json<detail::Detail>, JsonRefusal> {
    let lead = super::visible_lead(&state.db, staff, id).await?;
    Ok(Json(detail::read(&state.db, lead).await?))
}
