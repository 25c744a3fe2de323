//! Processing one delivery: from raw body to committed rows, returning what
//! the consume loop must do with the message. Nothing here touches the
//! broker, so every decision is testable against a real database alone.

use crate::claim::{Claim, claim, claim_new, mark_duplicate};
use crate::message::{Message, Reader, Route, log_ref};
use crate::persist::{self, Applied};
use crate::staging::Staging;
use sea_orm::{ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbErr, TransactionTrait};
use shared::{Envelope, Source};
use std::time::Duration;
use store::delivery_log::{LogStatus, record};
use store::is_transient;

/// Processing settings from the worker's configuration.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Same platform and phone within this window is one digital lead.
    pub duplicate_window: Duration,
    /// Delayed retries before a message that keeps failing is dead-lettered.
    pub retry_max_attempts: u32,
    /// `DEALER_NUMBERS` (E.164): never a customer.
    pub dealer_numbers: std::sync::Arc<std::collections::HashSet<String>>,
    /// The lead desk's response target and business hours.
    pub(crate) desk: crate::desk::Desk,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            duplicate_window: Duration::from_secs(60),
            retry_max_attempts: 8,
            dealer_numbers: Default::default(),
            desk: Default::default(),
        }
    }
}

impl Settings {
    /// A failure that may pass: retried later through the retry queues,
    /// or dead-lettered once `RETRY_MAX_ATTEMPTS` retries are spent.
    pub(crate) fn retry_or_give_up(&self, envelope: &Envelope, reason: String) -> Outcome {
        if envelope.retry_attempt >= self.retry_max_attempts {
            Outcome::DeadLetter(format!(
                "{reason} (gave up after {} retries)",
                envelope.retry_attempt
            ))
        } else {
            Outcome::RetryLater(reason)
        }
    }
}

/// What became of a message, and so what to tell the broker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Its effects are committed: ack.
    Persisted,
    /// Nothing new: its ingest id was already committed (a redelivery), or
    /// the partner sent the same thing before. Ack, change nothing.
    Duplicate(String),
    /// It may succeed later (for example a record it refers to is not there
    /// yet): retry through the delayed retry queues, dead-letter when the
    /// attempts are spent.
    RetryLater(String),
    /// It can never succeed: dead-letter it with this reason.
    DeadLetter(String),
}

/// The database is unavailable or contended: nothing was committed, and the
/// same message should be tried again, in place, after a pause. Never a
/// reason to dead-letter.
#[derive(Debug, thiserror::Error)]
#[error("database unavailable: {0}")]
pub struct Transient(pub String, pub Contention);

/// Whether a transient failure was lock contention between transactions
/// (a deadlock, a serialization failure, a busy database): the same work in
/// smaller transactions will not meet it again the same way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Contention {
    /// Transactions got in each other's way.
    Yes,
    /// Something else (the database is down, a connection broke).
    No,
}

impl From<DbErr> for Transient {
    fn from(error: DbErr) -> Self {
        let contention = if store::is_contention(&error) {
            Contention::Yes
        } else {
            Contention::No
        };
        Transient(error.to_string(), contention)
    }
}

/// Reads a body as its source's contract: the one dispatch over the
/// partners. Each partner's `persist` file says what its messages write.
fn effects(envelope: &Envelope, body: &[u8]) -> Result<Box<dyn Message>, String> {
    let read: Reader = match envelope.source {
        Source::TataCalls => persist::calls::read,
        Source::TataWhatsapp => persist::whatsapp::read,
        Source::Cardekho | Source::Carwale => persist::digital_leads::read,
        Source::CallCapture => persist::call_capture::read,
        Source::CrmEvents => persist::crm::read,
        // Sent by workers, not persisted here (see `outbound`); one that
        // reaches this path was routed wrongly and can never apply.
        Source::WhatsappReplies => {
            return Err("a reply send request is not a webhook to persist".into());
        }
    };
    read(envelope, body)
}

/// Processes one message end to end: parse, normalise, and commit its
/// effects together with its log row, in one transaction.
pub async fn process(
    db: &DatabaseConnection,
    settings: &Settings,
    envelope: &Envelope,
    body: &[u8],
) -> Result<Outcome, Transient> {
    process_in(db, settings, envelope, body, &effects(envelope, body)).await
}

