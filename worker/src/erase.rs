//! Erasing one person (issue 24), as an operator asks it from the console
//! (its page, or `console person erase`). The request travels on the
//! replies queue, the console's queue of work for the workers, so it is
//! durable, retried while the database or the broker cannot do it, and
//! dead-lettered with a reason once `RETRY_MAX_ATTEMPTS` are spent.
//!
//! In one transaction: every row [`store::person`] finds for the number is
//! deleted (their media files with them), the webhook log's entries of the
//! deliveries behind them keep only their bookkeeping (ingest id, source,
//! times, status, the partner's reference and idempotency key) and lose
//! their bodies and reasons, and the erasure is recorded under the
//! request's id: who asked, when, a hash of the number, and how many rows
//! each table lost, never the number. Then the dead letters that mention
//! the number are purged from every source's dead-letter queue, and their
//! count is added to the record. A request delivered again finds nothing
//! more to delete and keeps the first record's counts.
//!
//! On SQLite the database runs with `secure_delete` (see `store::connect`),
//! so the bytes are overwritten, and the log is checkpointed afterwards so
//! the old pages leave the WAL file too.

use crate::process::{Outcome, Settings};
use chrono::Utc;
use sea_orm::sea_query::{Expr, ExprTrait, Func, OnConflict};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, DatabaseConnection,
    DatabaseTransaction, DbBackend, DbErr, EntityTrait, QueryFilter, TransactionTrait,
};
use shared::Envelope;
use shared::broker::{DeadLetterQueues, Disposition};
use shared::config::BrokerConfig;
use std::collections::BTreeMap;
use store::entities::{erasures, webhook_log, webhook_log_events};
use store::person::{CHUNK, Person, Visitor};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// Whether a delivery on the replies queue asks for an erasure.
pub(crate) fn is_erase_request(envelope: &Envelope) -> bool {
    shared::replies::asks_for(envelope, shared::replies::ERASE_PERSON)
}

/// An erasure request, to its outcome: done; retried later while the
/// database or the broker cannot do it; dead-lettered when it names no
/// number or the retries are spent.
pub(crate) async fn requested(
    db: &DatabaseConnection,
    broker: &BrokerConfig,
    settings: &Settings,
    envelope: &Envelope,
    body: &[u8],
) -> Outcome {
    let request: shared::replies::EraseRequest = match serde_json::from_slice(body) {
        Ok(request) => request,
        Err(error) => {
            return Outcome::DeadLetter(format!("an erasure request that does not read: {error}"));
        }
    };
    let Some(e164) = shared::phone::to_e164(&request.phone) else {
        return Outcome::DeadLetter("an erasure request without a valid phone number".into());
    };
    let counts = match erase_rows(db, &e164, envelope.ingest_id, &request).await {
        Ok(counts) => counts,
        Err(error) => {
            return settings
                .retry_or_give_up(envelope, format!("erasing from the database: {error}"));
        }
    };
    let purged = match purge_dead_letters(broker, &e164).await {
        Ok(purged) => purged,
        Err(error) => {
            return settings.retry_or_give_up(
                envelope,
                format!("purging the person's dead letters: {error:#}"),
            );
        }
    };
    if let Err(error) = record_purged(db, envelope.ingest_id, purged).await {
        return settings.retry_or_give_up(envelope, format!("recording the erasure: {error}"));
    }
    let rows: u64 = counts.values().sum();
    tracing::info!(
        erasure = %envelope.ingest_id,
        subject = %store::access_log::number_subject(&e164),
        rows,
        dead_letters = purged,
        "erased a person"
    );
    Outcome::Persisted
}

