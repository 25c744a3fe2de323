//! WhatsApp conversations' statuses (no row: open).

use sea_orm::entity::prelude::*;

/// One conversation's status, set by staff; a new message from the
/// customer reopens it when resolved or snoozed (the worker).
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "conversation_states")]
pub struct Model {
    /// The customer, E.164.
    #[sea_orm(primary_key, auto_increment = false)]
    pub phone: String,
    /// See [`crate::conversations`].
    pub status: String,
    /// Snoozed until then; `None` with `snoozed`: until the customer writes.
    pub snoozed_until: Option<DateTimeUtc>,
    /// The staff member who set it (`None`: the customer's message).
    pub changed_by: Option<String>,
    pub changed_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
