//! CRM events: the pre-lead and lead lifecycle, contacts, memos,
//! activities, qualified profiles, status histories, conversions, and the
//! customers' order and payment figures.
//!
//! Lifecycle rules need the current state, so each event first locks its
//! subject row (`SELECT … FOR UPDATE` on PostgreSQL; SQLite's transaction
//! already holds the single write lock, taken by the log-row insert): events
//! about one record take turns, whichever worker runs them. Duplicates are
//! still recognised by constraints: ids the edge assigned are primary keys,
//! and the delivery's log row stops a redelivered message.
//!
//! Here: which record an event is about, and applying it. `events` is what
//! each event does; `record` reads, locks and writes a record's row;
//! `status` keeps status changes in event order; `children` adds contacts,
//! memos and activities; `batch` inserts creations with the batch.

mod batch;
mod children;
mod events;
mod record;
mod status;

pub(crate) use batch::{batches, create_batch};

use super::Applied;
use sea_orm::{DatabaseTransaction, DbErr, EntityName};
use shared::Envelope;
use shared::contracts::crm_events::{CrmWebhook, Event, Subject};
use store::entities::{
    crm_activities, crm_contacts, crm_customers, crm_leads, crm_memos, crm_pre_leads,
    crm_qualified_profiles, crm_status_history,
};

use crate::message::{Message, Route, contract_reason};
use crate::process::Settings;
use crate::staging::Staging;
use batch::*;
use children::*;
use events::*;
use record::*;
use shared::contracts::crm_events;
use status::*;

/// Statuses no change may leave.
pub(super) const TERMINAL: &[&str] = &["won", "lost"];

/// A pre-lead or a lead: which table, and what to call it in reasons.
#[derive(Clone, Copy)]
pub(super) struct Kind {
    /// Its entity's table name.
    entity_table: fn() -> &'static str,
    pub(super) name: &'static str,
    pub(super) label: &'static str,
}

impl Kind {
    /// Its table, as its entity names it.
    pub(super) fn table(self) -> &'static str {
        (self.entity_table)()
    }
}

pub(super) const PRE_LEAD: Kind = Kind {
    entity_table: || crm_pre_leads::Entity.table_name(),
    name: "pre_lead",
    label: "pre-lead",
};
pub(super) const LEAD: Kind = Kind {
    entity_table: || crm_leads::Entity.table_name(),
    name: "lead",
    label: "lead",
};

/// When a change happened: its `status_date`, else when the edge received it.
pub(super) fn event_time(hook: &CrmWebhook, envelope: &Envelope) -> i64 {
    data_str(&hook.data, "status_date")
        .and_then(shared::time::parse_iso8601)
        .unwrap_or(envelope.received_at)
        .timestamp_micros()
}

pub(super) fn assigned<'a>(envelope: &'a Envelope, field: &str) -> Result<&'a str, Applied> {
    envelope
        .assigned_ids
        .get(field)
        .map(String::as_str)
        .ok_or_else(|| Applied::Invalid(format!("message carries no {field} from the edge")))
}

/// Applies one CRM event that reads its record's current state (every
/// event but a creation, which [`create_batch`] writes); a pre-lead's or
/// lead's event also joins the person's unified lead (by the phone in its
/// record) with a touchpoint and its current CRM status.
pub(crate) async fn apply(
    txn: &DatabaseTransaction,
    envelope: &Envelope,
    hook: &CrmWebhook,
    desk: &crate::desk::Desk,
) -> Result<Applied, DbErr> {
    let applied = apply_event(txn, envelope, hook).await?;
    if applied == Applied::Written {
        join_unified_lead(txn, envelope, hook, desk).await?;
    }
    Ok(applied)
}

/// The pre-lead or lead an event is about, as stored after it.
pub(super) fn subject(envelope: &Envelope, hook: &CrmWebhook) -> Option<(Kind, String)> {
    match hook.event.subject() {
        Subject::PreLead | Subject::NewPreLead => {
            let id = match hook.event {
                Event::NewInquiry => envelope.assigned_ids.get("pre_lead_id").cloned(),
                _ => hook.subject_id.clone(),
            };
            Some((PRE_LEAD, id?))
        }
        Subject::Lead | Subject::NewLead => {
            let id = match hook.event {
                Event::NewLead => envelope.assigned_ids.get("lead_id").cloned(),
                _ => hook.subject_id.clone(),
            };
            Some((LEAD, id?))
        }
        _ => None,
    }
}

/// Reads a CRM event. Sent to a specific endpoint, the subject's id is in
/// the path (carried in the envelope); sent to the generic one, in `data`.
pub(crate) fn read(envelope: &Envelope, body: &[u8]) -> Result<Box<dyn Message>, String> {
    let event = serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v.get("event")?.as_str().and_then(Event::from_name));
    let endpoint = event.and_then(|event| {
        let id = envelope.path_params.get(event.subject().id_field()?)?;
        Some((event, Some(id.clone())))
    });
    let hook = crm_events::parse(body, endpoint).map_err(|e| contract_reason(envelope, e))?;
    Ok(Box::new(hook))
}

impl Message for CrmWebhook {
    fn partner_ref(&self) -> Option<String> {
        self.subject_id.clone()
    }

    fn route(&self, envelope: &Envelope) -> Route<'_> {
        if batches(envelope, self) {
            Route::Staged
        } else {
            Route::Alone(self)
        }
    }

    fn stage<'a>(
        &'a self,
        staging: &mut Staging<'a>,
        _: usize,
        envelope: &'a Envelope,
        _: &Settings,
    ) {
        staging.crm_creation(envelope, self);
    }
}
