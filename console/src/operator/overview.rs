//! `GET /operator/`: the last hour per source (deliveries by outcome, from
//! the webhook log) and what waits in each dead-letter queue.

use super::log::subnav;
use super::{database_unavailable, open_queues};
use crate::AppState;
use crate::auth::Staff;
use crate::views::page;
use axum::extract::{Extension, State};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use maud::html;
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QuerySelect};
use shared::Source;
use std::collections::BTreeMap;
use std::sync::Arc;
use store::delivery_log::LogStatus;
use store::entities::webhook_log::{self, Column as Log};

/// Deliveries received in the last hour, per source and outcome.
pub async fn last_hour(db: &DatabaseConnection) -> Result<BTreeMap<(String, String), i64>, DbErr> {
    let since = Utc::now() - chrono::TimeDelta::hours(1);
    let rows: Vec<(String, String, i64)> = webhook_log::Entity::find()
        .select_only()
        .column(Log::Source)
        .column(Log::Status)
        .column_as(Expr::col(Log::IngestId).count(), "deliveries")
        .filter(Log::ReceivedAt.gte(since))
        .group_by(Log::Source)
        .group_by(Log::Status)
        .into_tuple()
        .all(db)
        .await?;
    Ok(rows
        .into_iter()
        .map(|(source, status, n)| ((source, status), n))
        .collect())
}

/// `GET /operator/`.
pub async fn show(
    State(state): State<Arc<AppState>>,
    Extension(staff): Extension<Staff>,
) -> Response {
    let (state, staff) = (&*state, &staff);
    let counts = match last_hour(&state.db).await {
        Ok(counts) => counts,
        Err(error) => return database_unavailable(error).into_response(),
    };
    // The broker being away must not hide the log's counts: say so instead.
    let dead: Result<Vec<(Source, u32)>, String> = async {
        let queues = open_queues(state).await?;
        let mut dead = Vec::new();
        for &source in Source::ALL {
            dead.push((source, queues.count(source).await?));
        }
        queues.close().await;
        anyhow::Ok(dead)
    }
    .await
    .map_err(|error| {
        tracing::warn!(error = format!("{error:#}"), "cannot count dead letters");
        "RabbitMQ is unavailable: dead letters cannot be counted right now.".to_owned()
    });
    let count = |source: Source, status: &str| {
        counts
            .get(&(source.name().to_owned(), status.to_owned()))
            .copied()
            .unwrap_or(0)
    };
    page(
        "Operations",
        staff,
        "operator",
        html! {
            h1 { "Operations" }
            (subnav())
            h2 { "Last hour, by source" }
            table #last-hour {
                thead { tr {
                    th { "Source" }
                    @for outcome in LogStatus::NAMES { th { (outcome.replace('_', " ")) } }
                } }
                tbody {
                    @for &source in Source::ALL {
                        tr data-source=(source.name()) {
                            td { a href={ "/operator/log?source=" (source.name()) } { (source.name()) } }
                            @for outcome in LogStatus::NAMES {
                                td data-outcome=(outcome) {
                                    @let n = count(source, outcome);
                                    @if n > 0 {
                                        a href={ "/operator/log?source=" (source.name()) "&status=" (outcome) } { (n) }
                                    } @else { "0" }
                                }
                            }
                        }
                    }
                }
            }
            h2 { "Waiting in the dead-letter queues" }
            @match &dead {
                Err(message) => p.error role="alert" { (message) },
                Ok(dead) => table #dead-letter-counts {
                    thead { tr { th { "Source" } th { "Dead letters" } } }
                    tbody {
                        @for (source, n) in dead {
                            tr data-source=(source.name()) {
                                td { (source.name()) }
                                td {
                                    @if *n > 0 {
                                        a href={ "/operator/dead-letters?source=" (source.name()) } { (n) }
                                    } @else { "0" }
                                }
                            }
                        }
                    }
                },
            }
        },
    )
    .into_response()
}
