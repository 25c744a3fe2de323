//! Canned replies: a team's shared WhatsApp answers. Managers keep their
//! teams' (`/desk/canned`); in the chat panel, staff type `/` and a
//! shortcut to insert one, with `{name}` and `{vehicle}` filled from the
//! lead (`GET /ajax/canned-replies` lists the ones they may use).

use crate::AppState;
use crate::auth::{Role, Staff, form_csrf_refusal};
use crate::refusal::{JsonRefusal, Refusal};
use crate::views::page;
use axum::extract::{Extension, Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Form, Json};
use chrono::Utc;
use maud::html;
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use serde::Deserialize;
use serde_json::json;
use std::collections::HashMap;
use std::sync::Arc;
use store::entities::canned_replies;
use uuid::Uuid;

/// Longest shortcut.
pub const MAX_SHORTCUT_CHARS: usize = 32;
/// Longest canned text (a WhatsApp message takes 4,096; an answer is short).
pub const MAX_TEXT_CHARS: usize = 1_000;

fn unavailable(error: impl std::fmt::Display) -> Refusal {
    Refusal::database("the canned replies", error)
}

fn managers_only(staff: &Staff) -> Result<(), Refusal> {
    if staff.role == Role::Manager {
        Ok(())
    } else {
        Err(Refusal::Forbidden(
            "Canned replies are kept by managers.".into(),
        ))
    }
}

/// The replies `staff` may use: their teams' (an operator: every team's).
async fn usable(state: &AppState, staff: &Staff) -> Result<Vec<canned_replies::Model>, Refusal> {
    let mut query = canned_replies::Entity::find()
        .order_by_asc(canned_replies::Column::Shortcut)
        .order_by_asc(canned_replies::Column::TeamId);
    if staff.role != Role::Operator {
        query = query.filter(canned_replies::Column::TeamId.is_in(staff.teams.clone()));
    }
    query.all(&state.db).await.map_err(unavailable)
}

/// `GET /ajax/canned-replies`: `{"replies": [{shortcut, text, team}]}`.
pub async fn list(
    State(state): State<Arc<AppState>>,
    Extension(staff): Extension<Staff>,
) -> Result<Response, JsonRefusal> {
    let replies = usable(&state, &staff).await?;
    let names = crate::teams::names(&state.db)
        .await
        .map_err(|e| unavailable(format!("{e:#}")))?;
    let replies: Vec<_> = replies
        .into_iter()
        .map(|r| {
            json!({
                "shortcut": r.shortcut,
                "text": r.text,
                "team": names.get(&r.team_id),
            })
        })
        .collect();
    Ok((
        [(axum::http::header::CACHE_CONTROL, "no-store")],
        Json(json!({"replies": replies})),
    )
        .into_response())
}

/// The managers' page.
async fn render(state: &AppState, staff: &Staff) -> Result<Response, Refusal> {
    managers_only(staff)?;
    let replies = usable(state, staff).await?;
    let names: HashMap<Uuid, String> = crate::teams::names(&state.db)
        .await
        .map_err(|e| unavailable(format!("{e:#}")))?;
    let teams: Vec<(&Uuid, &String)> = staff
        .teams
        .iter()
        .filter_map(|id| Some((id, names.get(id)?)))
        .collect();
    Ok(page(
        "Canned replies",
        staff,
        "canned",
        html! {
            h1 { "Canned replies" }
            p.muted {
                "Your teams type / and the shortcut in a WhatsApp reply to insert the text; {name} and {vehicle} are filled from the lead."
            }
            table #canned-replies {
                thead { tr { th { "Shortcut" } th { "Text" } th { "Team" } th {} } }
                tbody {
                    @for reply in &replies {
                        tr {
                            td { "/" (reply.shortcut) }
                            td { (reply.text) }
                            td { (names.get(&reply.team_id).map_or("(removed)", String::as_str)) }
                            td {
                                form method="post" action={ "/desk/canned/" (reply.id) "/delete" } {
                                    input type="hidden" name="csrf_token" value=(staff.csrf_token);
                                    button.danger type="submit" { "Remove" }
                                }
                            }
                        }
                    }
                }
            }
            @if teams.is_empty() {
                p { "You belong to no team: console user change NAME --team TEAM." }
            } @else {
                h2 { "Add a canned reply" }
                form.stacked #canned-form method="post" action="/desk/canned" {
                    input type="hidden" name="csrf_token" value=(staff.csrf_token);
                    select name="team" aria-label="Team" {
                        @for (id, name) in &teams { option value=(id) { (name) } }
                    }
                    input name="shortcut" aria-label="Shortcut" placeholder="Shortcut, such as testdrive" maxlength=(MAX_SHORTCUT_CHARS) required;
                    textarea name="text" aria-label="Text" rows="3" maxlength=(MAX_TEXT_CHARS) placeholder="Hi {name}, your {vehicle} test drive…" required {}
                    button type="submit" { "Add" }
                }
            }
        },
    )
    .into_response())
}

