//! The routing rules (managers only): which team a new lead goes to, from
//! its source and the business number or line it came in on. The first
//! matching rule (by position) wins; a lead none matches goes to the
//! default team. The worker reads them when it routes a new lead.

use super::{source_label, unavailable};
use crate::AppState;
use crate::auth::{Role, Staff, form_csrf_refusal};
use crate::refusal::Refusal;
use crate::views::page;
use axum::Form;
use axum::extract::{Extension, Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use maud::html;
use serde::Deserialize;
use shared::Source;
use std::sync::Arc;
use uuid::Uuid;

fn managers_only(staff: &Staff) -> Result<(), Refusal> {
    if staff.role == Role::Manager {
        Ok(())
    } else {
        Err(Refusal::Forbidden("Routing rules are for managers.".into()))
    }
}

/// The rules page.
async fn render(state: &AppState, staff: &Staff) -> Result<Response, Refusal> {
    managers_only(staff)?;
    let rules = crate::routing::list(&state.db)
        .await
        .map_err(|e| unavailable(format!("{e:#}")))?;
    let teams = crate::teams::list(&state.db)
        .await
        .map_err(|e| unavailable(format!("{e:#}")))?;
    let team_name = |id: Uuid| {
        teams
            .iter()
            .find(|t| t.id == id)
            .map_or("(removed)", |t| t.name.as_str())
    };
    let default = teams.iter().find(|t| t.is_default);
    Ok(page(
        "Routing rules",
        staff,
        "leads",
        html! {
            h1 { "Routing rules" }
            p.muted {
                "A new lead goes to the team of the first rule that matches it. "
                @match default {
                    Some(team) => { "Leads no rule matches go to " strong { (team.name) } "." },
                    None => { "No team is the default: leads no rule matches stay without a team (set one with console team change NAME --default)." },
                }
            }
            table #rules {
                thead { tr { th { "#" } th { "Source" } th { "Line" } th { "Team" } th {} } }
                tbody {
                    @for rule in &rules {
                        tr {
                            td { (rule.position) }
                            td { (rule.source.as_deref().map_or("any", source_label)) }
                            td { (rule.line.as_deref().unwrap_or("any")) }
                            td { (team_name(rule.team_id)) }
                            td {
                                form method="post" action={ "/desk/rules/" (rule.id) "/delete" } {
                                    input type="hidden" name="csrf_token" value=(staff.csrf_token);
                                    button.danger type="submit" { "Remove" }
                                }
                            }
                        }
                    }
                }
            }
            @if teams.is_empty() {
                p { "Add a team first: console team add NAME." }
            } @else {
                h2 { "Add a rule" }
                form.stacked #rule-form method="post" action="/desk/rules" {
                    input type="hidden" name="csrf_token" value=(staff.csrf_token);
                    label { "Position " input type="number" name="position" min="0" max="10000" value=(rules.len() + 1) required; }
                    select name="source" aria-label="Source" {
                        option value="" { "Any source" }
                        @for source in Source::ALL.iter().filter(|s| **s != Source::WhatsappReplies) {
                            option value=(source.name()) { (source_label(source.name())) }
                        }
                    }
                    input name="line" placeholder="Business number or line (any)" maxlength="32";
                    select name="team" aria-label="Team" {
                        @for team in &teams { option value=(team.id) { (team.name) } }
                    }
                    button type="submit" { "Add rule" }
                }
            }
        },
    )
    .into_response())
}

/// `GET /desk/rules`.
pub async fn show(
    State(state): State<Arc<AppState>>,
    Extension(staff): Extension<Staff>,
) -> Response {
    render(&state, &staff)
        .await
        .unwrap_or_else(IntoResponse::into_response)
}

/// The new rule's fields.
#[derive(Deserialize)]
pub struct RuleForm {
    csrf_token: Option<String>,
    position: Option<String>,
    source: Option<String>,
    line: Option<String>,
    team: Option<String>,
}

async fn add_rule(state: &AppState, staff: &Staff, form: RuleForm) -> Result<(), Refusal> {
    managers_only(staff)?;
    let position = form
        .position
        .as_deref()
        .and_then(|p| p.trim().parse::<i32>().ok())
        .ok_or_else(|| Refusal::BadRequest("position is a number from 0 to 10000".into()))?;
    let team = form
        .team
        .as_deref()
        .and_then(|t| Uuid::parse_str(t.trim()).ok())
        .ok_or_else(|| Refusal::BadRequest("choose a team".into()))?;
    let rule = crate::routing::NewRule {
        position,
        source: form.source,
        line: form.line,
        team,
    };
    // What the rule's check refuses is the request's fault; the database
    // failing is not.
    match crate::routing::add(&state.db, rule).await {
        Ok(_) => {
            tracing::info!(username = %staff.username, "routing rule added");
            Ok(())
        }
        Err(error) if error.downcast_ref::<sea_orm::DbErr>().is_some() => {
            Err(unavailable(format!("{error:#}")))
        }
        Err(error) => Err(Refusal::BadRequest(format!("{error:#}"))),
    }
}

/// `POST /desk/rules`: adds a rule.
pub async fn add(
    State(state): State<Arc<AppState>>,
    Extension(staff): Extension<Staff>,
    Form(form): Form<RuleForm>,
) -> Response {
    if let Some(refusal) = form_csrf_refusal(&staff, form.csrf_token.as_deref()) {
        return refusal;
    }
    match add_rule(&state, &staff, form).await {
        Ok(()) => Redirect::to("/desk/rules").into_response(),
        Err(refusal) => refusal.into_response(),
    }
}

/// `POST /desk/rules/{id}/delete`.
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
        return Refusal::BadRequest("A rule id is a UUID.".into()).into_response();
    };
    match crate::routing::remove(&state.db, id).await {
        Ok(true) => Redirect::to("/desk/rules").into_response(),
        Ok(false) => Refusal::NotFound("No such rule.".into()).into_response(),
        Err(error) => unavailable(format!("{error:#}")).into_response(),
    }
}
