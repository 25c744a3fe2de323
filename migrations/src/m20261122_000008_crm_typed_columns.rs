//! The CRM contract's fields in typed columns (names, e-mail, phone in
//! E.164, company, city, expected value, …; see
//! `shared::contracts::crm_fields`), so staff and other systems query CRM
//! records without reading JSON. `data` keeps every field sent. Records
//! stored before this migration are filled from their `data`.

use sea_orm::{ConnectionTrait, QueryResult, Value as Db};
use sea_orm_migration::prelude::*;
use serde_json::{Map, Value};
use shared::contracts::crm_fields::{FieldKind, TABLES, Typed, read_all};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// Tables whose people are looked up by phone.
const BY_PHONE: [&str; 2] = ["crm_pre_leads", "crm_leads"];

fn column(name: &str, kind: FieldKind) -> ColumnDef {
    let mut def = ColumnDef::new(Alias::new(name));
    match kind {
        FieldKind::Text | FieldKind::Phone => def.text(),
        FieldKind::Number => def.double(),
        FieldKind::Flag => def.boolean(),
        FieldKind::Time => def.timestamp_with_time_zone(),
    };
    def.null().to_owned()
}

fn db_value(typed: Typed) -> Db {
    match typed {
        Typed::Text(v) => v.into(),
        Typed::Number(v) => v.into(),
        Typed::Flag(v) => v.into(),
        Typed::Time(v) => v.into(),
    }
}

fn data(row: &QueryResult) -> Result<Map<String, Value>, DbErr> {
    let value: Value = row.try_get("", "data")?;
    Ok(match value {
        Value::Object(map) => map,
        // SQLite may hand JSON back as text.
        Value::String(text) => serde_json::from_str(&text).unwrap_or_default(),
        _ => Map::new(),
    })
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (table, fields) in TABLES {
            // One column per statement: SQLite adds one at a time.
            for field in *fields {
                manager
                    .alter_table(
                        Table::alter()
                            .table(Alias::new(*table))
                            .add_column(column(field.column, field.kind))
                            .to_owned(),
                    )
                    .await?;
            }
        }
        for table in BY_PHONE {
            manager
                .create_index(
                    Index::create()
                        .name(format!("idx_{table}_phone"))
                        .table(Alias::new(table))
                        .col(Alias::new("phone"))
                        .to_owned(),
                )
                .await?;
        }
        let db = manager.get_connection();
        for (table, fields) in TABLES {
            let rows = db
                .query_all(
                    &Query::select()
                        .columns([Alias::new("id"), Alias::new("data")])
                        .from(Alias::new(*table))
                        .to_owned(),
                )
                .await?;
            for row in rows {
                let id: String = row.try_get("", "id")?;
                let mut update = Query::update();
                update
                    .table(Alias::new(*table))
                    .and_where(Expr::col(Alias::new("id")).eq(id));
                for (column, value) in read_all(fields, &data(&row)?) {
                    update.value(Alias::new(column), db_value(value));
                }
                db.execute(&update).await?;
            }
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in BY_PHONE {
            manager
                .drop_index(
                    Index::drop()
                        .name(format!("idx_{table}_phone"))
                        .table(Alias::new(table))
                        .to_owned(),
                )
                .await?;
        }
        for (table, fields) in TABLES {
            for field in *fields {
                manager
                    .alter_table(
                        Table::alter()
                            .table(Alias::new(*table))
                            .drop_column(Alias::new(field.column))
                            .to_owned(),
                    )
                    .await?;
            }
        }
        Ok(())
    }
}
