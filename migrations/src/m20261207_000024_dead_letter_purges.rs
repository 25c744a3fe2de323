//! Dead letters purged by retention (issue 24): how many went, by source
//! and reason, each round (no bodies, no ids).

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{big_integer, string_len, text, timestamp_with_time_zone, uuid};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum DeadLetterPurges {
    Table,
    Id,
    PurgedAt,
    Source,
    Reason,
    Count,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(DeadLetterPurges::Table)
                    .if_not_exists()
                    .col(uuid(DeadLetterPurges::Id).primary_key())
                    .col(timestamp_with_time_zone(DeadLetterPurges::PurgedAt))
                    .col(string_len(DeadLetterPurges::Source, 32))
                    .col(text(DeadLetterPurges::Reason))
                    .col(big_integer(DeadLetterPurges::Count))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(DeadLetterPurges::Table).to_owned())
            .await
    }
}
