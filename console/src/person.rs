//! Everything held about one person, found by their phone number in any
//! spelling (issue 24): `console person export PHONE` and the operator's
//! page. One JSON document, a section per table ([`store::person`] lists
//! them), each row whole (media files by reference, without their bytes),
//! and the webhook log's entries for those deliveries, with their bodies
//! and reason history.
//!
//! [`export_everywhere`] adds what waits about them in the broker's
//! dead-letter queues and retry queues (by ingest id, with where it waits
//! and each body). Not searched, and said so in the document: the edges'
//! spools (each edge holds its own open; what they hold reaches the
//! broker, and the erasure's record, once the broker is back).
//!
//! [`request_erasure`] asks a worker to erase them (see the worker's
//! `erase` module), through the broker like other work.

use sea_orm::{
    ColumnTrait, Condition, DatabaseConnection, DbErr, EntityTrait, IdenStatic, Iterable,
    QueryFilter, QuerySelect,
};
use serde_json::{Map, Value, json};
use shared::broker::Publisher;
use store::entities::{webhook_log, webhook_log_events};
use store::person::{CHUNK, Person, Visitor, mentions};
use uuid::Uuid;

/// Why an export could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// The number is not one (the caller fixes it).
    #[error("{0:?} is not a phone number (try +91 and ten digits)")]
    NotAPhone(String),
    /// The database failed (the caller tries again).
    #[error("reading the database: {0}")]
    Database(#[from] DbErr),
}

/// Reads each table's rows into the document's `tables`.
struct Export<'a> {
    db: &'a DatabaseConnection,
    tables: Map<String, Value>,
}

impl Visitor for Export<'_> {
    async fn rows<E: EntityTrait>(&mut self, condition: Condition) -> Result<(), DbErr> {
        let rows = E::find().filter(condition).into_json().all(self.db).await?;
        self.tables
            .insert(E::default().table_name().to_owned(), Value::Array(rows));
        Ok(())
    }

    async fn media<E: EntityTrait>(
        &mut self,
        condition: Condition,
        bytes: E::Column,
    ) -> Result<(), DbErr> {
        // By reference: the bytes stay in the database, served to staff
        // from the conversation.
        let files = E::find()
            .select_only()
            .columns(E::Column::iter().filter(|c| c.as_str() != bytes.as_str()))
            .filter(condition)
            .into_json()
            .all(self.db)
            .await?;
        self.tables
            .insert(E::default().table_name().to_owned(), Value::Array(files));
        Ok(())
    }

    async fn log(&mut self, ingest_ids: &[Uuid]) -> Result<(), DbErr> {
        let mut log = Vec::new();
        let mut events = Vec::new();
        for chunk in ingest_ids.chunks(CHUNK) {
            log.extend(
                webhook_log::Entity::find()
                    .filter(webhook_log::Column::IngestId.is_in(chunk.to_vec()))
                    .into_json()
                    .all(self.db)
                    .await?,
            );
            events.extend(
                webhook_log_events::Entity::find()
                    .filter(webhook_log_events::Column::IngestId.is_in(chunk.to_vec()))
                    .into_json()
                    .all(self.db)
                    .await?,
            );
        }
        self.tables.insert("webhook_log".into(), Value::Array(log));
        self.tables
            .insert("webhook_log_events".into(), Value::Array(events));
        Ok(())
    }
}

/// Everything the database holds about the person with phone number
/// `phone`.
pub async fn export(db: &DatabaseConnection, phone: &str) -> Result<Value, ExportError> {
    let e164 =
        shared::phone::to_e164(phone).ok_or_else(|| ExportError::NotAPhone(phone.to_owned()))?;
    let person = Person::find(db, &e164).await?;
    let mut export = Export {
        db,
        tables: Map::new(),
    };
    person.walk(&mut export).await?;
    Ok(json!({
        "phone": e164,
        "exported_at": chrono::Utc::now(),
        "tables": export.tables,
        "not_searched": [
            "the broker's dead-letter and retry queues",
            "the edges' spools",
        ],
    }))
}

/// How long the broker may take to be reached for an export.
const BROKER_PATIENCE: std::time::Duration = std::time::Duration::from_secs(10);

