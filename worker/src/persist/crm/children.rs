//! A record's contacts, memos and activities.

use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{DatabaseTransaction, DbErr};
use serde_json::{Map, Value};
use shared::contracts::crm_fields::{ACTIVITY_FIELDS, CONTACT_FIELDS, MEMO_FIELDS, TypedField};

use super::*;

/// Contacts, memos and activities: their table and typed columns.
pub(super) type ChildTable = (fn() -> &'static str, &'static [TypedField]);
pub(super) const CONTACTS: ChildTable = (|| crm_contacts::Entity.table_name(), CONTACT_FIELDS);
pub(super) const MEMOS: ChildTable = (|| crm_memos::Entity.table_name(), MEMO_FIELDS);
pub(super) const ACTIVITIES: ChildTable = (|| crm_activities::Entity.table_name(), ACTIVITY_FIELDS);

/// Adds a contact, memo or activity to a pre-lead or lead.
pub(super) async fn child(
    txn: &DatabaseTransaction,
    (table, fields): ChildTable,
    kind: Kind,
    subject: &str,
    id: &str,
    child_kind: Option<&str>,
    data: &Map<String, Value>,
) -> Result<(), DbErr> {
    let mut values = vec![
        ("id", text(id)),
        ("subject_kind", text(kind.name)),
        ("subject_id", text(subject)),
        ("kind", Expr::val(child_kind.map(str::to_owned))),
        ("data", json(data)),
        ("created_at", now()),
    ];
    values.extend(typed(fields, data));
    insert(
        txn,
        table(),
        values,
        OnConflict::column(t("id")).do_nothing().to_owned(),
    )
    .await
}
