//! Erasures (issue 24): each person erased on an operator's request, under
//! the request's id, with who asked, when, a hash of the number (never the
//! number) and how many rows each table lost, and how many dead letters
//! about them were purged (empty until that step is done).

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{
    big_integer_null, json_binary, string_len, timestamp_with_time_zone, uuid,
};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Erasures {
    Table,
    Id,
    Subject,
    RequestedBy,
    RequestedAt,
    ErasedAt,
    Counts,
    DeadLettersPurged,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Erasures::Table)
                    .if_not_exists()
                    .col(uuid(Erasures::Id).primary_key())
                    .col(string_len(Erasures::Subject, 64))
                    .col(string_len(Erasures::RequestedBy, 255))
                    .col(timestamp_with_time_zone(Erasures::RequestedAt))
                    .col(timestamp_with_time_zone(Erasures::ErasedAt))
                    .col(json_binary(Erasures::Counts))
                    .col(big_integer_null(Erasures::DeadLettersPurged))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Erasures::Table).to_owned())
            .await
    }
}
