//! Processing one delivery: from raw body to committed rows, returning what
//! the consume loop must do with the message. Nothing here touches the
//! broker, so every decision is testable against a real database alone.

use crate::db::is_transient;
use crate::entities::processed_messages;
use crate::persist::{self, Applied};
use chrono::Utc;
use sea_orm::sea_query::OnConflict;
use sea_orm::{ActiveValue::Set, DatabaseConnection, DbErr, EntityTrait, TransactionTrait};
use shared::contracts::{
    ContractError, call_capture, crm_events, digital_leads, tata_calls, tata_whatsapp,
};
use shared::{Envelope, Source};
use std::time::Duration;
use uuid::Uuid;

/// Processing settings from the worker's configuration.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Same platform and phone within this window is one digital lead.
    pub duplicate_window: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            duplicate_window: Duration::from_secs(60),
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
pub struct Transient(pub String);

/// The rows one message writes.
enum Effects {
    Call(Box<tata_calls::CallEvent>),
    Whatsapp(Box<tata_whatsapp::WhatsappWebhook>),
    DigitalLead(Box<digital_leads::DigitalLead>),
    CallRecord(Uuid, Box<call_capture::CallRecord>),
    Crm(Box<crm_events::CrmWebhook>),
}

/// Reads the body as its source's contract, or says why it never can be.
fn effects(envelope: &Envelope, body: &[u8]) -> Result<Effects, String> {
    let contract = |error: ContractError| contract_reason(envelope.source, &error);
    Ok(match envelope.source {
        Source::TataCalls => Effects::Call(Box::new(tata_calls::parse(body).map_err(contract)?)),
        Source::TataWhatsapp => {
            Effects::Whatsapp(Box::new(tata_whatsapp::parse(body).map_err(contract)?))
        }
        Source::Cardekho => Effects::DigitalLead(Box::new(
            digital_leads::parse(digital_leads::Platform::CarDekho, body).map_err(contract)?,
        )),
        Source::Carwale => Effects::DigitalLead(Box::new(
            digital_leads::parse(digital_leads::Platform::CarWale, body).map_err(contract)?,
        )),
        Source::CallCapture => {
            let id = envelope
                .assigned_ids
                .get("call_history_id")
                .and_then(|id| Uuid::parse_str(id).ok())
                .ok_or("message carries no call_history_id from the edge")?;
            Effects::CallRecord(id, Box::new(call_capture::parse(body).map_err(contract)?))
        }
        Source::CrmEvents => {
            // Sent to a specific endpoint, the subject's id is in the path
            // (carried in the envelope); sent to the generic one, in `data`.
            let event = serde_json::from_slice::<serde_json::Value>(body)
                .ok()
                .and_then(|v| {
                    v.get("event")?
                        .as_str()
                        .and_then(crm_events::Event::from_name)
                });
            let endpoint = event.and_then(|event| {
                let id = envelope.path_params.get(event.subject().id_field()?)?;
                Some((event, Some(id.clone())))
            });
            Effects::Crm(Box::new(
                crm_events::parse(body, endpoint).map_err(contract)?,
            ))
        }
    })
}

/// Processes one message end to end: parse, normalise, and commit its
/// effects together with its ingest id, in one transaction.
pub async fn process(
    db: &DatabaseConnection,
    settings: &Settings,
    envelope: &Envelope,
    body: &[u8],
) -> Result<Outcome, Transient> {
    let effects = match effects(envelope, body) {
        Ok(effects) => effects,
        Err(reason) => return Ok(Outcome::DeadLetter(reason)),
    };
    match commit(db, settings, envelope, &effects).await {
        Ok(Some(Applied::Written)) => Ok(Outcome::Persisted),
        Ok(Some(Applied::PartnerDuplicate(reason))) => Ok(Outcome::Duplicate(reason)),
        Ok(Some(Applied::Missing(reason))) => Ok(Outcome::RetryLater(reason)),
        Ok(Some(Applied::Invalid(reason))) => Ok(Outcome::DeadLetter(reason)),
        Ok(None) => Ok(Outcome::Duplicate(
            "already processed (same ingest id)".into(),
        )),
        Err(error) if is_transient(&error) => Err(Transient(error.to_string())),
        Err(error) => Ok(Outcome::RetryLater(format!(
            "database refused the write: {error}"
        ))),
    }
}

fn contract_reason(source: Source, error: &ContractError) -> String {
    match error {
        ContractError::Fields(fields) => format!(
            "body does not satisfy the {source} contract: {}",
            serde_json::to_string(fields).unwrap_or_default()
        ),
        other => format!("body does not satisfy the {source} contract: {other}"),
    }
}

/// Commits `effects` and the ingest id together. `None` when the ingest id
/// was already there (nothing else is written).
async fn commit(
    db: &DatabaseConnection,
    settings: &Settings,
    envelope: &Envelope,
    effects: &Effects,
) -> Result<Option<Applied>, DbErr> {
    let txn = db.begin().await?;
    // The ledger insert comes first: it takes the write lock (SQLite) or the
    // row lock (PostgreSQL) that makes a concurrent duplicate wait for us and
    // then see our row.
    let inserted = processed_messages::Entity::insert(processed_messages::ActiveModel {
        ingest_id: Set(envelope.ingest_id),
        source: Set(envelope.source.name().to_owned()),
        received_at: Set(envelope.received_at),
        processed_at: Set(Utc::now()),
    })
    .on_conflict(
        OnConflict::column(processed_messages::Column::IngestId)
            .do_nothing()
            .to_owned(),
    )
    .exec_without_returning(&txn)
    .await?;
    if inserted == 0 {
        txn.rollback().await?;
        return Ok(None);
    }
    let applied = match effects {
        Effects::Call(call) => persist::calls::apply(&txn, envelope, call)
            .await
            .map(|()| Applied::Written)?,
        Effects::Whatsapp(hook) => persist::whatsapp::apply(&txn, envelope, hook)
            .await
            .map(|()| Applied::Written)?,
        Effects::DigitalLead(lead) => {
            persist::digital_leads::apply(&txn, envelope, lead, settings.duplicate_window).await?
        }
        Effects::CallRecord(id, record) => {
            persist::call_capture::apply(&txn, envelope, *id, record)
                .await
                .map(|()| Applied::Written)?
        }
        Effects::Crm(hook) => persist::crm::apply(&txn, envelope, hook).await?,
    };
    if matches!(applied, Applied::Missing(_) | Applied::Invalid(_)) {
        // Nothing of it is kept, not even the ledger entry: a retry starts clean.
        txn.rollback().await?;
        return Ok(Some(applied));
    }
    txn.commit().await?;
    Ok(Some(applied))
}
