//! The writes each source makes, inside the transaction that also records
//! the message's ingest id. Every write is an upsert on a database
//! constraint, never a read followed by a write, so concurrent workers and
//! redeliveries converge on the same rows.

pub(crate) mod call_capture;
pub(crate) mod calls;
pub(crate) mod crm;
pub(crate) mod digital_leads;
pub(crate) mod whatsapp;
pub(crate) mod writes;

pub(crate) use writes::Writes;

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, IntoIden, OnConflict};
use sea_orm::{ActiveValue::Set, DbErr, IdenStatic};
use shared::Source;
use store::entities::{lead_touchpoints, leads};
use uuid::Uuid;

/// What applying a message's effects came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Applied {
    /// Rows written.
    Written,
    /// The partner sent this before (by the contract's own duplicate rule):
    /// nothing written but the delivery's log row.
    PartnerDuplicate(String),
    /// A record it refers to does not exist (yet): nothing is committed, and
    /// the message is retried later.
    Missing(String),
    /// It can never apply (a discarded lead converted, a final status
    /// left): nothing is committed, and the message is dead-lettered.
    Invalid(String),
    /// It is about a person erased after it was received: nothing is
    /// written, and its log row (without its body) says so.
    Erased,
}

/// Why a batch or a message wrote nothing: one of its people was erased
/// after it was received (issue 24). A batch refused for it is applied
/// again one message at a time, where only the messages it is true of are
/// left out, each recorded as a duplicate without its body.
pub(crate) const ERASED: &str = "about a person erased after it was received";

/// Whether a write was refused for [`ERASED`].
pub(crate) fn is_erased(error: &DbErr) -> bool {
    matches!(error, DbErr::Custom(reason) if reason == ERASED)
}

/// Namespace of ids derived from content (leads from phone numbers,
/// touchpoints from what they record).
const NAMESPACE: Uuid = Uuid::from_u128(0x6c65_6164_7069_7065_2d6c_6561_6473_2d31);

/// The id of the lead for an E.164 number: the same in every worker.
pub fn lead_id(phone: &str) -> Uuid {
    Uuid::new_v5(&NAMESPACE, format!("lead:{phone}").as_bytes())
}

/// What a touchpoint tells about a person.
pub(crate) struct Sighting<'a> {
    /// E.164.
    pub phone: &'a str,
    pub name: Option<&'a str>,
    pub email: Option<&'a str>,
    pub lead_quality: Option<&'a str>,
    pub is_lead: Option<bool>,
    pub source: Source,
    pub at: DateTime<Utc>,
    /// The CRM's status for this person (a pre-lead's or lead's), as of
    /// `at`: the newest one is the lead's current CRM status.
    pub crm_status: Option<&'a str>,
    /// The business number or line it came in on (E.164), for routing.
    pub line: Option<&'a str>,
    /// The vehicle they asked about.
    pub vehicle: Option<&'a str>,
}

/// The lead row a sighting makes on first sight.
fn lead_row(seen: &Sighting<'_>) -> (Uuid, leads::ActiveModel) {
    let id = lead_id(seen.phone);
    let now = Utc::now();
    let row = leads::ActiveModel {
        id: Set(id),
        phone: Set(seen.phone.to_owned()),
        name: Set(seen.name.map(str::to_owned)),
        email: Set(seen.email.map(str::to_owned)),
        lead_quality: Set(seen.lead_quality.map(str::to_owned)),
        is_lead: Set(seen.is_lead),
        first_source: Set(seen.source.name().to_owned()),
        first_seen_at: Set(seen.at),
        last_seen_at: Set(seen.at),
        crm_status: Set(seen.crm_status.map(str::to_owned)),
        crm_status_at: Set(seen.crm_status.map(|_| seen.at)),
        created_at: Set(now),
        updated_at: Set(now),
        line: Set(seen.line.map(str::to_owned)),
        vehicle: Set(seen.vehicle.map(|v| v.chars().take(128).collect())),
        // Filled when the lead is new (`desk::new_leads`, before the insert).
        team_id: Set(None),
        owner_id: Set(None),
        routed_at: Set(None),
        stage: Set(shared::desk::Stage::New.name().to_owned()),
        stage_changed_at: Set(None),
        lost_reason: Set(None),
        clock_started_at: Set(Some(seen.at)),
        first_response_at: Set(None),
        first_response_by: Set(None),
        response_due_at: Set(None),
        escalate_at: Set(None),
        escalated_at: Set(None),
    };
    (id, row)
}

/// Whether a sighting's CRM status is at least as new as the lead's.
const NEWER_CRM_STATUS: &str = "excluded.crm_status_at IS NOT NULL AND (leads.crm_status_at IS NULL OR leads.crm_status_at <= excluded.crm_status_at)";

