//! A manager's reports (issue 27; managers and operators only): for a date
//! range of IST days and optionally one team and one source, leads per
//! source per day, how fast each salesperson and each source is answered
//! (median, 90th percentile, distribution), the funnel by source with lost
//! reasons, and follow-ups done on time, late or still overdue per person.
//! `GET /reports/` draws them; `GET /ajax/reports/` answers the same
//! figures as JSON, and `GET /reports/{table}.csv` each table as a CSV
//! download.

pub mod charts;
pub mod export;
pub mod figures;
pub mod read;

use crate::AppState;
use crate::auth::Staff;
use crate::desk::list::blank;
use crate::desk::{pages::duration, source_label};
use crate::refusal::{JsonRefusal, Refusal};
use crate::views::page;
use axum::Json;
use axum::Router;
use axum::extract::{Extension, Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::{NaiveDate, TimeDelta, Utc};
use figures::{FUNNEL, Figures};
use maud::html;
use serde::{Deserialize, Serialize};
use shared::Source;
use std::sync::Arc;

/// Longest range a report covers.
const MAX_DAYS: i64 = 366;

/// The reports' routes (inside the session check).
pub fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/reports/", get(show))
        .route("/ajax/reports/", get(json))
        .route("/reports/{table}", get(csv))
}

/// The query string, as sent.
#[derive(Debug, Default, Deserialize, Serialize)]
pub struct ReportQuery {
    from: Option<String>,
    to: Option<String>,
    team: Option<String>,
    source: Option<String>,
}

/// Checks the role and the query: the scope, or why not.
async fn scope(
    state: &AppState,
    staff: &Staff,
    query: &ReportQuery,
) -> Result<read::Scope, Refusal> {
    if !staff.role.sees_all_leads() {
        return Err(Refusal::Forbidden(
            "Reports are for managers and operators.".into(),
        ));
    }
    let today = shared::time::ist_today();
    let date = |name: &str, value: &Option<String>, default: NaiveDate| match blank(value) {
        None => Ok(default),
        Some(v) => NaiveDate::parse_from_str(v, "%Y-%m-%d").map_err(|_| {
            Refusal::BadRequest(format!("{name} is a date YYYY-MM-DD (IST), not {v:?}"))
        }),
    };
    let to = date("to", &query.to, today)?;
    let from = date("from", &query.from, to - TimeDelta::days(6))?;
    if from > to {
        return Err(Refusal::BadRequest("from comes after to".into()));
    }
    if (to - from).num_days() >= MAX_DAYS {
        return Err(Refusal::BadRequest(format!(
            "a report covers at most {MAX_DAYS} days"
        )));
    }
    let team = match blank(&query.team) {
        None => None,
        Some(name) => {
            let teams = crate::teams::names(&state.db)
                .await
                .map_err(|e| Refusal::database("the reports", format!("{e:#}")))?;
            Some(
                teams
                    .into_iter()
                    .find(|(_, n)| n == name)
                    .map(|(id, _)| id)
                    .ok_or_else(|| Refusal::NotFound(format!("No team {name:?}.")))?,
            )
        }
    };
    let source = blank(&query.source)
        .map(|name| {
            name.parse::<Source>()
                .map(|s| s.name().to_owned())
                .map_err(|_| Refusal::BadRequest(format!("no source {name:?}")))
        })
        .transpose()?;
    Ok(read::Scope {
        from,
        to,
        team,
        source,
    })
}

/// The figures for a checked scope.
async fn figures(state: &AppState, scope: &read::Scope) -> Result<Figures, Refusal> {
    let users = crate::desk::usernames(&state.db).await?;
    let leads = read::leads(&state.db, scope, &users).await?;
    let follow_ups = read::follow_ups(&state.db, scope, &users).await?;
    let days = scope
        .from
        .iter_days()
        .take_while(|d| *d <= scope.to)
        .collect();
    Ok(figures::compute(days, &leads, &follow_ups, Utc::now()))
}

/// `GET /ajax/reports/?from=&to=&team=&source=`.
pub async fn json(
    State(state): State<Arc<AppState>>,
    Extension(staff): Extension<Staff>,
    Query(query): Query<ReportQuery>,
) -> Result<Json<Figures>, JsonRefusal> {
    let scope = scope(&state, &staff, &query).await?;
    Ok(Json(figures(&state, &scope).await?))
}

/// Links to tables' CSV files, for the range and filters shown.
fn downloads(query: &ReportQuery, tables: &[(&str, &str)]) -> maud::Markup {
    let filters = serde_urlencoded::to_string(query).unwrap_or_default();
    html! {
        p.downloads {
            @for (i, (table, label)) in tables.iter().enumerate() {
                @if i > 0 { " · " }
                a href={ "/reports/" (table) "?" (filters) } download { (label) }
            }
        }
    }
}

/// `GET /reports/{table}.csv?from=&to=&team=&source=` (one of
/// [`export::TABLES`]; any other name is a 404).
pub async fn csv(
    State(state): State<Arc<AppState>>,
    Extension(staff): Extension<Staff>,
    Path(table): Path<String>,
    Query(query): Query<ReportQuery>,
) -> Response {
    let made = async {
        let scope = scope(&state, &staff, &query).await?;
        if !export::TABLES.contains(&table.as_str()) {
            return Err(Refusal::NotFound(format!(
                "No report table {table:?}; there are {}.",
                export::TABLES.join(", ")
            )));
        }
        let figures = figures(&state, &scope).await?;
        export::table(&table, &figures)
            .ok_or_else(|| Refusal::NotFound(format!("No report table {table:?}.")))
    };
    match made.await {
        Ok((header, rows)) => {
            let header: Vec<&str> = header.iter().map(String::as_str).collect();
            crate::spreadsheet::download(&table, &header, &rows)
        }
        Err(refusal) => refusal.into_response(),
    }
}

