//! CarDekho and CarWale leads, as received.

use sea_orm::entity::prelude::*;

/// One lead push.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "digital_leads")]
pub struct Model {
    /// The ingest id.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// `CarDekho` or `CarWale`.
    pub platform: String,
    pub name: String,
    /// E.164.
    pub phone: String,
    pub car_model: Option<String>,
    pub lead_url: Option<String>,
    pub campaign: Option<String>,
    /// The partner's own `source` field.
    pub partner_source: Option<String>,
    /// The entire body, as sent.
    #[sea_orm(column_type = "JsonBinary")]
    pub payload: Json,
    pub received_at: DateTimeUtc,
    /// `received_at` in microseconds, for the duplicate window.
    pub received_micros: i64,
    pub lead_id: Uuid,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
