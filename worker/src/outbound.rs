//! WhatsApp replies from the console, sent to Tata's WhatsApp API.
//!
//! A reply is never sent twice without anyone knowing. Its row records the
//! attempt (`sending`) and commits *before* Tata is called; the answer is
//! recorded after. A delivery that finds its reply still `sending` is a
//! redelivery after a worker died mid-call: Tata may or may not have the
//! message, so the reply is marked `unknown` (staff can send it again) and
//! nothing is called. Timeouts, connection errors and 5xx retry through the
//! retry queues; a 4xx is final and the reply shows Tata's reason.

use crate::persist::lead_id;
use crate::process::{Outcome, Settings, Transient};
use crate::tata::{CallResult, TataClient};
use chrono::Utc;
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{ActiveValue::Set, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter};
use shared::Envelope;
use shared::replies::SendRequest;
use std::time::Duration;
use store::delivery_log::{LogStatus, Processed, log_row, upsert};
use store::entities::whatsapp_replies::{self, Column as R, state};

/// Handles one send request to its outcome. Database failures before the
/// call are [`Transient`] (the caller retries in place); after the call,
/// the result is recorded until it sticks, so it is never lost to a
/// database hiccup and the call is never repeated for one.
pub async fn handle(
    db: &DatabaseConnection,
    client: Option<&TataClient>,
    settings: &Settings,
    envelope: &Envelope,
    body: &[u8],
    stop: &tokio_util::sync::CancellationToken,
) -> Result<Outcome, Transient> {
    let request = match SendRequest::parse(body) {
        Ok(request) => request,
        Err(reason) => {
            log(
                db,
                envelope,
                body,
                LogStatus::DeadLettered,
                Some(&reason),
                None,
            )
            .await?;
            return Ok(Outcome::DeadLetter(reason));
        }
    };
    let job = Job {
        db,
        envelope,
        body,
        request: &request,
    };
    let reply = claim(db, envelope, &request).await?;
    match reply.state.as_str() {
        state::QUEUED | state::RETRYING => {}
        state::SENDING => {
            let reason = "the worker sending it stopped mid-call: Tata may or may not have it";
            job.record(state::UNKNOWN, LogStatus::Processed, None, Some(reason))
                .await?;
            tracing::warn!(reply_id = %request.reply_id, "reply outcome unknown after a crash; not sending it again");
            return Ok(Outcome::Persisted);
        }
        settled => return Ok(Outcome::Duplicate(format!("reply already {settled}"))),
    }
    let Some(client) = client else {
        let reason = "TATA_WHATSAPP_API_URL is not set on this worker";
        return retry_or_give_up(&job, settings, reason).await;
    };
    // The attempt is on disk before the call: a crash from here on leaves
    // `sending`, which the next delivery turns into `unknown`.
    let taken = whatsapp_replies::Entity::update_many()
        .col_expr(R::State, Expr::value(state::SENDING))
        .col_expr(R::Attempts, Expr::cust("attempts + 1"))
        .col_expr(R::UpdatedAt, Expr::value(Utc::now()))
        .filter(R::Id.eq(request.reply_id))
        .filter(R::State.is_in([state::QUEUED, state::RETRYING]))
        .exec(db)
        .await
        .map_err(Transient::from)?
        .rows_affected;
    if taken == 0 {
        return Ok(Outcome::Duplicate(
            "another delivery is sending this reply".into(),
        ));
    }
    let result = client.send(&request).await;
    record_until_it_sticks(stop, || async {
        match &result {
            CallResult::Sent(wamid) => {
                job.record(state::SENT, LogStatus::Processed, Some(wamid), None)
                    .await?;
                tracing::info!(reply_id = %request.reply_id, "reply sent through Tata");
                Ok(Outcome::Persisted)
            }
            CallResult::Refused(reason) => {
                job.record(state::FAILED, LogStatus::Processed, None, Some(reason))
                    .await?;
                tracing::warn!(reply_id = %request.reply_id, reason = %shared::redact::mask_text(reason), "Tata refused a reply");
                Ok(Outcome::Persisted)
            }
            CallResult::Unknown(reason) => {
                job.record(state::UNKNOWN, LogStatus::Processed, None, Some(reason))
                    .await?;
                Ok(Outcome::Persisted)
            }
            CallResult::Transient(reason) => retry_or_give_up(&job, settings, reason).await,
        }
    })
    .await
}

/// Retries `write` in place while the database is unavailable, until it
/// succeeds or `stop`; on stop the reply stays `sending` (shown `unknown`
/// on its next delivery: the call happened, its record did not).
async fn record_until_it_sticks<F, Fut>(
    stop: &tokio_util::sync::CancellationToken,
    mut write: F,
) -> Result<Outcome, Transient>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<Outcome, Transient>>,
{
    let mut delay = Duration::from_millis(100);
    loop {
        match write().await {
            Ok(outcome) => return Ok(outcome),
            Err(error) => {
                tracing::warn!(%error, ?delay, "cannot record a reply's result yet; retrying");
                tokio::select! {
                    _ = stop.cancelled() => return Err(error),
                    _ = tokio::time::sleep(delay) => {}
                }
                delay = (delay * 2).min(Duration::from_secs(10));
            }
        }
    }
}

