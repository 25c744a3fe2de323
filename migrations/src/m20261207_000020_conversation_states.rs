//! A WhatsApp conversation's status (issue 23): open, pending, resolved or
//! snoozed (until a time, or until the customer writes). No row: open. A
//! new message from the customer reopens a resolved or snoozed one.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{
    string_len, string_len_null, timestamp_with_time_zone, timestamp_with_time_zone_null,
};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum ConversationStates {
    Table,
    /// The customer, E.164 (the conversation's key, as in
    /// `conversation_reads`).
    Phone,
    Status,
    SnoozedUntil,
    ChangedBy,
    ChangedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(ConversationStates::Table)
                    .if_not_exists()
                    .col(string_len(ConversationStates::Phone, 32).primary_key())
                    .col(string_len(ConversationStates::Status, 16))
                    .col(timestamp_with_time_zone_null(
                        ConversationStates::SnoozedUntil,
                    ))
                    .col(string_len_null(ConversationStates::ChangedBy, 64))
                    .col(timestamp_with_time_zone(ConversationStates::ChangedAt))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(ConversationStates::Table).to_owned())
            .await
    }
}
