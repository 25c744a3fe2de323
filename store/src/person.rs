//! One person's data in the database (issue 24), found by their phone
//! number in any spelling: the unified lead and what hangs off it
//! (touchpoints, notes, stage history, follow-ups, notifications, the
//! change feed), every partner's records (Tata calls, WhatsApp messages,
//! media and replies, portal leads, captured calls and their aliases, the
//! CRM's pre-leads, leads, contacts, memos, activities, status changes,
//! profiles and customers), and the webhook log's entries for the
//! deliveries behind them (and of deliveries that wrote nothing, still
//! retrying or dead-lettered, whose bodies name the number).
//!
//! [`Person::find`] reads the keys once; [`Person::walk`] hands each table
//! to a [`Visitor`] as a condition on its rows. The console's export reads
//! them and the worker's erasure deletes them: both walk this one list, so
//! a table added here is exported and erased alike.

use crate::delivery_log::LogStatus;
use crate::entities::{
    call_record_aliases, call_records, calls, conversation_reads, conversation_states,
    crm_activities, crm_contacts, crm_customers, crm_leads, crm_memos, crm_pre_leads,
    crm_qualified_profiles, crm_status_history, digital_leads, follow_ups, lead_notes,
    lead_stage_history, lead_touchpoints, leads, live_changes, outbound_files, staff_notifications,
    webhook_log, whatsapp_media, whatsapp_messages, whatsapp_replies,
};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QuerySelect,
};
use serde_json::Value;
use std::collections::BTreeSet;
use std::future::Future;
use uuid::Uuid;

/// Ids per `IN (…)` list where a person may have many (their deliveries).
pub const CHUNK: usize = 500;

/// The spellings partners store a number in: E.164, its digits, and the
/// ten national digits of an Indian number (with and without a 0).
pub fn spellings(e164: &str) -> Vec<String> {
    let digits = e164.trim_start_matches('+').to_owned();
    let mut all = vec![e164.to_owned(), digits.clone()];
    if let Some(national) = digits.strip_prefix("91").filter(|n| n.len() == 10) {
        all.push(national.to_owned());
        all.push(format!("0{national}"));
    }
    all
}

