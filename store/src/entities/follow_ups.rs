//! Follow-up tasks: from captured calls' `next_follow_up`, and those staff
//! create on a lead.

use sea_orm::entity::prelude::*;

/// One follow-up: one per captured call (a repeated call updates it), or
/// one a staff member created.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "follow_ups")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// The captured call it came from; empty when staff created it.
    #[sea_orm(unique)]
    pub call_record_id: Option<Uuid>,
    pub lead_id: Option<Uuid>,
    /// The customer, E.164, when known.
    pub phone: Option<String>,
    /// `next_follow_up`, a date in India.
    pub due_date: Date,
    /// `next_follow_up_time`, IST.
    pub due_time: Option<Time>,
    /// The moment it is due (the day's start in IST when no time was given).
    pub due_at: DateTimeUtc,
    /// `auto_call_followup`.
    pub auto_call: bool,
    pub notes: Option<String>,
    pub done_at: Option<DateTimeUtc>,
    pub done_by: Option<String>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    /// Whose task it is (empty: the lead's owner's, or anyone's).
    pub assignee_id: Option<Uuid>,
    /// The staff account that created it (empty: a captured call did).
    pub created_by: Option<Uuid>,
    /// When its coming due was announced (empty: not yet; cleared when a
    /// repeated call moves it).
    pub due_notified_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
