//! Everything the database holds about one person, found by their phone
//! number in any spelling (issue 24, first part: `console person export
//! PHONE`). One JSON document, a section per table, each row whole: the
//! unified lead and what hangs off it (touchpoints, notes, stage history,
//! follow-ups, notifications, the change feed), every partner's records
//! (Tata calls, WhatsApp messages and replies, portal leads, captured calls
//! and their aliases, the CRM's pre-leads, leads, contacts and customers),
//! and the webhook log's entries for those deliveries, with their bodies
//! and reason history.
//!
//! [`export_everywhere`] adds what waits about them in the broker's
//! dead-letter queues (by ingest id, with each body). Not yet searched,
//! and said so in the document: the retry queues and the edges' spools.

use sea_orm::sea_query::IntoCondition;
use sea_orm::{
    ColumnTrait, Condition, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QuerySelect,
};
use serde_json::{Map, Value, json};
use std::collections::BTreeSet;
use store::entities::{
    call_record_aliases, call_records, calls, conversation_reads, conversation_states,
    crm_activities, crm_contacts, crm_customers, crm_leads, crm_memos, crm_pre_leads,
    crm_qualified_profiles, crm_status_history, digital_leads, follow_ups, lead_notes,
    lead_stage_history, lead_touchpoints, leads, live_changes, staff_notifications, webhook_log,
    webhook_log_events, whatsapp_media, whatsapp_messages, whatsapp_replies,
};
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

/// Ids per `IN (…)` list.
const CHUNK: usize = 500;

/// The spellings partners store a number in: E.164, its digits, and the
/// ten national digits of an Indian number (with and without a 0).
fn spellings(e164: &str) -> Vec<String> {
    let digits = e164.trim_start_matches('+').to_owned();
    let mut all = vec![e164.to_owned(), digits.clone()];
    if let Some(national) = digits.strip_prefix("91").filter(|n| n.len() == 10) {
        all.push(national.to_owned());
        all.push(format!("0{national}"));
    }
    all
}