/// `GET /reports/`.
pub async fn show(
    State(state): State<Arc<AppState>>,
    Extension(staff): Extension<Staff>,
    Query(query): Query<ReportQuery>,
) -> Response {
    let shown = async {
        let scope = scope(&state, &staff, &query).await?;
        let figures = figures(&state, &scope).await?;
        let teams = crate::teams::list(&state.db)
            .await
            .map_err(|e| Refusal::database("the reports", format!("{e:#}")))?;
        Ok::<_, Refusal>((scope, figures, teams))
    };
    let (scope, figures, teams) = match shown.await {
        Ok(shown) => shown,
        Err(refusal) => return refusal.into_response(),
    };
    let chosen_team = blank(&query.team).unwrap_or("");
    page(
        "Reports",
        &staff,
        "reports",
        html! {
            h1 { "Reports" }
            form.filters.desk-filters method="get" action="/reports/" {
                label { "From " input type="date" name="from" value=(scope.from); }
                label { "To " input type="date" name="to" value=(scope.to); }
                select name="team" aria-label="Team" {
                    option value="" { "Every team" }
                    @for team in &teams {
                        option value=(team.name) selected[team.name == chosen_team] { (team.name) }
                    }
                }
                select name="source" aria-label="Source" {
                    option value="" { "Every source" }
                    @for source in Source::ALL.iter().filter(|s| **s != Source::WhatsappReplies) {
                        option value=(source.name()) selected[scope.source.as_deref() == Some(source.name())] { (source_label(source.name())) }
                    }
                }
                button type="submit" { "Show" }
            }
            h2 { "Leads per source per day" }
            (downloads(&query, &[("leads-per-day.csv", "CSV")]))
            p.muted #report-total { (figures.total_leads) " leads from " (scope.from.format("%d %b %Y")) " to " (scope.to.format("%d %b %Y")) " (IST)" }
            (charts::leads_per_day(&figures))
            h2 { "First response" }
            (downloads(&query, &[("response-times.csv", "CSV: times"), ("speed-by-person.csv", "by salesperson"), ("speed-by-source.csv", "by source")]))
            (charts::response_distribution(&figures))
            div.report-tables {
                div.scroll tabindex="0" role="region" aria-label="First response by salesperson" { table #speed-by-owner {
                    thead { tr { th { "Salesperson" } th { "Answered" } th { "Median" } th { "90th pct" } } }
                    tbody {
                        @for (who, speed) in &figures.speed_by_owner {
                            tr { td { (who) } td { (speed.answered) } td { (duration(speed.median_seconds)) } td { (duration(speed.p90_seconds)) } }
                        }
                    }
                } }
                div.scroll tabindex="0" role="region" aria-label="First response by source" { table #speed-by-source {
                    thead { tr { th { "Source" } th { "Answered" } th { "Median" } th { "90th pct" } } }
                    tbody {
                        @for (source, speed) in &figures.speed_by_source {
                            tr { td { (source_label(source)) } td { (speed.answered) } td { (duration(speed.median_seconds)) } td { (duration(speed.p90_seconds)) } }
                        }
                    }
                } }
            }
            h2 { "Funnel by source" }
            (downloads(&query, &[("funnel.csv", "CSV: funnel"), ("lost-reasons.csv", "lost reasons")]))
            div.scroll tabindex="0" role="region" aria-label="Funnel by source" {
                table #funnel {
                    thead { tr { th { "Source" } th { "Leads" } @for step in FUNNEL { th { (step.label()) } } } }
                    tbody {
                        @for (source, steps) in &figures.funnel {
                            @let total = figures.funnel_leads.get(source).copied().unwrap_or(0);
                            tr {
                                td { (source_label(source)) }
                                td { (total) }
                                @for n in steps { td { (n) @if total > 0 { span.muted { " (" (n * 100 / total) "%)" } } } }
                            }
                        }
                    }
                }
            }
            @if !figures.lost_reasons.is_empty() {
                h3 { "Why leads were lost" }
                ul #lost-reasons {
                    @for (reason, n) in &figures.lost_reasons {
                        li { (shared::desk::LOST_REASONS.iter().find(|(k, _)| k == reason).map_or(reason.as_str(), |(_, l)| l)) ": " (n) }
                    }
                }
            }
            h2 { "Follow-ups due in the range" }
            (downloads(&query, &[("follow-ups.csv", "CSV")]))
            div.scroll tabindex="0" role="region" aria-label="Follow-ups per person" { table #follow-up-report {
                thead { tr { th { "Person" } th { "On time" } th { "Late" } th { "Overdue" } } }
                tbody {
                    @for (who, counts) in &figures.follow_ups {
                        tr { td { (who) } td { (counts.on_time) } td { (counts.late) } td { (counts.overdue) } }
                    }
                }
            } }
        },
    )
    .into_response()
}
