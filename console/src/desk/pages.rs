//! The desk's pages: the list that is a salesperson's home (`/leads/`),
//! the desk panel on a lead's page, and the forms behind both (each posts
//! its CSRF token and comes back to the page it was sent from).

use super::list::{self, Filters, ListQuery, StageFilter, View};
use super::{actions, detail, source_label};
use crate::auth::{Role, Staff, form_csrf_refusal};
use crate::refusal::Refusal;
use crate::views::page;
use crate::{AppState, ist};
use axum::Form;
use axum::extract::{Extension, Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};
use serde::Deserialize;
use shared::Source;
use shared::desk::stage::STAGES;
use shared::desk::{LOST_REASONS, Stage};
use std::sync::Arc;

/// "4 min", "1 h 20 min", "2 d 3 h".
pub fn duration(seconds: i64) -> String {
    let minutes = seconds / 60;
    match minutes {
        _ if seconds < 60 => format!("{seconds} s"),
        m if m < 60 => format!("{m} min"),
        m if m < 24 * 60 => format!("{} h {} min", m / 60, m % 60),
        m => format!("{} d {} h", m / (24 * 60), (m / 60) % 24),
    }
}

fn stage_label(name: &str) -> &str {
    match Stage::parse(name) {
        Some(stage) => stage.label(),
        None => name,
    }
}

/// The list's query string for another view or page, keeping the filters.
fn link(query: &ListQuery, view: Option<View>, page: Option<u64>) -> String {
    let mut query = query.clone();
    if let Some(view) = view {
        query.view = Some(view.name().to_owned());
        query.page = None;
    }
    if let Some(page) = page {
        query.page = Some(page.to_string());
    }
    format!(
        "/leads/?{}",
        serde_urlencoded::to_string(&query).unwrap_or_default()
    )
}

/// The list's CSV export with the filters in force (every page).
fn export_link(query: &ListQuery) -> String {
    let mut query = query.clone();
    query.page = None;
    format!(
        "/leads/export.csv?{}",
        serde_urlencoded::to_string(&query).unwrap_or_default()
    )
}

/// `GET /leads/`: the desk.
pub async fn desk(
    State(state): State<Arc<AppState>>,
    Extension(staff): Extension<Staff>,
    Query(query): Query<ListQuery>,
) -> Response {
    match desk_page(&state, &staff, &query).await {
        Ok(markup) => markup.into_response(),
        Err(refusal) => refusal.into_response(),
    }
}

