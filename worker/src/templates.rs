//! Tata's WhatsApp templates, kept in the database for the console's
//! template picker: every worker with Tata's API fetches the list at start
//! and every `TATA_TEMPLATES_REFRESH_SECS`, and one worker does when a
//! manager asks (a refresh request on the replies queue, so the request is
//! durable and retried like a reply). A refresh replaces the stored list
//! in one transaction: every template Tata lists, whatever its status, and
//! none it no longer lists.

use crate::process::{Outcome, Settings};
use crate::tata::{ListResult, TataClient};
use chrono::Utc;
use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter,
    TransactionTrait,
};
use shared::Envelope;
use shared::templates::Template;
use std::collections::BTreeMap;
use std::time::Duration;
use store::entities::whatsapp_templates::{self, Column as T};
use tokio_util::sync::CancellationToken;

/// Rows per insert statement.
const CHUNK: usize = 64;

/// What a refresh came to, when it did not store the list.
#[derive(Debug)]
pub(crate) enum RefreshError {
    /// Tata or the database may answer later.
    Transient(String),
    /// Tata refused the call (a wrong key): trying again will not help.
    Refused(String),
}

/// Fetches Tata's list and stores it; returns how many templates it holds.
pub(crate) async fn refresh(
    db: &DatabaseConnection,
    client: &TataClient,
) -> Result<usize, RefreshError> {
    let templates = match client.templates().await {
        ListResult::Listed(templates) => templates,
        ListResult::Refused(reason) => return Err(RefreshError::Refused(reason)),
        ListResult::Transient(reason) => return Err(RefreshError::Transient(reason)),
    };
    let count = templates.len();
    replace_all(db, templates)
        .await
        .map_err(|error| RefreshError::Transient(format!("the database: {error}")))?;
    Ok(count)
}

/// Stores `templates` as the whole list: upserted by name and language,
/// and every stored one not among them removed.
async fn replace_all(db: &DatabaseConnection, templates: Vec<Template>) -> Result<(), DbErr> {
    let now = Utc::now();
    // One row per name and language (the last listed wins): a statement
    // may not upsert the same row twice.
    let unique: BTreeMap<(String, String), Template> = templates
        .into_iter()
        .map(|t| ((t.name.clone(), t.language.clone()), t))
        .collect();
    let rows: Vec<whatsapp_templates::ActiveModel> = unique
        .into_values()
        .map(|t| whatsapp_templates::ActiveModel {
            body: Set(t.body().map(str::to_owned)),
            parameters: Set(i32::try_from(t.parameters()).unwrap_or(i32::MAX)),
            components: Set(serde_json::to_value(&t.components).ok()),
            name: Set(t.name),
            language: Set(t.language),
            status: Set(t.status),
            category: Set(t.category),
            fetched_at: Set(now),
        })
        .collect();
    let txn = db.begin().await?;
    let mut rows = rows.into_iter().peekable();
    while rows.peek().is_some() {
        let chunk: Vec<_> = rows.by_ref().take(CHUNK).collect();
        whatsapp_templates::Entity::insert_many(chunk)
            .on_conflict(
                OnConflict::columns([T::Name, T::Language])
                    .update_columns([
                        T::Status,
                        T::Category,
                        T::Body,
                        T::Parameters,
                        T::Components,
                        T::FetchedAt,
                    ])
                    .to_owned(),
            )
            .exec_without_returning(&txn)
            .await?;
    }
    // Gone from Tata's list (deleted or renamed in Tata's panel).
    whatsapp_templates::Entity::delete_many()
        .filter(T::FetchedAt.lt(now))
        .exec(&txn)
        .await?;
    txn.commit().await
}

/// Refreshes at start and every `every`, until `shutdown`; a failed round
/// is logged and tried again at the next.
pub(crate) async fn run(
    db: DatabaseConnection,
    client: TataClient,
    every: Duration,
    shutdown: CancellationToken,
) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tick.tick() => match refresh(&db, &client).await {
                Ok(templates) => tracing::info!(templates, "fetched Tata's WhatsApp templates"),
                Err(error) => tracing::warn!(?error, "fetching Tata's WhatsApp templates failed; trying again at the next refresh"),
            },
        }
    }
}

/// Whether a delivery on the replies queue asks for a refresh.
pub(crate) fn is_refresh_request(envelope: &Envelope) -> bool {
    shared::replies::asks_for(envelope, shared::replies::REFRESH_TEMPLATES)
}

/// A manager's refresh request, to its outcome: done, retried later while
/// Tata or the database cannot answer (or this worker has no Tata API),
/// dead-lettered when Tata refuses or the retries are spent.
pub(crate) async fn requested(
    db: &DatabaseConnection,
    client: Option<&TataClient>,
    settings: &Settings,
    envelope: &Envelope,
) -> Outcome {
    let result = match client {
        Some(client) => refresh(db, client).await,
        None => Err(RefreshError::Transient(
            "TATA_WHATSAPP_API_URL is not set on this worker".into(),
        )),
    };
    match result {
        Ok(templates) => {
            tracing::info!(templates, "fetched Tata's WhatsApp templates on request");
            Outcome::Persisted
        }
        Err(RefreshError::Refused(reason)) => Outcome::DeadLetter(reason),
        Err(RefreshError::Transient(reason)) => settings.retry_or_give_up(envelope, reason),
    }
}
