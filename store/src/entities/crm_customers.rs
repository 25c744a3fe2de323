//! CRM customers: converted leads and their order and payment figures.

use sea_orm::entity::prelude::*;

/// One customer.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "crm_customers")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    #[sea_orm(unique)]
    pub lead_id: String,
    #[sea_orm(unique)]
    pub customer_code: Option<String>,
    /// Every field sent with the conversion.
    #[sea_orm(column_type = "JsonBinary")]
    pub data: Json,
    pub orders_count: i32,
    pub orders_total: f64,
    pub payments_count: i32,
    pub payments_total: f64,
    pub credit_limit: Option<f64>,
    pub payment_terms: Option<String>,
    pub notes: Option<String>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