async fn desk_page(state: &AppState, staff: &Staff, query: &ListQuery) -> Result<Markup, Refusal> {
    let filters = Filters::parse(&state.db, staff, query).await?;
    let found = list::page(&state.db, staff, &filters).await?;
    let counts = list::counts(&state.db, staff, &filters).await?;
    let users = if staff.role.sees_all_leads() {
        let mut names: Vec<String> = super::usernames(&state.db).await?.into_values().collect();
        names.sort();
        names
    } else {
        Vec::new()
    };
    let pages = found.total.div_ceil(list::PAGE_SIZE).max(1);
    let chosen_stage = match filters.stage {
        StageFilter::Open => "open",
        StageFilter::Any => "any",
        StageFilter::One(stage) => stage.name(),
    };
    Ok(page(
        "Leads",
        staff,
        "leads",
        html! {
            div.desk-head #live-leads data-live="leads" {
                h1 { "Leads" }
                (duty_form(staff, "/leads/"))
            }
            nav.views #views {
                @for (view, count) in &counts {
                    a href=(link(query, Some(*view), None)) class=[(*view == filters.view).then_some("active")] data-view=(view.name()) {
                        (view.label()) " " span.count { (count) }
                    }
                }
            }
            form.filters.desk-filters method="get" action="/leads/" {
                input type="hidden" name="view" value=(filters.view.name());
                input name="q" type="search" value=(filters.q) placeholder="Number or name";
                select name="stage" aria-label="Stage" {
                    option value="open" selected[chosen_stage == "open"] { "Open stages" }
                    option value="any" selected[chosen_stage == "any"] { "Any stage" }
                    @for stage in STAGES {
                        option value=(stage.name()) selected[chosen_stage == stage.name()] { (stage.label()) }
                    }
                }
                select name="source" aria-label="Source" {
                    option value="" { "Any source" }
                    @for source in Source::ALL.iter().filter(|s| **s != Source::WhatsappReplies) {
                        option value=(source.name()) selected[filters.source == Some(*source)] { (source_label(source.name())) }
                    }
                }
                @if !users.is_empty() {
                    select name="owner" aria-label="Owner" {
                        option value="" { "Any owner" }
                        @for name in &users {
                            option value=(name) selected[query.owner.as_deref() == Some(name.as_str())] { (name) }
                        }
                    }
                }
                label.check { input type="checkbox" name="overdue" value="true" checked[filters.overdue == Some(true)]; " Overdue" }
                label { "From " input type="date" name="from" value=[filters.from.map(|d| d.to_string())]; }
                label { "To " input type="date" name="to" value=[filters.to.map(|d| d.to_string())]; }
                button type="submit" { "Filter" }
            }
            p.muted #desk-total {
                (found.total) " lead" @if found.total != 1 { "s" }
                " · " a #desk-export href=(export_link(query)) download { "Download CSV" }
            }
            ul.desk #desk {
                @for row in &found.leads {
                    li.lead-card class=[row.overdue.then_some("overdue")] data-id=(row.id) {
                        div.line {
                            a.name href={ "/leads/" (row.id) } { (row.name.as_deref().unwrap_or("(no name)")) }
                            span.badge.stage { (stage_label(&row.stage)) }
                            @if row.overdue { span.badge.overdue { "overdue" } }
                        }
                        div.line.muted {
                            a href={ "tel:" (row.phone) } { (row.phone) }
                            " · " (row.owner.as_deref().unwrap_or("unassigned"))
                            @if let Some(team) = &row.team { " · " (team) }
                        }
                        div.line.muted {
                            (row.sources.join(", "))
                            @if let Some(vehicle) = &row.vehicle { " · " (vehicle) }
                        }
                        div.line.clock {
                            @match (row.first_response_seconds, row.waiting_seconds) {
                                (Some(seconds), _) => { "answered in " (duration(seconds)) },
                                (None, Some(seconds)) => { "waiting " (duration(seconds)) },
                                _ => {},
                            }
                            " · first seen " (ist(row.first_seen_at))
                        }
                    }
                }
            }
            @if found.leads.is_empty() { p #no-leads { "No lead here." } }
            @if pages > 1 {
                nav.pages {
                    @if filters.page > 1 { a href=(link(query, None, Some(filters.page - 1))) { "← Newer" } }
                    span { "Page " (filters.page) " of " (pages) }
                    @if filters.page < pages { a href=(link(query, None, Some(filters.page + 1))) { "More →" } }
                }
            }
        },
    ))
}

/// The duty switch, shown on the desk and the lead's page.
fn duty_form(staff: &Staff, back: &str) -> Markup {
    html! {
        form.duty method="post" action="/me/duty" {
            input type="hidden" name="csrf_token" value=(staff.csrf_token);
            input type="hidden" name="back" value=(back);
            input type="hidden" name="on_duty" value=(if staff.on_duty { "false" } else { "true" });
            span #duty-state class=(if staff.on_duty { "on" } else { "off" }) {
                (if staff.on_duty { "On duty" } else { "Off duty" })
            }
            button #duty-toggle type="submit" { (if staff.on_duty { "Go off duty" } else { "Go on duty" }) }
        }
    }
}

