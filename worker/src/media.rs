//! Inbound WhatsApp media, fetched from Tata's media API
//! (`docs/contracts/tata-whatsapp-media-and-templates.md`) and kept in the
//! database for the console to serve.
//!
//! Never in the webhook's path: the batch that stores a message with media
//! writes a `pending` row for its file, and every worker with Tata's API
//! runs this task, which claims due rows, fetches them and stores what it
//! got. Durable like any outbound call: a claim moves the row's
//! `next_attempt_at` past the longest fetch, so a worker that dies
//! mid-fetch leaves the file to be claimed again; a failure Tata or the
//! network may get over is tried again later (`TATA_MEDIA_RETRY_SECS`,
//! doubling each time, up to an hour), until
//! `RETRY_MAX_ATTEMPTS` are spent. Tata keeps media 30 days: a `404` is
//! final (`expired`), as is any other refusal (`failed`). A file over the
//! contract's size for its kind is not kept (`too_large`).

use crate::tata::{MediaResult, TataClient};
use chrono::Utc;
use sea_orm::sea_query::{Expr, ExprTrait, LockBehavior, LockType, Query};
use sea_orm::{
    ConnectionTrait, DatabaseConnection, DbErr, EntityTrait, QuerySelect, TransactionTrait,
};
use std::time::Duration;
use store::entities::whatsapp_media::{self, Column as M};
use store::entities::whatsapp_messages;
use store::live::{Change, ChangeKind};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// How often a worker looks for media to fetch.
const POLL_EVERY: Duration = Duration::from_secs(2);

/// Files one worker fetches per round (one at a time: a document may be
/// 100 MB, held in memory until stored).
const PER_ROUND: u64 = 4;

/// The largest file the contract allows for `kind`: images and stickers
/// 5 MB, video and audio 16 MB, documents 100 MB.
pub(crate) fn max_bytes(kind: &str) -> usize {
    const MB: usize = 1024 * 1024;
    match kind {
        "image" | "sticker" => 5 * MB,
        "video" | "audio" => 16 * MB,
        _ => 100 * MB,
    }
}

/// A new `pending` row for the file of message `wamid`, if it has one:
/// `kind` and `member` as the message carried them.
pub(crate) fn pending_row(
    wamid: &str,
    kind: &str,
    member: Option<&serde_json::Value>,
) -> Option<(String, whatsapp_media::ActiveModel)> {
    use sea_orm::ActiveValue::Set;
    if !shared::contracts::tata_whatsapp::MEDIA_KINDS.contains(&kind) {
        return None;
    }
    let member = member?;
    let id = member.get("id")?.as_str()?.trim();
    if id.is_empty() || id.len() > 255 {
        return None;
    }
    let now = Utc::now();
    let declared = member
        .get("mime_type")
        .and_then(|v| v.as_str())
        .map(|s| s.chars().take(255).collect::<String>());
    Some((
        id.to_owned(),
        whatsapp_media::ActiveModel {
            media_id: Set(id.to_owned()),
            wamid: Set(wamid.to_owned()),
            kind: Set(kind.to_owned()),
            declared_mime_type: Set(declared),
            state: Set("pending".into()),
            content_type: Set(None),
            size: Set(None),
            bytes: Set(None),
            attempts: Set(0),
            next_attempt_at: Set(Some(now)),
            reason: Set(None),
            created_at: Set(now),
            fetched_at: Set(None),
        },
    ))
}

/// Fetches due media every [`POLL_EVERY`] until `shutdown`; a round that
/// fails (the database is down) is logged and tried again at the next.
pub(crate) async fn run(
    db: DatabaseConnection,
    client: TataClient,
    max_attempts: u32,
    shutdown: CancellationToken,
) {
    let mut tick = tokio::time::interval(POLL_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tick.tick() => {
                if let Err(error) = fetch_due(&db, &client, max_attempts, &shutdown).await {
                    tracing::warn!(%error, "fetching WhatsApp media failed; trying again shortly");
                }
            }
        }
    }
}

/// Fetches what is due, round after round, until nothing is.
async fn fetch_due(
    db: &DatabaseConnection,
    client: &TataClient,
    max_attempts: u32,
    shutdown: &CancellationToken,
) -> Result<(), DbErr> {
    while !shutdown.is_cancelled() {
        let claimed = claim(db, client.media_timeout()).await?;
        if claimed.is_empty() {
            return Ok(());
        }
        for file in claimed {
            let result = tokio::select! {
                _ = shutdown.cancelled() => return Ok(()),
                result = client.media(&file.media_id, max_bytes(&file.kind)) => result,
            };
            let retry_after = client.media_retry_after();
            settle(db, &file, max_attempts, retry_after, result).await?;
        }
    }
    Ok(())
}

/// A file this worker claimed.
struct Claimed {
    media_id: String,
    /// Its message.
    wamid: String,
    kind: String,
    /// Fetches tried, this one included.
    attempts: i32,
}

