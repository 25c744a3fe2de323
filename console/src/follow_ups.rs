//! Follow-up tasks (from captured calls, and those staff create on a
//! lead): those due today (in India) and those overdue, everyone's, mine
//! (given to me, or on my leads and given to nobody) or my teams', and
//! marking one done.

use crate::auth::{Staff, form_csrf_refusal};
use crate::refusal::Refusal;
use crate::views::page;
use crate::{AppState, ist};
use axum::Form;
use axum::extract::{Extension, Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use chrono::Utc;
use maud::html;
use sea_orm::sea_query::{Expr, Query as SqlQuery};
use sea_orm::{ColumnTrait, Condition, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use serde::Deserialize;
use std::collections::HashMap;
use std::sync::Arc;
use store::entities::{follow_ups, leads};
use uuid::Uuid;

/// Most tasks listed.
const MAX_TASKS: u64 = 500;

fn unavailable(error: impl std::fmt::Display) -> Response {
    Refusal::database("the follow-ups page", error).into_response()
}

/// `?view=` on the follow-ups.
#[derive(Deserialize)]
pub struct ListQuery {
    view: Option<String>,
}

/// Which follow-ups a view holds.
fn in_view(view: &str, staff: &Staff) -> Condition {
    use follow_ups::Column as F;
    let leads_where = |condition: Condition| {
        SqlQuery::select()
            .column(leads::Column::Id)
            .from(leads::Entity)
            .cond_where(condition)
            .to_owned()
    };
    match view {
        "mine" => Condition::any().add(F::AssigneeId.eq(staff.user_id)).add(
            Condition::all()
                .add(F::AssigneeId.is_null())
                .add(F::LeadId.in_subquery(leads_where(
                    Condition::all().add(leads::Column::OwnerId.eq(staff.user_id)),
                ))),
        ),
        "team" => Condition::all().add(F::LeadId.in_subquery(leads_where(
            Condition::all().add(leads::Column::TeamId.is_in(staff.teams.clone())),
        ))),
        _ => Condition::all(),
    }
}

/// `GET /follow-ups/?view=all|mine|team`: open tasks due today or earlier,
/// oldest first.
pub async fn list(
    State(state): State<Arc<AppState>>,
    Extension(staff): Extension<Staff>,
    Query(query): Query<ListQuery>,
) -> Response {
    let view = match query.view.as_deref().unwrap_or("all") {
        view @ ("all" | "mine" | "team") => view,
        _ => {
            return Refusal::BadRequest("view is all, mine or team".into()).into_response();
        }
    };
    let today = shared::time::ist_today();
    let tasks = match follow_ups::Entity::find()
        .filter(in_view(view, &staff))
        .filter(follow_ups::Column::DoneAt.is_null())
        .filter(follow_ups::Column::DueDate.lte(today))
        .order_by_asc(follow_ups::Column::DueAt)
        .limit(MAX_TASKS)
        .all(&state.db)
        .await
    {
        Ok(tasks) => tasks,
        Err(error) => return unavailable(error),
    };
    let lead_ids: Vec<Uuid> = tasks.iter().filter_map(|t| t.lead_id).collect();
    let names: HashMap<Uuid, Option<String>> = match leads::Entity::find()
        .filter(leads::Column::Id.is_in(lead_ids))
        .all(&state.db)
        .await
    {
        Ok(found) => found.into_iter().map(|l| (l.id, l.name)).collect(),
        Err(error) => return unavailable(error),
    };
    page(
        "Follow-ups",
        &staff,
        "follow-ups",
        html! {
            h1 { "Follow-ups due" }
            nav.views #follow-up-views {
                @for (name, label) in [("all", "All"), ("mine", "Mine"), ("team", "Team")] {
                    a href={ "/follow-ups/?view=" (name) } class=[(name == view).then_some("active")] { (label) }
                }
            }
            @if tasks.is_empty() { p #no-follow-ups { "Nothing due today." } }
            table.follow-ups #follow-ups {
                thead { tr { th { "Due (IST)" } th { "Who" } th { "Phone" } th { "Notes" } th {} } }
                tbody {
                    @for task in &tasks {
                        tr data-id=(task.id) class=[(task.due_date < today).then_some("overdue")] {
                            td {
                                (ist(task.due_at))
                                @if task.due_date < today { " " span.badge { "overdue" } }
                                @if task.auto_call { " " span.badge { "auto call" } }
                            }
                            td {
                                @match task.lead_id {
                                    Some(lead) => a href={ "/leads/" (lead) } { (names.get(&lead).cloned().flatten().unwrap_or_else(|| "(no name)".into())) },
                                    None => "—",
                                }
                            }
                            td { (task.phone.as_deref().unwrap_or("—")) }
                            td { (task.notes.as_deref().unwrap_or("")) }
                            td {
                                form method="post" action={ "/follow-ups/" (task.id) "/done" } {
                                    input type="hidden" name="csrf_token" value=(staff.csrf_token);
                                    button type="submit" { "Mark done" }
                                }
                            }
                        }
                    }
                }
            }
        },
    )
    .into_response()
}

/// `POST /follow-ups/{id}/done`.
pub async fn done(
    State(state): State<Arc<AppState>>,
    Extension(staff): Extension<Staff>,
    Path(id): Path<String>,
    Form(form): Form<crate::auth::CsrfForm>,
) -> Response {
    if let Some(refusal) = form_csrf_refusal(&staff, form.csrf_token.as_deref()) {
        return refusal;
    }
    let Ok(id) = Uuid::parse_str(&id) else {
        return Refusal::BadRequest("A follow-up id is a UUID.".into()).into_response();
    };
    let updated = follow_ups::Entity::update_many()
        .col_expr(follow_ups::Column::DoneAt, Expr::value(Utc::now()))
        .col_expr(
            follow_ups::Column::DoneBy,
            Expr::value(staff.username.clone()),
        )
        .col_expr(follow_ups::Column::UpdatedAt, Expr::value(Utc::now()))
        .filter(follow_ups::Column::Id.eq(id))
        .filter(follow_ups::Column::DoneAt.is_null())
        .exec(&state.db)
        .await;
    match updated {
        Ok(result) if result.rows_affected == 1 => Redirect::to("/follow-ups/").into_response(),
        Ok(_) => Refusal::NotFound("No open follow-up with that id.".into()).into_response(),
        Err(error) => unavailable(error),
    }
}