/// The desk panel on a lead's page: owner, stage, the response clock, and
/// the forms to change them, write a note, or create a follow-up.
pub fn panel(staff: &Staff, lead: &detail::Detail, assignable: &[String]) -> Markup {
    let id = lead.id;
    let csrf = &staff.csrf_token;
    let may_take = lead.owner.is_none();
    html! {
        section.desk-panel #desk-panel data-live-lead=(id) {
            dl.facts {
                dt { "Owner" } dd #lead-owner { (lead.owner.as_deref().unwrap_or("unassigned")) }
                dt { "Team" } dd #lead-team { (lead.team.as_deref().unwrap_or("—")) }
                dt { "Stage" } dd #lead-stage {
                    (stage_label(&lead.stage))
                    @if let Some(reason) = &lead.lost_reason { " (" (lost_label(reason)) ")" }
                }
                dt { "Vehicle" } dd { (lead.vehicle.as_deref().unwrap_or("—")) }
                dt { "First response" } dd #lead-response {
                    @match lead.first_response_seconds {
                        Some(seconds) => {
                            (duration(seconds))
                            @if let Some(by) = &lead.first_response_by { " by " (by) }
                        },
                        None => {
                            "none yet"
                            @if lead.overdue { " " span.badge.overdue { "overdue" } }
                        },
                    }
                }
            }
            div.actions {
                a.button #call href={ "tel:" (lead.phone) } { "Call" }
                a.button #whatsapp href={ "/tata-chat/#" (lead.phone) } { "WhatsApp" }
            }
            @if staff.role == Role::Manager {
                form.inline #assign-form method="post" action={ "/leads/" (id) "/assign" } {
                    input type="hidden" name="csrf_token" value=(csrf);
                    select name="owner" aria-label="Owner" {
                        option value="" { "Unassigned" }
                        @for name in assignable {
                            option value=(name) selected[lead.owner.as_deref() == Some(name.as_str())] { (name) }
                        }
                    }
                    button type="submit" { "Assign" }
                }
            } @else if may_take {
                form.inline #take-form method="post" action={ "/leads/" (id) "/assign" } {
                    input type="hidden" name="csrf_token" value=(csrf);
                    input type="hidden" name="owner" value=(staff.username);
                    button type="submit" { "Take this lead" }
                }
            }
            form.inline #stage-form method="post" action={ "/leads/" (id) "/stage" } {
                input type="hidden" name="csrf_token" value=(csrf);
                select name="stage" aria-label="Stage" {
                    @for stage in STAGES {
                        option value=(stage.name()) selected[lead.stage == stage.name()] { (stage.label()) }
                    }
                }
                select name="lost_reason" aria-label="Lost reason" {
                    option value="" { "(lost reason)" }
                    @for (key, label) in LOST_REASONS {
                        option value=(key) { (label) }
                    }
                }
                button type="submit" { "Move" }
            }
            form.stacked #note-form method="post" action={ "/leads/" (id) "/notes" } {
                input type="hidden" name="csrf_token" value=(csrf);
                textarea name="text" rows="2" maxlength=(actions::MAX_NOTE_CHARS) placeholder="Add a note (@name to mention)" required {}
                button type="submit" { "Add note" }
            }
            form.stacked #follow-up-form method="post" action={ "/leads/" (id) "/follow-ups" } {
                input type="hidden" name="csrf_token" value=(csrf);
                label { "Follow up at (IST) " input type="datetime-local" name="due_at" required; }
                select name="assignee" aria-label="For" {
                    @for name in assignable {
                        option value=(name) selected[*name == staff.username] { (name) }
                    }
                }
                input name="note" maxlength=(actions::MAX_FOLLOW_UP_NOTE_CHARS) placeholder="What for";
                button type="submit" { "Create follow-up" }
            }
            @if !lead.follow_ups.is_empty() {
                h2 { "Follow-ups" }
                ul.follow-ups #lead-follow-ups {
                    @for task in &lead.follow_ups {
                        li {
                            (ist(task.due_at))
                            @if let Some(who) = &task.assignee { " · " (who) }
                            @if task.done { " — done" }
                            @if let Some(note) = &task.note { ": " (note) }
                        }
                    }
                }
            }
            @if !lead.notes.is_empty() {
                h2 { "Notes" }
                ul.notes #lead-notes {
                    @for note in &lead.notes {
                        li {
                            span.meta { (note.author) ", " (ist(note.at)) }
                            p { (note.text) }
                        }
                    }
                }
            }
            h2 { "Stage history" }
            ol.history #stage-history {
                li { "New, first seen " (ist(lead.first_seen_at)) }
                @for change in &lead.stage_history {
                    li {
                        (change.from.as_deref().map_or("—", stage_label)) " → " (stage_label(&change.to))
                        @if let Some(reason) = &change.lost_reason { " (" (lost_label(reason)) ")" }
                        " · " (change.by) " · " (ist(change.at))
                    }
                }
            }
        }
    }
}

fn lost_label(key: &str) -> &str {
    LOST_REASONS
        .iter()
        .find(|(k, _)| *k == key)
        .map_or(key, |(_, label)| label)
}

