//! One lead per person (E.164 phone), however many partners told us.

use sea_orm::entity::prelude::*;

/// A unified lead.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "leads")]
pub struct Model {
    /// UUID v5 of the phone number.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// E.164. Unique through the id, which is derived from it.
    pub phone: String,
    pub name: Option<String>,
    pub email: Option<String>,
    pub lead_quality: Option<String>,
    pub is_lead: Option<bool>,
    /// The source that told us first.
    pub first_source: String,
    pub first_seen_at: DateTimeUtc,
    pub last_seen_at: DateTimeUtc,
    /// The CRM's status for this person's newest pre-lead or lead event.
    pub crm_status: Option<String>,
    /// When that status was set (the event's time).
    pub crm_status_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    /// The business number or line it first came in on (E.164), for
    /// routing.
    pub line: Option<String>,
    /// The vehicle asked about, newest first (from the partner bodies).
    pub vehicle: Option<String>,
    /// The team routing chose.
    pub team_id: Option<Uuid>,
    /// The staff account that owns it.
    pub owner_id: Option<Uuid>,
    /// When routing ran: set once, by the transaction that first saw it.
    pub routed_at: Option<DateTimeUtc>,
    /// One of `shared::desk::Stage`'s names.
    pub stage: String,
    /// When the stage last changed (by staff or a partner event's time).
    pub stage_changed_at: Option<DateTimeUtc>,
    /// Why it was lost, when it was.
    pub lost_reason: Option<String>,
    /// The response clock's start: the first sighting, or the reopening.
    pub clock_started_at: Option<DateTimeUtc>,
    /// The first action that reached the customer since the clock started.
    pub first_response_at: Option<DateTimeUtc>,
    /// The staff account whose action that was, when known.
    pub first_response_by: Option<Uuid>,
    /// Past this without a response, the lead is overdue.
    pub response_due_at: Option<DateTimeUtc>,
    /// Past this without a response, the team's managers are told.
    pub escalate_at: Option<DateTimeUtc>,
    /// When the escalation ran (once per clock).
    pub escalated_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