/// `GET /desk/canned`.
pub async fn show(
    State(state): State<Arc<AppState>>,
    Extension(staff): Extension<Staff>,
) -> Response {
    render(&state, &staff)
        .await
        .unwrap_or_else(IntoResponse::into_response)
}

/// The new reply's fields.
#[derive(Deserialize)]
pub struct CannedForm {
    csrf_token: Option<String>,
    team: Option<String>,
    shortcut: Option<String>,
    text: Option<String>,
}

/// A shortcut as typed, checked: lower-case letters, digits, `-`, `_`.
fn shortcut(raw: &str) -> Result<String, Refusal> {
    let shortcut = raw.trim().trim_start_matches('/').to_lowercase();
    let fine = !shortcut.is_empty()
        && shortcut.chars().count() <= MAX_SHORTCUT_CHARS
        && shortcut
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    if fine {
        Ok(shortcut)
    } else {
        Err(Refusal::BadRequest(format!(
            "a shortcut has 1 to {MAX_SHORTCUT_CHARS} letters, digits, - or _"
        )))
    }
}

async fn add_reply(state: &AppState, staff: &Staff, form: CannedForm) -> Result<(), Refusal> {
    managers_only(staff)?;
    let team = form
        .team
        .as_deref()
        .and_then(|t| Uuid::parse_str(t.trim()).ok())
        .ok_or_else(|| Refusal::BadRequest("choose a team".into()))?;
    if !staff.teams.contains(&team) {
        return Err(Refusal::Forbidden(
            "You keep the canned replies of your own teams only.".into(),
        ));
    }
    let shortcut = shortcut(form.shortcut.as_deref().unwrap_or(""))?;
    let text = form.text.unwrap_or_default();
    let chars = text.chars().count();
    if text.trim().is_empty() || chars > MAX_TEXT_CHARS {
        return Err(Refusal::BadRequest(format!(
            "the text has 1 to {MAX_TEXT_CHARS} characters, not {chars}"
        )));
    }
    let taken = canned_replies::Entity::find()
        .filter(canned_replies::Column::TeamId.eq(team))
        .filter(canned_replies::Column::Shortcut.eq(shortcut.as_str()))
        .one(&state.db)
        .await
        .map_err(unavailable)?;
    if taken.is_some() {
        return Err(Refusal::Conflict(format!(
            "/{shortcut} is already one of this team's canned replies; remove it first"
        )));
    }
    let row = canned_replies::ActiveModel {
        id: Set(Uuid::now_v7()),
        team_id: Set(team),
        shortcut: Set(shortcut),
        text: Set(text),
        created_by: Set(staff.username.chars().take(64).collect()),
        created_at: Set(Utc::now()),
    };
    match canned_replies::Entity::insert(row)
        .exec_without_returning(&state.db)
        .await
    {
        Ok(_) => {
            tracing::info!(username = %staff.username, "canned reply added");
            Ok(())
        }
        // Added by another manager a moment ago (the unique index).
        Err(error)
            if matches!(
                error.sql_err(),
                Some(sea_orm::SqlErr::UniqueConstraintViolation(_))
            ) =>
        {
            Err(Refusal::Conflict(
                "that shortcut was just added to this team".into(),
            ))
        }
        Err(error) => Err(unavailable(error)),
    }
}

/// `POST /desk/canned`: adds a canned reply.
pub async fn add(
    State(state): State<Arc<AppState>>,
    Extension(staff): Extension<Staff>,
    Form(form): Form<CannedForm>,
) -> Response {
    if let Some(refusal) = form_csrf_refusal(&staff, form.csrf_token.as_deref()) {
        return refusal;
    }
    match add_reply(&state, &staff, form).await {
        Ok(()) => Redirect::to("/desk/canned").into_response(),
        Err(refusal) => refusal.into_response(),
    }
}

/// `POST /desk/canned/{id}/delete`: a manager removes one of their teams'.
pub async fn delete(
    State(state): State<Arc<AppState>>,
    Extension(staff): Extension<Staff>,
    Path(id): Path<String>,
    Form(form): Form<crate::auth::CsrfForm>,
) -> Response {
    if let Some(refusal) = form_csrf_refusal(&staff, form.csrf_token.as_deref()) {
        return refusal;
    }
    if let Err(refusal) = managers_only(&staff) {
        return refusal.into_response();
    }
    let Ok(id) = Uuid::parse_str(&id) else {
        return Refusal::BadRequest("A canned reply's id is a UUID.".into()).into_response();
    };
    let removed = canned_replies::Entity::delete_many()
        .filter(canned_replies::Column::Id.eq(id))
        .filter(canned_replies::Column::TeamId.is_in(staff.teams.clone()))
        .exec(&state.db)
        .await;
    match removed {
        Ok(done) if done.rows_affected > 0 => Redirect::to("/desk/canned").into_response(),
        Ok(_) => Refusal::NotFound("No such canned reply in your teams.".into()).into_response(),
        Err(error) => unavailable(error).into_response(),
    }
}
