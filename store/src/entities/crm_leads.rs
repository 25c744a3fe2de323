//! The CRM's leads.

use sea_orm::entity::prelude::*;

/// One lead.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "crm_leads")]
pub struct Model {
    /// The id the edge assigned (or the CRM's own).
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    /// Current status: that of the newest change in event order.
    pub status: String,
    /// The status at creation.
    pub initial_status: String,
    pub priority: Option<String>,
    pub discarded: bool,
    pub discard_reason: Option<String>,
    /// Every field the CRM sent, merged over time.
    #[sea_orm(column_type = "JsonBinary")]
    pub data: Json,
    /// When `data` last changed (event time, microseconds).
    pub data_event_at: Option<i64>,
    /// The pre-lead it came from.
    pub pre_lead_id: Option<String>,
    /// The customer it was converted to.
    pub customer_id: Option<String>,
    /// Contract fields in typed columns (`shared::contracts::crm_fields`);
    /// `data` holds every field sent.
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub email: Option<String>,
    /// E.164, when the CRM sent a valid number.
    pub phone: Option<String>,
    pub company_name: Option<String>,
    /// `data.source`: where the person came from (`website`, `referral`, …).
    pub source: Option<String>,
    pub product_interest: Option<String>,
    pub requirements: Option<String>,
    pub expected_value: Option<f64>,
    /// The CRM's user id, as text.
    pub assigned_to: Option<String>,
    pub address_line1: Option<String>,
    pub address_line2: Option<String>,
    pub city: Option<String>,
    pub state: Option<String>,
    pub country: Option<String>,
    pub zip_code: Option<String>,
    pub notes: Option<String>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