/// A transient failure: back to `retrying` through the retry queues, or,
/// with the attempts spent, `failed` and dead-lettered.
async fn retry_or_give_up(
    job: &Job<'_>,
    settings: &Settings,
    reason: &str,
) -> Result<Outcome, Transient> {
    let outcome = settings.retry_or_give_up(job.envelope, reason.to_owned());
    match &outcome {
        Outcome::DeadLetter(reason) => {
            job.record(state::FAILED, LogStatus::DeadLettered, None, Some(reason))
                .await?
        }
        _ => {
            job.record(state::RETRYING, LogStatus::Retrying, None, Some(reason))
                .await?
        }
    }
    Ok(outcome)
}

/// One send request being handled: what recording its outcome needs.
struct Job<'a> {
    db: &'a DatabaseConnection,
    envelope: &'a Envelope,
    body: &'a [u8],
    request: &'a SendRequest,
}

impl Job<'_> {
    /// The reply's new state (with Tata's id, or why) and the send
    /// request's webhook-log row.
    async fn record(
        &self,
        reply_state: &str,
        log_status: LogStatus,
        wamid: Option<&str>,
        reason: Option<&str>,
    ) -> Result<(), Transient> {
        set_state(self.db, self.request, reply_state, wamid, reason).await?;
        // After the state is written: the open thread that hears of it
        // reads the new one.
        let changed =
            store::live::Change::lead(store::live::ChangeKind::Reply, lead_id(&self.request.phone));
        store::live::record(self.db, [changed])
            .await
            .map_err(Transient::from)?;
        if wamid.is_some() {
            // Accepted by Tata: the lead's first response, if it is the
            // first (a retry finds it recorded and changes nothing).
            let response = crate::desk::Response {
                lead: lead_id(&self.request.phone),
                at: Utc::now(),
                by: Some(crate::desk::PartnerStaff::Username(
                    self.request.requested_by.clone(),
                )),
            };
            crate::desk::respond::record(self.db, vec![response])
                .await
                .map_err(Transient::from)?;
        }
        log(self.db, self.envelope, self.body, log_status, reason, wamid).await
    }
}

/// The reply's row, made `queued` on its first delivery.
async fn claim(
    db: &DatabaseConnection,
    envelope: &Envelope,
    request: &SendRequest,
) -> Result<whatsapp_replies::Model, Transient> {
    let now = Utc::now();
    let row = whatsapp_replies::ActiveModel {
        id: Set(request.reply_id),
        phone: Set(request.phone.clone()),
        lead_id: Set(Some(lead_id(&request.phone))),
        body: Set(request.message.clone()),
        state: Set(state::QUEUED.to_owned()),
        wamid: Set(None),
        failure_reason: Set(None),
        attempts: Set(0),
        requested_by: Set(request.requested_by.chars().take(64).collect()),
        requested_at: Set(envelope.received_at),
        sent_at: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
        quoted_wamid: Set(request.quote.clone()),
        reaction_to: Set(request.reaction_to.clone()),
        file_id: Set(request.file.as_ref().map(|f| f.id)),
        template: Set(request.template.as_ref().map(|t| {
            serde_json::json!({"name": t.name, "language": t.language, "parameters": t.parameters})
        })),
    };
    whatsapp_replies::Entity::insert(row)
        .on_conflict(OnConflict::column(R::Id).do_nothing().to_owned())
        .exec_without_returning(db)
        .await
        .map_err(Transient::from)?;
    whatsapp_replies::Entity::find_by_id(request.reply_id)
        .one(db)
        .await
        .map_err(Transient::from)?
        .ok_or_else(|| {
            Transient(
                "the reply's row vanished".into(),
                crate::process::Contention::No,
            )
        })
}

async fn set_state(
    db: &DatabaseConnection,
    request: &SendRequest,
    new_state: &str,
    wamid: Option<&str>,
    reason: Option<&str>,
) -> Result<(), Transient> {
    let mut update = whatsapp_replies::Entity::update_many()
        .col_expr(R::State, Expr::value(new_state))
        .col_expr(R::FailureReason, Expr::value(reason.map(str::to_owned)))
        .col_expr(R::UpdatedAt, Expr::value(Utc::now()))
        .filter(R::Id.eq(request.reply_id));
    if let Some(wamid) = wamid {
        update = update
            .col_expr(R::Wamid, Expr::value(wamid.to_owned()))
            .col_expr(R::SentAt, Expr::value(Utc::now()));
    }
    update.exec(db).await.map_err(Transient::from)?;
    Ok(())
}

/// The send request's row in the webhook log (direction `outgoing`),
/// under Tata's id once it has one.
async fn log(
    db: &DatabaseConnection,
    envelope: &Envelope,
    body: &[u8],
    status: LogStatus,
    reason: Option<&str>,
    wamid: Option<&str>,
) -> Result<(), Transient> {
    let row = log_row(
        envelope,
        body,
        status,
        reason,
        None,
        wamid.map(str::to_owned),
    );
    upsert(db, row, Processed::Overwrite)
        .await
        .map_err(Transient::from)?;
    Ok(())
}