/// Deletes what the database holds about `e164` and records the erasure
/// (once: a second run keeps the first counts); the counts by table.
pub(crate) async fn erase_rows(
    db: &DatabaseConnection,
    e164: &str,
    id: Uuid,
    request: &shared::replies::EraseRequest,
) -> Result<BTreeMap<String, u64>, DbErr> {
    let txn = db.begin().await?;
    // The person's lock, as a batch writing them takes it (on SQLite, the
    // write lock): a batch that holds it commits first and its rows are
    // erased here; one that waits for it finds this erasure recorded and
    // refuses what it received before (see crate::desk::new_leads).
    let lead_id = crate::persist::lead_id(e164);
    crate::desk::new_leads::lock_ids(&txn, &[lead_id]).await?;
    let person = Person::find(&txn, e164).await?;
    let mut erase = Erase {
        txn: &txn,
        counts: BTreeMap::new(),
    };
    person.walk(&mut erase).await?;
    let counts = erase.counts;
    let now = Utc::now();
    erasures::Entity::insert(erasures::ActiveModel {
        id: Set(id),
        subject: Set(store::access_log::number_subject(e164)),
        requested_by: Set(request.requested_by.chars().take(255).collect()),
        requested_at: Set(request.requested_at),
        erased_at: Set(now),
        counts: Set(serde_json::to_value(&counts).unwrap_or_default()),
        dead_letters_purged: Set(None),
        lead_id: Set(Some(lead_id)),
    })
    .on_conflict(
        OnConflict::column(erasures::Column::Id)
            .do_nothing()
            .to_owned(),
    )
    .exec_without_returning(&txn)
    .await?;
    txn.commit().await?;
    if db.get_database_backend() == DbBackend::Sqlite {
        // The deleted pages' old versions leave the WAL file (best effort:
        // a reader still on them keeps the file until the next
        // checkpoint).
        if let Err(error) = db
            .execute_unprepared("PRAGMA wal_checkpoint(TRUNCATE)")
            .await
        {
            tracing::warn!(%error, "checkpointing after an erasure failed");
        }
    }
    Ok(counts)
}

/// Deletes the rows it is handed, counting them by table; empties the log's
/// entries.
struct Erase<'a> {
    txn: &'a DatabaseTransaction,
    counts: BTreeMap<String, u64>,
}

impl Visitor for Erase<'_> {
    async fn rows<E: EntityTrait>(&mut self, condition: Condition) -> Result<(), DbErr> {
        let gone = E::delete_many()
            .filter(condition)
            .exec(self.txn)
            .await?
            .rows_affected;
        *self
            .counts
            .entry(E::default().table_name().to_owned())
            .or_default() += gone;
        Ok(())
    }

    async fn media<E: EntityTrait>(
        &mut self,
        condition: Condition,
        _bytes: E::Column,
    ) -> Result<(), DbErr> {
        self.rows::<E>(condition).await
    }

    async fn log(&mut self, ingest_ids: &[Uuid]) -> Result<(), DbErr> {
        let now = Utc::now();
        let (mut entries, mut events) = (0, 0);
        for chunk in ingest_ids.chunks(CHUNK) {
            entries += webhook_log::Entity::update_many()
                .col_expr(webhook_log::Column::Body, Expr::value(""))
                .col_expr(
                    webhook_log::Column::Reason,
                    Expr::value(Option::<String>::None),
                )
                .col_expr(webhook_log::Column::BodyDroppedAt, Expr::value(now))
                .filter(webhook_log::Column::IngestId.is_in(chunk.to_vec()))
                .exec(self.txn)
                .await?
                .rows_affected;
            events += webhook_log_events::Entity::update_many()
                .col_expr(webhook_log_events::Column::Reason, Expr::value(""))
                .filter(webhook_log_events::Column::IngestId.is_in(chunk.to_vec()))
                .exec(self.txn)
                .await?
                .rows_affected;
        }
        self.counts.insert("webhook_log (emptied)".into(), entries);
        self.counts
            .insert("webhook_log_events (emptied)".into(), events);
        Ok(())
    }
}

/// Purges the dead letters that mention `e164` from every source's
/// dead-letter queue; how many.
async fn purge_dead_letters(broker: &BrokerConfig, e164: &str) -> anyhow::Result<u64> {
    let queues = DeadLetterQueues::connect(broker).await?;
    let mut purged = 0u64;
    let mut failed = None;
    let result = async {
        for &source in shared::Source::ALL {
            queues
                .sweep(
                    source,
                    |message| {
                        if store::person::mentions(&message.body, e164) {
                            Disposition::Purge
                        } else {
                            Disposition::Keep
                        }
                    },
                    |_, _, outcome| match outcome {
                        Ok(()) => purged += 1,
                        Err(error) => failed = Some(error),
                    },
                    &CancellationToken::new(),
                )
                .await?;
        }
        anyhow::Ok(())
    }
    .await;
    queues.close().await;
    result?;
    match failed {
        Some(error) => Err(error.context("purging a dead letter")),
        None => Ok(purged),
    }
}

/// Adds `purged` dead letters to erasure `id`'s record.
pub(crate) async fn record_purged(
    db: &DatabaseConnection,
    id: Uuid,
    purged: u64,
) -> Result<(), DbErr> {
    erasures::Entity::update_many()
        .col_expr(
            erasures::Column::DeadLettersPurged,
            Func::coalesce([
                Expr::col(erasures::Column::DeadLettersPurged),
                Expr::val(0i64),
            ])
            .add(i64::try_from(purged).unwrap_or(i64::MAX)),
        )
        .filter(erasures::Column::Id.eq(id))
        .exec(db)
        .await?;
    Ok(())
}