/// [`export`], plus the dead letters about the person in every source's
/// dead-letter queue (section `dead_letters`). A broker that cannot be
/// read leaves the database's part whole and says so in `not_searched`.
pub async fn export_everywhere(
    db: &DatabaseConnection,
    broker: &shared::config::BrokerConfig,
    phone: &str,
) -> Result<Value, ExportError> {
    let mut document = export(db, phone).await?;
    let e164 = document["phone"].as_str().unwrap_or_default().to_owned();
    let searched = async {
        let queues = tokio::time::timeout(
            BROKER_PATIENCE,
            shared::broker::DeadLetterQueues::connect(broker),
        )
        .await
        .map_err(|_| anyhow::anyhow!("no broker connection within {BROKER_PATIENCE:?}"))??;
        let mut found = Vec::new();
        let mut retrying = Vec::new();
        for (queue, message) in queues.retrying().await? {
            if mentions(&message.body, &e164) {
                let summary = ::dead_letters::summarize(&message);
                retrying.push(json!({
                    "ingest_id": message.ingest_id,
                    "source": message.source.name(),
                    "where": format!("the broker's retry queue {queue}, waiting for its next try"),
                    "received_at": summary.received_at,
                    "last_failed_at": summary.last_failed_at,
                    "body": String::from_utf8_lossy(&message.body),
                }));
            }
        }
        for &source in shared::Source::ALL {
            for message in queues.browse(source).await? {
                if mentions(&message.body, &e164) {
                    let summary = ::dead_letters::summarize(&message);
                    found.push(json!({
                        "ingest_id": message.ingest_id,
                        "source": source.name(),
                        "where": format!("the {} dead-letter queue", source.name()),
                        "reason": summary.reason,
                        "received_at": summary.received_at,
                        "last_failed_at": summary.last_failed_at,
                        "body": String::from_utf8_lossy(&message.body),
                    }));
                }
            }
        }
        queues.close().await;
        anyhow::Ok((found, retrying))
    }
    .await;
    let mut not_searched = Vec::new();
    match searched {
        Ok((found, retrying)) => {
            document["dead_letters"] = Value::Array(found);
            document["retrying"] = Value::Array(retrying);
        }
        Err(error) => {
            tracing::warn!(
                error = format!("{error:#}"),
                "a person's export could not read the dead-letter queues"
            );
            not_searched.push(json!(format!(
                "the broker's dead-letter and retry queues (they could not be read: {error})"
            )));
        }
    }
    not_searched.push(json!("the edges' spools"));
    document["not_searched"] = Value::Array(not_searched);
    Ok(document)
}

/// Why an erasure could not be asked for.
#[derive(Debug, thiserror::Error)]
pub enum ErasureError {
    /// The number is not one (the caller fixes it).
    #[error("{0:?} is not a phone number (try +91 and ten digits)")]
    NotAPhone(String),
    /// The broker did not take the request (the caller tries again).
    #[error("the erasure could not be queued (broker unavailable): {0}")]
    Broker(String),
}

/// Asks a worker to erase everything held about the person with number
/// `phone`, on `requested_by`'s behalf: published (confirmed) on the
/// replies queue. Returns the erasure's id, under which the worker
/// records what it did (`erasures`).
pub async fn request_erasure(
    publisher: &Publisher,
    phone: &str,
    requested_by: &str,
) -> Result<Uuid, ErasureError> {
    let e164 =
        shared::phone::to_e164(phone).ok_or_else(|| ErasureError::NotAPhone(phone.to_owned()))?;
    let envelope = shared::replies::work_envelope(shared::replies::ERASE_PERSON);
    let request = shared::replies::EraseRequest {
        phone: e164,
        requested_by: requested_by.to_owned(),
        requested_at: chrono::Utc::now(),
    };
    let body = serde_json::to_vec(&request).map_err(|e| ErasureError::Broker(e.to_string()))?;
    publisher
        .publish(&envelope, &body)
        .await
        .map_err(|e| ErasureError::Broker(e.to_string()))?;
    tracing::info!(erasure = %envelope.ingest_id, %requested_by, "erasure queued");
    Ok(envelope.ingest_id)
}

/// How many rows each table holds about the person in `document` (an
/// [`export`]), and how many dead letters: what an erasure would remove.
pub fn what_would_go(document: &Value) -> Vec<(String, usize)> {
    let mut counts: Vec<(String, usize)> = document["tables"]
        .as_object()
        .map(|tables| {
            tables
                .iter()
                .filter_map(|(name, rows)| Some((name.clone(), rows.as_array()?.len())))
                .filter(|(_, n)| *n > 0)
                .collect()
        })
        .unwrap_or_default();
    if let Some(dead) = document["dead_letters"]
        .as_array()
        .filter(|d| !d.is_empty())
    {
        counts.push(("dead letters".into(), dead.len()));
    }
    counts
}

/// Erasure `id`'s record, once a worker has written it.
pub async fn erasure(
    db: &DatabaseConnection,
    id: Uuid,
) -> Result<Option<store::entities::erasures::Model>, DbErr> {
    store::entities::erasures::Entity::find_by_id(id)
        .one(db)
        .await
}