/// Whether a JSON body holds the number `e164` in any field, in any
/// spelling a partner uses (read as the worker reads numbers). A body that
/// is not JSON is searched as text for the number's digits.
pub fn mentions(body: &[u8], e164: &str) -> bool {
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

/// What is done with each of a person's tables.
pub trait Visitor {
    /// The person's rows of `E`: those matching `condition`.
    fn rows<E: EntityTrait>(
        &mut self,
        condition: Condition,
    ) -> impl Future<Output = Result<(), DbErr>> + Send;

    /// Their files in `E` (kept apart: an export lists them without their
    /// `bytes`).
    fn media<E: EntityTrait>(
        &mut self,
        condition: Condition,
        bytes: E::Column,
    ) -> impl Future<Output = Result<(), DbErr>> + Send;

    /// The webhook log's entries for deliveries `ingest_ids`, with their
    /// reason histories (an erasure keeps the entries' bookkeeping and
    /// empties the rest).
    fn log(&mut self, ingest_ids: &[Uuid]) -> impl Future<Output = Result<(), DbErr>> + Send;
}

/// The keys of one person's rows.
#[derive(Debug, Clone)]
pub struct Person {
    /// Their number, E.164.
    pub e164: String,
    spellings: Vec<String>,
    lead_ids: Vec<Uuid>,
    wamids: Vec<String>,
    call_record_ids: Vec<Uuid>,
    pre_lead_ids: Vec<String>,
    crm_lead_ids: Vec<String>,
    ingest_ids: Vec<Uuid>,
}

impl Person {
    /// Reads the keys of what is held about the person with number `e164`
    /// (E.164).
    pub async fn find(db: &impl ConnectionTrait, e164: &str) -> Result<Self, DbErr> {
        let spellings = spellings(e164);
        let lead_ids: Vec<Uuid> = leads::Entity::find()
            .select_only()
            .column(leads::Column::Id)
            .filter(leads::Column::Phone.eq(e164))
            .into_tuple()
            .all(db)
            .await?;
        let mut ingest_ids: BTreeSet<Uuid> = BTreeSet::new();
        let touched: Vec<Uuid> = lead_touchpoints::Entity::find()
            .select_only()
            .column(lead_touchpoints::Column::IngestId)
            .filter(lead_touchpoints::Column::LeadId.is_in(lead_ids.clone()))
            .into_tuple()
            .all(db)
            .await?;
        ingest_ids.extend(touched);
        let called: Vec<Uuid> = calls::Entity::find()
            .select_only()
            .column(calls::Column::LastIngestId)
            .filter(calls::Column::CallerNumber.is_in(spellings.clone()))
            .into_tuple()
            .all(db)
            .await?;
        ingest_ids.extend(called);
        let messages: Vec<(String, Option<Uuid>)> = whatsapp_messages::Entity::find()
            .select_only()
            .columns([
                whatsapp_messages::Column::Wamid,
                whatsapp_messages::Column::IngestId,
            ])
            .filter(Self::messages_of(e164, &lead_ids))
            .into_tuple()
            .all(db)
            .await?;
        ingest_ids.extend(messages.iter().filter_map(|(_, id)| *id));
        let wamids = messages.into_iter().map(|(wamid, _)| wamid).collect();
        let call_record_ids: Vec<Uuid> = call_records::Entity::find()
            .select_only()
            .column(call_records::Column::Id)
            .filter(
                Condition::any()
                    .add(call_records::Column::CallerNumber.is_in(spellings.clone()))
                    .add(call_records::Column::RecipientNumber.is_in(spellings.clone()))
                    .add(call_records::Column::LeadId.is_in(lead_ids.clone())),
            )
            .into_tuple()
            .all(db)
            .await?;
        // Deliveries that wrote nothing (still retrying, or dead-lettered)
        // are found by what their bodies say: few, so read whole.
        let failed: Vec<(Uuid, String)> = webhook_log::Entity::find()
            .select_only()
            .columns([webhook_log::Column::IngestId, webhook_log::Column::Body])
            .filter(webhook_log::Column::Status.is_in([
                LogStatus::Retrying.as_str(),
                LogStatus::DeadLettered.as_str(),
            ]))
            .filter(webhook_log::Column::BodyDroppedAt.is_null())
            .into_tuple()
            .all(db)
            .await?;
        ingest_ids.extend(
            failed
                .into_iter()
                .filter(|(_, body)| mentions(body.as_bytes(), e164))
                .map(|(id, _)| id),
        );
        let pre_lead_ids: Vec<String> = crm_pre_leads::Entity::find()
            .select_only()
            .column(crm_pre_leads::Column::Id)
            .filter(crm_pre_leads::Column::Phone.is_in(spellings.clone()))
            .into_tuple()
            .all(db)
            .await?;
        let crm_lead_ids: Vec<String> = crm_leads::Entity::find()
            .select_only()
            .column(crm_leads::Column::Id)
            .filter(crm_leads::Column::Phone.is_in(spellings.clone()))
            .into_tuple()
            .all(db)
            .await?;
        Ok(Self {
            e164: e164.to_owned(),
            spellings,
            lead_ids,
            wamids,
            call_record_ids,
            pre_lead_ids,
            crm_lead_ids,
            ingest_ids: ingest_ids.into_iter().collect(),
        })
    }

    /// The WhatsApp messages from or to `e164`, or on their leads.
    fn messages_of(e164: &str, lead_ids: &[Uuid]) -> Condition {
        use whatsapp_messages::Column as W;
        Condition::any()
            .add(W::FromNumber.eq(e164))
            .add(W::Recipient.eq(e164))
            .add(W::LeadId.is_in(lead_ids.to_vec()))
    }

    /// Rows of a CRM child table (contacts, memos, activities, status
    /// changes) that belong to one of the person's pre-leads or leads.
    fn children_of<C: ColumnTrait>(&self, kind: C, subject: C) -> Condition {
        Condition::any()
            .add(
                Condition::all()
                    .add(kind.eq("pre_lead"))
                    .add(subject.is_in(self.pre_lead_ids.clone())),
            )
            .add(
                Condition::all()
                    .add(kind.eq("lead"))
                    .add(subject.is_in(self.crm_lead_ids.clone())),
            )
    }

    /// Hands every table of theirs to `visitor`, then the log's entries of
    /// the deliveries behind them.
    pub async fn walk(&self, visitor: &mut impl Visitor) -> Result<(), DbErr> {
        let e164 = self.e164.as_str();
        let leads = || self.lead_ids.clone();
        let spelled = || self.spellings.clone();
        visitor
            .rows::<leads::Entity>(Condition::all().add(leads::Column::Id.is_in(leads())))
            .await?;
        visitor
            .rows::<lead_touchpoints::Entity>(
                Condition::all().add(lead_touchpoints::Column::LeadId.is_in(leads())),
            )
            .await?;
        visitor
            .rows::<lead_notes::Entity>(
                Condition::all().add(lead_notes::Column::LeadId.is_in(leads())),
            )
            .await?;
        visitor
            .rows::<lead_stage_history::Entity>(
                Condition::all().add(lead_stage_history::Column::LeadId.is_in(leads())),
            )
            .await?;
        visitor
            .rows::<follow_ups::Entity>(
                Condition::any()
                    .add(follow_ups::Column::LeadId.is_in(leads()))
                    .add(follow_ups::Column::Phone.is_in(spelled())),
            )
            .await?;
        visitor
            .rows::<staff_notifications::Entity>(
                Condition::all().add(staff_notifications::Column::LeadId.is_in(leads())),
            )
            .await?;
        visitor
            .rows::<live_changes::Entity>(
                Condition::all().add(live_changes::Column::LeadId.is_in(leads())),
            )
            .await?;
        visitor
            .rows::<calls::Entity>(
                Condition::all().add(calls::Column::CallerNumber.is_in(spelled())),
            )
            .await?;
        visitor
            .media::<whatsapp_media::Entity>(
                Condition::all().add(whatsapp_media::Column::Wamid.is_in(self.wamids.clone())),
                whatsapp_media::Column::Bytes,
            )
            .await?;
        visitor
            .media::<outbound_files::Entity>(
                Condition::any()
                    .add(outbound_files::Column::Phone.eq(e164))
                    .add(outbound_files::Column::LeadId.is_in(leads())),
                outbound_files::Column::Bytes,
            )
            .await?;
        visitor
            .rows::<whatsapp_messages::Entity>(Self::messages_of(e164, &self.lead_ids))
            .await?;
        visitor
            .rows::<whatsapp_replies::Entity>(
                Condition::all().add(whatsapp_replies::Column::Phone.eq(e164)),
            )
            .await?;
        visitor
            .rows::<conversation_reads::Entity>(
                Condition::all().add(conversation_reads::Column::Phone.eq(e164)),
            )
            .await?;
        visitor
            .rows::<conversation_states::Entity>(
                Condition::all().add(conversation_states::Column::Phone.eq(e164)),
            )
            .await?;
        visitor
            .rows::<digital_leads::Entity>(
                Condition::any()
                    .add(digital_leads::Column::Phone.is_in(spelled()))
                    .add(digital_leads::Column::LeadId.is_in(leads())),
            )
            .await?;
        visitor
            .rows::<call_records::Entity>(
                Condition::all().add(call_records::Column::Id.is_in(self.call_record_ids.clone())),
            )
            .await?;
        visitor
            .rows::<call_record_aliases::Entity>(
                Condition::all().add(
                    call_record_aliases::Column::CallRecordId.is_in(self.call_record_ids.clone()),
                ),
            )
            .await?;
        // The CRM's records carry the number as the CRM sent it; a
        // record's children are those of the person's own pre-leads and
        // leads, whatever number they carry, and contacts with the
        // person's number on anyone's record.
        visitor
            .rows::<crm_pre_leads::Entity>(
                Condition::all().add(crm_pre_leads::Column::Id.is_in(self.pre_lead_ids.clone())),
            )
            .await?;
        visitor
            .rows::<crm_leads::Entity>(
                Condition::all().add(crm_leads::Column::Id.is_in(self.crm_lead_ids.clone())),
            )
            .await?;
        visitor
            .rows::<crm_contacts::Entity>(
                Condition::any()
                    .add(crm_contacts::Column::Phone.is_in(spelled()))
                    .add(self.children_of(
                        crm_contacts::Column::SubjectKind,
                        crm_contacts::Column::SubjectId,
                    )),
            )
            .await?;
        visitor
            .rows::<crm_memos::Entity>(
                self.children_of(crm_memos::Column::SubjectKind, crm_memos::Column::SubjectId),
            )
            .await?;
        visitor
            .rows::<crm_activities::Entity>(self.children_of(
                crm_activities::Column::SubjectKind,
                crm_activities::Column::SubjectId,
            ))
            .await?;
        visitor
            .rows::<crm_status_history::Entity>(self.children_of(
                crm_status_history::Column::SubjectKind,
                crm_status_history::Column::SubjectId,
            ))
            .await?;
        visitor
            .rows::<crm_qualified_profiles::Entity>(
                Condition::any()
                    .add(crm_qualified_profiles::Column::LeadId.is_in(self.crm_lead_ids.clone()))
                    .add(crm_qualified_profiles::Column::Phone.is_in(spelled())),
            )
            .await?;
        visitor
            .rows::<crm_customers::Entity>(
                Condition::all()
                    .add(crm_customers::Column::LeadId.is_in(self.crm_lead_ids.clone())),
            )
            .await?;
        visitor.log(&self.ingest_ids).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_indian_number_has_four_spellings() {
        assert_eq!(
            spellings("+919812345678"),
            ["+919812345678", "919812345678", "9812345678", "09812345678"]
        );
    }

    #[test]
    fn a_body_mentions_a_number_in_any_spelling() {
        let e164 = "+919812345678";
        assert!(mentions(br#"{"data": {"phone": "098123 45678"}}"#, e164));
        assert!(mentions(br#"{"caller_number": 919812345678}"#, e164));
        assert!(!mentions(br#"{"phone": "+919812345670"}"#, e164));
        assert!(mentions(b"not json 9812345678", e164));
    }
}