/// Claims up to [`PER_ROUND`] due files: each one's next attempt moves
/// past the longest fetch, so no other worker takes it meanwhile (on
/// PostgreSQL, rows another worker is claiming are skipped, not waited
/// for).
async fn claim(db: &DatabaseConnection, fetch_limit: Duration) -> Result<Vec<Claimed>, DbErr> {
    let now = Utc::now();
    let claim_ends =
        now + chrono::Duration::from_std(fetch_limit * 2).unwrap_or(chrono::Duration::minutes(10));
    let due = Query::select()
        .column(M::MediaId)
        .from(whatsapp_media::Entity)
        .and_where(Expr::col(M::State).eq("pending"))
        .and_where(Expr::col(M::NextAttemptAt).lte(now))
        .order_by(M::NextAttemptAt, sea_orm::Order::Asc)
        .limit(PER_ROUND)
        .lock_with_behavior(LockType::Update, LockBehavior::SkipLocked)
        .to_owned();
    let update = Query::update()
        .table(whatsapp_media::Entity)
        .value(M::NextAttemptAt, claim_ends)
        .value(M::Attempts, Expr::col(M::Attempts).add(1))
        .and_where(Expr::col(M::MediaId).in_subquery(due))
        .returning(Query::returning().columns([M::MediaId, M::Wamid, M::Kind, M::Attempts]))
        .to_owned();
    let rows = db.query_all(&update).await?;
    rows.into_iter()
        .map(|row| {
            Ok(Claimed {
                media_id: row.try_get("", "media_id")?,
                wamid: row.try_get("", "wamid")?,
                kind: row.try_get("", "kind")?,
                attempts: row.try_get("", "attempts")?,
            })
        })
        .collect()
}

/// Stores what one fetch came to; open pages of the conversation hear of
/// a file that is there now (or never will be).
async fn settle(
    db: &DatabaseConnection,
    file: &Claimed,
    max_attempts: u32,
    first_retry_after: Duration,
    result: MediaResult,
) -> Result<(), DbErr> {
    let now = Utc::now();
    let mut update = Query::update();
    update
        .table(whatsapp_media::Entity)
        .and_where(Expr::col(M::MediaId).eq(file.media_id.as_str()))
        .and_where(Expr::col(M::State).eq("pending"));
    match result {
        MediaResult::Fetched {
            content_type,
            bytes,
        } => {
            tracing::info!(bytes = bytes.len(), "stored a WhatsApp media file");
            update
                .value(M::State, "stored")
                .value(M::ContentType, content_type)
                .value(M::Size, i64::try_from(bytes.len()).unwrap_or(i64::MAX))
                .value(M::Bytes, bytes)
                .value(M::FetchedAt, now)
                .value(M::NextAttemptAt, Option::<chrono::DateTime<Utc>>::None)
                .value(M::Reason, Option::<String>::None);
        }
        MediaResult::Expired => {
            update.value(M::State, "expired").value(
                M::Reason,
                "Tata no longer has this file (WhatsApp media expires after 30 days)",
            );
        }
        MediaResult::TooLarge { size } => {
            update
                .value(M::State, "too_large")
                .value(M::Size, size.and_then(|s| i64::try_from(s).ok()))
                .value(
                    M::Reason,
                    "larger than WhatsApp allows for its kind; not kept",
                );
        }
        MediaResult::Refused(reason) => {
            tracing::warn!(%reason, "Tata refused a media download");
            update.value(M::State, "failed").value(M::Reason, reason);
        }
        MediaResult::Transient(reason)
            if u32::try_from(file.attempts).unwrap_or(u32::MAX) > max_attempts =>
        {
            let attempts = file.attempts;
            tracing::warn!(%reason, attempts, "gave up fetching a WhatsApp media file");
            update.value(M::State, "failed").value(
                M::Reason,
                format!("{reason} (gave up after {attempts} tries)"),
            );
        }
        MediaResult::Transient(reason) => {
            let pause = first_retry_after
                .saturating_mul(1 << file.attempts.clamp(1, 9).saturating_sub(1))
                .min(Duration::from_secs(3600));
            tracing::debug!(%reason, attempts = file.attempts, ?pause, "fetching a WhatsApp media file again later");
            update
                .value(
                    M::NextAttemptAt,
                    now + chrono::Duration::from_std(pause).unwrap_or(chrono::Duration::hours(1)),
                )
                .value(M::Reason, reason);
            // Still pending: nothing for open pages to redraw.
            db.execute(&update).await?;
            return Ok(());
        }
    }
    let txn = db.begin().await?;
    if txn.execute(&update).await?.rows_affected() == 1 {
        let lead: Option<Option<Uuid>> = whatsapp_messages::Entity::find_by_id(file.wamid.clone())
            .select_only()
            .column(whatsapp_messages::Column::LeadId)
            .into_tuple()
            .one(&txn)
            .await?;
        if let Some(Some(lead)) = lead {
            store::live::record(&txn, [Change::lead(ChangeKind::Message, lead)]).await?;
        }
    }
    txn.commit().await
}