/// How a sighting merges into a known lead: name and e-mail never
/// overwrite known values; lead quality and the lead flag (from calls) do;
/// the last sighting only moves forward.
fn lead_merge() -> OnConflict {
    use leads::Column as C;
    // The key, not the phone: the id is derived from the phone, and the key
    // is the one unique index (see migration 000006), so concurrent first
    // sightings of a person always meet here and update, never error.
    let mut on_conflict = OnConflict::column(C::Id);
    on_conflict.values([
        (C::Name, Expr::cust("COALESCE(leads.name, excluded.name)")),
        (
            C::Email,
            Expr::cust("COALESCE(leads.email, excluded.email)"),
        ),
        (
            C::LeadQuality,
            Expr::cust("COALESCE(excluded.lead_quality, leads.lead_quality)"),
        ),
        (
            C::IsLead,
            Expr::cust("COALESCE(excluded.is_lead, leads.is_lead)"),
        ),
        // The newest vehicle asked about; the first line it came in on.
        (
            C::Vehicle,
            Expr::cust("COALESCE(excluded.vehicle, leads.vehicle)"),
        ),
        (C::Line, Expr::cust("COALESCE(leads.line, excluded.line)")),
        // Events arrive out of order: the newest sighting wins.
        (
            C::LastSeenAt,
            Expr::cust(
                "CASE WHEN excluded.last_seen_at > leads.last_seen_at THEN excluded.last_seen_at ELSE leads.last_seen_at END",
            ),
        ),
        // The CRM status of the newest CRM event, whatever the order events
        // arrive in (both read the row as it was before this update).
        (
            C::CrmStatus,
            Expr::cust(format!(
                "CASE WHEN {NEWER_CRM_STATUS} THEN excluded.crm_status ELSE leads.crm_status END"
            )),
        ),
        (
            C::CrmStatusAt,
            Expr::cust(format!(
                "CASE WHEN {NEWER_CRM_STATUS} THEN excluded.crm_status_at ELSE leads.crm_status_at END"
            )),
        ),
        // Always an update, so the row is locked until commit: concurrent
        // messages about one person take turns (the duplicate window
        // relies on it).
        (C::UpdatedAt, Expr::cust("excluded.updated_at")),
    ]);
    on_conflict.to_owned()
}

/// A line on a lead's timeline; the same `key` refreshes one line.
pub(crate) struct Touchpoint {
    pub lead: Uuid,
    pub source: Source,
    pub key: String,
    pub at: DateTime<Utc>,
    pub summary: String,
    pub ingest_id: Uuid,
}

/// The touchpoint's row, under an id derived from its source and key.
fn touchpoint_row(line: Touchpoint) -> (Uuid, lead_touchpoints::ActiveModel) {
    let id = Uuid::new_v5(
        &NAMESPACE,
        format!("touchpoint:{}:{}", line.source, line.key).as_bytes(),
    );
    let row = lead_touchpoints::ActiveModel {
        id: Set(id),
        lead_id: Set(line.lead),
        source: Set(line.source.name().to_owned()),
        occurred_at: Set(line.at),
        summary: Set(line.summary),
        ingest_id: Set(line.ingest_id),
        created_at: Set(Utc::now()),
    };
    (id, row)
}

/// A repeated touchpoint takes the newest summary and time.
fn touchpoint_merge() -> OnConflict {
    use lead_touchpoints::Column as C;
    OnConflict::column(C::Id)
        .values([
            (C::Summary, Expr::cust("excluded.summary")),
            (C::OccurredAt, Expr::cust("excluded.occurred_at")),
        ])
        .to_owned()
}

/// The upsert condition "the incoming event is at least as new as the row".
fn newer_event(table: &str) -> String {
    format!("excluded.last_event_at >= {table}.last_event_at")
}

/// On conflict, `column` takes the incoming value when its event is newer.
pub(crate) fn newest_value<C: IdenStatic + Copy>(table: &str, column: C) -> (C, Expr) {
    let c = column.as_str();
    let newer = newer_event(table);
    (
        column,
        Expr::cust(format!(
            "CASE WHEN {newer} THEN excluded.{c} ELSE {table}.{c} END"
        )),
    )
}

/// Update expressions for `columns` of `table` on conflict: the event with
/// the newer `last_event_at` (edge receive time) overwrites what it brings;
/// an older one arriving late only fills what is still empty.
pub(crate) fn newer_event_wins<C>(table: &str, columns: &[C]) -> Vec<(C, Expr)>
where
    C: IdenStatic + IntoIden + Copy,
{
    let newer = newer_event(table);
    columns
        .iter()
        .map(|column| {
            let c = column.as_str();
            let expr = format!(
                "CASE WHEN {newer} THEN COALESCE(excluded.{c}, {table}.{c}) ELSE COALESCE({table}.{c}, excluded.{c}) END"
            );
            (*column, Expr::cust(expr))
        })
        .collect()
}

/// The bookkeeping columns of merged rows: event count, newest event, time.
pub(crate) fn merge_bookkeeping<C>(
    table: &str,
    event_count: C,
    last_event_at: C,
    updated_at: C,
) -> Vec<(C, Expr)>
where
    C: IdenStatic + IntoIden + Copy,
{
    vec![
        (event_count, Expr::cust(format!("{table}.event_count + 1"))),
        newest_value(table, last_event_at),
        (updated_at, Expr::cust("excluded.updated_at")),
    ]
}