/// Back to the lead's page after a form.
fn back_to(id: uuid::Uuid) -> Response {
    Redirect::to(&format!("/leads/{id}")).into_response()
}

/// The forms' fields (each form sends some).
#[derive(Deserialize)]
pub struct DeskForm {
    csrf_token: Option<String>,
    owner: Option<String>,
    stage: Option<String>,
    lost_reason: Option<String>,
    text: Option<String>,
    due_at: Option<String>,
    assignee: Option<String>,
    note: Option<String>,
}

async fn form_action<F, Fut>(staff: &Staff, form: &DeskForm, id: &str, action: F) -> Response
where
    F: FnOnce(uuid::Uuid) -> Fut,
    Fut: Future<Output = Result<(), Refusal>>,
{
    if let Some(refusal) = form_csrf_refusal(staff, form.csrf_token.as_deref()) {
        return refusal;
    }
    let id = match super::lead_id(id) {
        Ok(id) => id,
        Err(refusal) => return refusal.into_response(),
    };
    match action(id).await {
        Ok(()) => back_to(id),
        Err(refusal) => refusal.into_response(),
    }
}

/// `POST /leads/{id}/assign` (form).
pub async fn assign(
    State(state): State<Arc<AppState>>,
    Extension(staff): Extension<Staff>,
    Path(id): Path<String>,
    Form(form): Form<DeskForm>,
) -> Response {
    form_action(&staff, &form, &id, |id| {
        actions::assign(&state, &staff, id, form.owner.as_deref())
    })
    .await
}

/// `POST /leads/{id}/stage` (form).
pub async fn stage(
    State(state): State<Arc<AppState>>,
    Extension(staff): Extension<Staff>,
    Path(id): Path<String>,
    Form(form): Form<DeskForm>,
) -> Response {
    form_action(&staff, &form, &id, |id| {
        actions::stage(
            &state,
            &staff,
            id,
            form.stage.as_deref().unwrap_or(""),
            // The page's reason list is ignored unless the stage is lost.
            form.lost_reason
                .as_deref()
                .filter(|_| form.stage.as_deref() == Some("lost")),
        )
    })
    .await
}

/// `POST /leads/{id}/notes` (form).
pub async fn note(
    State(state): State<Arc<AppState>>,
    Extension(staff): Extension<Staff>,
    Path(id): Path<String>,
    Form(form): Form<DeskForm>,
) -> Response {
    form_action(&staff, &form, &id, |id| {
        actions::note(&state, &staff, id, form.text.as_deref().unwrap_or(""))
    })
    .await
}

/// `POST /leads/{id}/follow-ups` (form).
pub async fn follow_up(
    State(state): State<Arc<AppState>>,
    Extension(staff): Extension<Staff>,
    Path(id): Path<String>,
    Form(form): Form<DeskForm>,
) -> Response {
    let (staff, form) = (&staff, &form);
    form_action(staff, form, &id, |id| async move {
        actions::follow_up(
            &state,
            staff,
            id,
            form.due_at.as_deref().unwrap_or(""),
            form.assignee.as_deref(),
            form.note.as_deref(),
        )
        .await
        .map(|_| ())
    })
    .await
}

/// The duty form's fields.
#[derive(Deserialize)]
pub struct DutyForm {
    csrf_token: Option<String>,
    on_duty: Option<String>,
    back: Option<String>,
}

/// `POST /me/duty` (form): back to the page it came from (a path on this
/// console only).
pub async fn duty(
    State(state): State<Arc<AppState>>,
    Extension(staff): Extension<Staff>,
    Form(form): Form<DutyForm>,
) -> Response {
    if let Some(refusal) = form_csrf_refusal(&staff, form.csrf_token.as_deref()) {
        return refusal;
    }
    let on_duty = match form.on_duty.as_deref() {
        Some("true") => true,
        Some("false") => false,
        _ => return Refusal::BadRequest("on_duty is true or false".into()).into_response(),
    };
    if let Err(refusal) = actions::duty(&state, &staff, on_duty).await {
        return refusal.into_response();
    }
    let back = form
        .back
        .filter(|b| b.starts_with('/') && !b.starts_with("//"))
        .unwrap_or_else(|| "/leads/".into());
    Redirect::to(&back).into_response()
}
