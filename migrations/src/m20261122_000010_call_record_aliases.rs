//! Every `call_history_id` the edge returned for a call record that already
//! existed (a repeated `external_system` + `external_call_id`): the record
//! keeps its first id, and each later id resolves to it here.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum CallRecordAliases {
    Table,
    /// The `call_history_id` returned for the repeated call.
    Id,
    /// The record it resolves to (`call_records.id`).
    CallRecordId,
    CreatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(CallRecordAliases::Table)
                    .if_not_exists()
                    .col(uuid(CallRecordAliases::Id).primary_key())
                    .col(uuid(CallRecordAliases::CallRecordId))
                    .col(timestamp_with_time_zone(CallRecordAliases::CreatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .if_not_exists()
                    .name("idx_call_record_aliases_record")
                    .table(CallRecordAliases::Table)
                    .col(CallRecordAliases::CallRecordId)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(CallRecordAliases::Table).to_owned())
            .await
    }
}