/// Everything held about the person with phone number `phone`.
pub async fn export(db: &DatabaseConnection, phone: &str) -> Result<Value, ExportError> {
    let e164 =
        shared::phone::to_e164(phone).ok_or_else(|| ExportError::NotAPhone(phone.to_owned()))?;
    let spelled = spellings(&e164);
    let mut out = Map::new();

    let lead_ids: Vec<Uuid> = leads::Entity::find()
        .select_only()
        .column(leads::Column::Id)
        .filter(leads::Column::Phone.eq(e164.as_str()))
        .into_tuple()
        .all(db)
        .await?;
    add::<leads::Entity>(db, &mut out, leads::Column::Id.is_in(lead_ids.clone())).await?;
    let touchpoints = lead_touchpoints::Entity::find()
        .filter(lead_touchpoints::Column::LeadId.is_in(lead_ids.clone()))
        .into_json()
        .all(db)
        .await?;
    let mut ingest_ids: BTreeSet<Uuid> = touchpoints
        .iter()
        .filter_map(|t| t["ingest_id"].as_str()?.parse::<Uuid>().ok())
        .collect();
    out.insert("lead_touchpoints".into(), json(touchpoints));
    add::<lead_notes::Entity>(
        db,
        &mut out,
        lead_notes::Column::LeadId.is_in(lead_ids.clone()),
    )
    .await?;
    add::<lead_stage_history::Entity>(
        db,
        &mut out,
        lead_stage_history::Column::LeadId.is_in(lead_ids.clone()),
    )
    .await?;
    add::<follow_ups::Entity>(
        db,
        &mut out,
        Condition::any()
            .add(follow_ups::Column::LeadId.is_in(lead_ids.clone()))
            .add(follow_ups::Column::Phone.is_in(spelled.clone())),
    )
    .await?;
    add::<staff_notifications::Entity>(
        db,
        &mut out,
        staff_notifications::Column::LeadId.is_in(lead_ids.clone()),
    )
    .await?;
    add::<live_changes::Entity>(
        db,
        &mut out,
        live_changes::Column::LeadId.is_in(lead_ids.clone()),
    )
    .await?;

    let call_rows = calls::Entity::find()
        .filter(calls::Column::CallerNumber.is_in(spelled.clone()))
        .into_json()
        .all(db)
        .await?;
    ingest_ids.extend(
        call_rows
            .iter()
            .filter_map(|c| c["last_ingest_id"].as_str()?.parse::<Uuid>().ok()),
    );
    out.insert("calls".into(), json(call_rows));
    let messages = whatsapp_messages::Entity::find()
        .filter(
            Condition::any()
                .add(whatsapp_messages::Column::FromNumber.eq(e164.as_str()))
                .add(whatsapp_messages::Column::Recipient.eq(e164.as_str()))
                .add(whatsapp_messages::Column::LeadId.is_in(lead_ids.clone())),
        )
        .into_json()
        .all(db)
        .await?;
    ingest_ids.extend(
        messages
            .iter()
            .filter_map(|m| m["ingest_id"].as_str()?.parse::<Uuid>().ok()),
    );
    // Their media files, by reference (the bytes stay in the database,
    // served to staff from the conversation).
    let wamids: Vec<String> = messages
        .iter()
        .filter_map(|m| m["wamid"].as_str().map(str::to_owned))
        .collect();
    let files = whatsapp_media::Entity::find()
        .select_only()
        .columns(
            <whatsapp_media::Column as sea_orm::Iterable>::iter()
                .filter(|c| !matches!(c, whatsapp_media::Column::Bytes)),
        )
        .filter(whatsapp_media::Column::Wamid.is_in(wamids))
        .into_json()
        .all(db)
        .await?;
    out.insert("whatsapp_media".into(), json(files));
    out.insert("whatsapp_messages".into(), json(messages));
    add::<whatsapp_replies::Entity>(
        db,
        &mut out,
        whatsapp_replies::Column::Phone.eq(e164.as_str()),
    )
    .await?;
    add::<conversation_reads::Entity>(
        db,
        &mut out,
        conversation_reads::Column::Phone.eq(e164.as_str()),
    )
    .await?;
    add::<conversation_states::Entity>(
        db,
        &mut out,
        conversation_states::Column::Phone.eq(e164.as_str()),
    )
    .await?;
    add::<digital_leads::Entity>(
        db,
        &mut out,
        Condition::any()
            .add(digital_leads::Column::Phone.is_in(spelled.clone()))
            .add(digital_leads::Column::LeadId.is_in(lead_ids.clone())),
    )
    .await?;
    let records = call_records::Entity::find()
        .filter(
            Condition::any()
                .add(call_records::Column::CallerNumber.is_in(spelled.clone()))
                .add(call_records::Column::RecipientNumber.is_in(spelled.clone()))
                .add(call_records::Column::LeadId.is_in(lead_ids.clone())),
        )
        .into_json()
        .all(db)
        .await?;
    let record_ids: Vec<Uuid> = records
        .iter()
        .filter_map(|r| r["id"].as_str()?.parse::<Uuid>().ok())
        .collect();
    out.insert("call_records".into(), json(records));
    add::<call_record_aliases::Entity>(
        db,
        &mut out,
        call_record_aliases::Column::CallRecordId.is_in(record_ids),
    )
    .await?;

    // The CRM's records carry the number as the CRM sent it.
    let pre_leads = crm_pre_leads::Entity::find()
        .filter(crm_pre_leads::Column::Phone.is_in(spelled.clone()))
        .into_json()
        .all(db)
        .await?;
    let crm_lead_rows = crm_leads::Entity::find()
        .filter(crm_leads::Column::Phone.is_in(spelled.clone()))
        .into_json()
        .all(db)
        .await?;
    let ids = |rows: &[Value]| -> Vec<String> {
        rows.iter()
            .filter_map(|r| r["id"].as_str().map(str::to_owned))
            .collect()
    };
    let crm_lead_ids = ids(&crm_lead_rows);
    let pre_lead_ids = ids(&pre_leads);
    // A record's children: those of the person's own pre-leads and leads,
    // whatever number they carry, and contacts with the person's number on
    // anyone's record.
    let records = (pre_lead_ids.as_slice(), crm_lead_ids.as_slice());
    out.insert("crm_pre_leads".into(), json(pre_leads));
    out.insert("crm_leads".into(), json(crm_lead_rows));
    add::<crm_contacts::Entity>(
        db,
        &mut out,
        Condition::any()
            .add(crm_contacts::Column::Phone.is_in(spelled.clone()))
            .add(children_of(
                crm_contacts::Column::SubjectKind,
                crm_contacts::Column::SubjectId,
                records,
            )),
    )
    .await?;
    add::<crm_memos::Entity>(
        db,
        &mut out,
        children_of(
            crm_memos::Column::SubjectKind,
            crm_memos::Column::SubjectId,
            records,
        ),
    )
    .await?;
    add::<crm_activities::Entity>(
        db,
        &mut out,
        children_of(
            crm_activities::Column::SubjectKind,
            crm_activities::Column::SubjectId,
            records,
        ),
    )
    .await?;
    add::<crm_status_history::Entity>(
        db,
        &mut out,
        children_of(
            crm_status_history::Column::SubjectKind,
            crm_status_history::Column::SubjectId,
            records,
        ),
    )
    .await?;
    add::<crm_qualified_profiles::Entity>(
        db,
        &mut out,
        Condition::any()
            .add(crm_qualified_profiles::Column::LeadId.is_in(crm_lead_ids.clone()))
            .add(crm_qualified_profiles::Column::Phone.is_in(spelled.clone())),
    )
    .await?;
    add::<crm_customers::Entity>(
        db,
        &mut out,
        crm_customers::Column::LeadId.is_in(crm_lead_ids),
    )
    .await?;

    // The deliveries behind all of it, with their bodies and histories.
    let ingest_ids: Vec<Uuid> = ingest_ids.into_iter().collect();
    let mut log = Vec::new();
    let mut events = Vec::new();
    for chunk in ingest_ids.chunks(CHUNK) {
        log.extend(
            webhook_log::Entity::find()
                .filter(webhook_log::Column::IngestId.is_in(chunk.to_vec()))
                .into_json()
                .all(db)
                .await?,
        );
        events.extend(
            webhook_log_events::Entity::find()
                .filter(webhook_log_events::Column::IngestId.is_in(chunk.to_vec()))
                .into_json()
                .all(db)
                .await?,
        );
    }
    out.insert("webhook_log".into(), json(log));
    out.insert("webhook_log_events".into(), json(events));

    Ok(json!({
        "phone": e164,
        "exported_at": chrono::Utc::now(),
        "tables": out,
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
        anyhow::Ok(found)
    }
    .await;
    let mut not_searched = vec![json!(
        "the broker's retry queues (a message waits there minutes at most before its next try)"
    )];
    match searched {
        Ok(found) => {
            document["dead_letters"] = Value::Array(found);
        }
        Err(error) => {
            tracing::warn!(
                error = format!("{error:#}"),
                "a person's export could not read the dead-letter queues"
            );
            not_searched.push(json!(format!(
                "the broker's dead-letter queues (they could not be read: {error})"
            )));
        }
    }
    not_searched.push(json!("the edges' spools"));
    document["not_searched"] = Value::Array(not_searched);
    Ok(document)
}

/// Whether a JSON body holds the number `e164` in any field, in any
/// spelling a partner uses (read as the worker reads numbers). A body that
/// is not JSON is searched as text for the number's digits.
fn mentions(body: &[u8], e164: &str) -> bool {
    fn walk(value: &Value, e164: &str) -> bool {
        match value {
            Value::String(s) => {
                s.chars().filter(char::is_ascii_digit).count() >= 10
                    && shared::phone::to_e164(s).as_deref() == Some(e164)
            }
            Value::Number(n) => shared::phone::to_e164(&n.to_string()).as_deref() == Some(e164),
            Value::Array(items) => items.iter().any(|v| walk(v, e164)),
            Value::Object(map) => map.values().any(|v| walk(v, e164)),
            _ => false,
        }
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(value) => walk(&value, e164),
        Err(_) => {
            let text = String::from_utf8_lossy(body);
            spellings(e164).iter().any(|s| text.contains(s.as_str()))
        }
    }
}

/// Adds `E`'s section, under its table's name: its rows matching
/// `condition`, each whole.
async fn add<E: EntityTrait>(
    db: &DatabaseConnection,
    out: &mut Map<String, Value>,
    condition: impl IntoCondition,
) -> Result<(), DbErr> {
    let rows = E::find().filter(condition).into_json().all(db).await?;
    out.insert(E::default().table_name().to_owned(), Value::Array(rows));
    Ok(())
}

fn json(rows: Vec<Value>) -> Value {
    Value::Array(rows)
}

/// Rows of a CRM child table (contacts, memos, activities, status changes)
/// that belong to one of these pre-leads or leads.
fn children_of<C: ColumnTrait>(
    kind: C,
    subject: C,
    (pre_lead_ids, lead_ids): (&[String], &[String]),
) -> Condition {
    Condition::any()
        .add(
            Condition::all()
                .add(kind.eq("pre_lead"))
                .add(subject.is_in(pre_lead_ids.to_vec())),
        )
        .add(
            Condition::all()
                .add(kind.eq("lead"))
                .add(subject.is_in(lead_ids.to_vec())),
        )
}