/// Processes a batch of messages in one transaction (one commit, one
/// fsync). Nothing is settled with the broker until this returns, so an ack
/// still follows the commit that holds the message's effects. A transient
/// failure rolls the whole batch back: the caller retries it.
///
/// Tata calls, WhatsApp, digital leads, captured calls and CRM creations
/// are claimed with one statement and written with a few multi-row
/// statements per table (see [`persist::Writes`]); the digital leads'
/// duplicate window is one read for the whole batch, after the people's
/// rows are locked. Other CRM events (their lifecycles read current state
/// record by record), and any delivery seen before, each go through the
/// one-message path in a savepoint of their own. Should a multi-row
/// statement be refused, the batch is done again one message per savepoint,
/// so only the message at fault is retried or dead-lettered.
pub async fn process_batch(
    db: &DatabaseConnection,
    settings: &Settings,
    items: &[(&Envelope, &[u8])],
) -> Result<BatchOutcomes, Transient> {
    let parsed: Vec<_> = items.iter().map(|(e, b)| effects(e, b)).collect();
    match process_grouped(db, settings, items, &parsed).await {
        Ok(outcomes) => Ok(BatchOutcomes {
            outcomes,
            one_by_one: false,
        }),
        Err(Grouped::Transient(transient)) => Err(transient),
        Err(Grouped::Refused(error)) if persist::is_erased(&error) => {
            tracing::info!(
                messages = items.len(),
                "a batch holds a message about a person erased after it was received; applying it one message at a time"
            );
            let outcomes = process_one_by_one(db, settings, items, &parsed).await?;
            Ok(BatchOutcomes {
                outcomes,
                one_by_one: true,
            })
        }
        Err(Grouped::Refused(error)) => {
            tracing::warn!(
                messages = items.len(),
                error = shared::redact::mask_text(&error.to_string()),
                "a multi-row statement was refused; processing the batch one message at a time"
            );
            let outcomes = process_one_by_one(db, settings, items, &parsed).await?;
            Ok(BatchOutcomes {
                outcomes,
                one_by_one: true,
            })
        }
    }
}

/// What became of a batch's messages, in the batch's order.
#[derive(Debug)]
pub struct BatchOutcomes {
    /// One per message.
    pub outcomes: Vec<Outcome>,
    /// Whether a multi-row statement was refused, so the batch was done
    /// again one message at a time (counted: it should not happen).
    pub one_by_one: bool,
}

/// Why the grouped path of a batch stopped.
enum Grouped {
    /// Retry the batch later, as it is.
    Transient(Transient),
    /// A multi-row statement was refused: find the culprit one by one.
    Refused(DbErr),
}

impl From<Transient> for Grouped {
    fn from(transient: Transient) -> Self {
        Grouped::Transient(transient)
    }
}

impl From<DbErr> for Grouped {
    fn from(error: DbErr) -> Self {
        if is_transient(&error) {
            Grouped::Transient(error.into())
        } else {
            Grouped::Refused(error)
        }
    }
}

/// The batch with multi-row statements (see [`process_batch`]).
async fn process_grouped(
    db: &DatabaseConnection,
    settings: &Settings,
    items: &[(&Envelope, &[u8])],
    parsed: &[Result<Box<dyn Message>, String>],
) -> Result<Vec<Outcome>, Grouped> {
    let txn = db.begin().await?;
    let staged: Vec<usize> = (0..items.len())
        .filter(|&i| {
            let envelope = items[i].0;
            parsed[i]
                .as_ref()
                .is_ok_and(|e| matches!(e.route(envelope), Route::Staged))
        })
        .collect();
    let mut claimed = claim_new(
        &txn,
        staged.iter().map(|&i| {
            let (envelope, body) = items[i];
            let partner_ref = parsed[i]
                .as_ref()
                .ok()
                .and_then(|message| log_ref(message.as_ref()));
            (envelope, body, partner_ref)
        }),
    )
    .await?;
    let mut outcomes: Vec<Option<Outcome>> = vec![None; items.len()];
    let mut staging = Staging::default();
    for i in staged {
        let envelope = items[i].0;
        // `remove`: a second delivery of one ingest id in the batch takes
        // the one-message path, which finds it processed.
        if let (true, Ok(effects)) = (claimed.remove(&envelope.ingest_id), &parsed[i]) {
            staging.writes().received(envelope.received_at);
            effects.stage(&mut staging, i, envelope, settings);
            outcomes[i] = Some(Outcome::Persisted);
        }
    }
    for (i, reason) in staging.flush(&txn, settings).await? {
        outcomes[i] = Some(Outcome::Duplicate(reason));
    }
    let mut done = Vec::with_capacity(items.len());
    for (i, outcome) in outcomes.into_iter().enumerate() {
        let (envelope, body) = items[i];
        done.push(match outcome {
            Some(outcome) => outcome,
            None => process_in(&txn, settings, envelope, body, &parsed[i]).await?,
        });
    }
    txn.commit().await?;
    Ok(done)
}

/// The batch one message per savepoint, in one transaction.
async fn process_one_by_one(
    db: &DatabaseConnection,
    settings: &Settings,
    items: &[(&Envelope, &[u8])],
    parsed: &[Result<Box<dyn Message>, String>],
) -> Result<Vec<Outcome>, Transient> {
    let txn = db.begin().await?;
    let mut outcomes = Vec::with_capacity(items.len());
    for ((envelope, body), effects) in items.iter().zip(parsed) {
        outcomes.push(process_in(&txn, settings, envelope, body, effects).await?);
    }
    txn.commit().await?;
    Ok(outcomes)
}

/// One message on `conn`: a connection (its own transaction) or a batch's
/// transaction (a savepoint within it).
async fn process_in<C>(
    conn: &C,
    settings: &Settings,
    envelope: &Envelope,
    body: &[u8],
    parsed: &Result<Box<dyn Message>, String>,
) -> Result<Outcome, Transient>
where
    C: ConnectionTrait + TransactionTrait<Transaction = DatabaseTransaction>,
{
    let partner_ref = parsed
        .as_ref()
        .ok()
        .and_then(|message| log_ref(message.as_ref()));
    let outcome = match parsed {
        Err(reason) => Outcome::DeadLetter(reason.clone()),
        Ok(effects) => match commit(conn, settings, envelope, body, effects.as_ref()).await {
            Ok(Some(Applied::Written)) => return Ok(Outcome::Persisted),
            Ok(Some(Applied::PartnerDuplicate(reason))) => return Ok(Outcome::Duplicate(reason)),
            Ok(None) => {
                return Ok(Outcome::Duplicate(
                    "already processed (same ingest id)".into(),
                ));
            }
            Ok(Some(Applied::Erased)) => {
                // Logged as a duplicate, without the body that names them.
                let reason = persist::ERASED;
                record(
                    conn,
                    envelope,
                    b"",
                    LogStatus::Duplicate,
                    reason,
                    partner_ref,
                )
                .await
                .map_err(Transient::from)?;
                return Ok(Outcome::Duplicate(reason.into()));
            }
            Ok(Some(Applied::Missing(reason))) => Outcome::RetryLater(reason),
            Ok(Some(Applied::Invalid(reason))) => Outcome::DeadLetter(reason),
            Err(error) if is_transient(&error) => return Err(error.into()),
            // Database errors can quote the values they refused: masked.
            Err(error) => Outcome::RetryLater(format!(
                "database refused the write: {}",
                shared::redact::mask_text(&error.to_string())
            )),
        },
    };
    let outcome = match outcome {
        Outcome::RetryLater(reason) => settings.retry_or_give_up(envelope, reason),
        other => other,
    };
    let (status, reason) = match &outcome {
        Outcome::RetryLater(reason) => (LogStatus::Retrying, reason),
        Outcome::DeadLetter(reason) => (LogStatus::DeadLettered, reason),
        Outcome::Persisted | Outcome::Duplicate(_) => return Ok(outcome),
    };
    // The log says what happens to the message before it happens; if the
    // database is down, nothing is settled and the whole thing is retried.
    record(conn, envelope, body, status, reason, partner_ref)
        .await
        .map_err(Transient::from)?;
    Ok(outcome)
}

/// Commits `effects` and the delivery's log row together. `None` when the
/// ingest id was already processed (nothing else is written).
async fn commit(
    db: &impl TransactionTrait<Transaction = DatabaseTransaction>,
    settings: &Settings,
    envelope: &Envelope,
    body: &[u8],
    effects: &dyn Message,
) -> Result<Option<Applied>, DbErr> {
    let txn = db.begin().await?;
    match claim(&txn, envelope, body, log_ref(effects)).await? {
        Claim::Granted => {}
        Claim::AlreadyProcessed => {
            txn.rollback().await?;
            return Ok(None);
        }
        Claim::RepeatedKey(reason) => {
            txn.commit().await?;
            return Ok(Some(Applied::PartnerDuplicate(reason)));
        }
    }
    let applied = match effects.route(envelope) {
        // A batch of one: the batch's code.
        Route::Staged => {
            let mut staging = Staging::default();
            staging.writes().received(envelope.received_at);
            effects.stage(&mut staging, 0, envelope, settings);
            staging.flush(&txn, settings).await.map(|mut repeats| {
                match repeats.pop() {
                    // Already marked as a repeat in the log by the flush.
                    Some((_, reason)) => Applied::PartnerDuplicate(reason),
                    None => Applied::Written,
                }
            })
        }
        Route::Alone(hook) => persist::crm::apply(&txn, envelope, hook, &settings.desk).await,
    };
    let applied = match applied {
        // Nothing of it may be written, not even its body in the log.
        Err(error) if persist::is_erased(&error) => {
            txn.rollback().await?;
            return Ok(Some(Applied::Erased));
        }
        other => other?,
    };
    match &applied {
        Applied::Missing(_) | Applied::Invalid(_) => {
            // Nothing of it is kept, not even the log row: a retry starts clean.
            txn.rollback().await?;
            return Ok(Some(applied));
        }
        Applied::PartnerDuplicate(reason) => {
            mark_duplicate(&txn, envelope.ingest_id, reason).await?
        }
        Applied::Written | Applied::Erased => {}
    }
    txn.commit().await?;
    Ok(Some(applied))
}
