//! The audit of staff access to personal data (issue 24): who viewed which
//! lead, conversation or delivery body, who exported what, who signed in;
//! from which address, when. Never the number itself: a lead or delivery
//! id, or a hash. Kept a year.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum StaffAccessLog {
    Table,
    Id,
    At,
    /// The account (empty: the command line).
    UserId,
    Username,
    /// `signed_in`, `lead_viewed`, `conversation_viewed`,
    /// `delivery_viewed`, `leads_exported`, `person_exported`.
    Action,
    /// A lead or delivery id, or `sha256:` of a number; empty when none.
    Subject,
    /// The client's address.
    Address,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(StaffAccessLog::Table)
                    .if_not_exists()
                    .col(uuid(StaffAccessLog::Id).primary_key())
                    .col(timestamp_with_time_zone(StaffAccessLog::At))
                    .col(uuid_null(StaffAccessLog::UserId))
                    .col(string_len(StaffAccessLog::Username, 64))
                    .col(string_len(StaffAccessLog::Action, 32))
                    .col(string_len_null(StaffAccessLog::Subject, 80))
                    .col(string_len_null(StaffAccessLog::Address, 64))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .if_not_exists()
                    .name("idx_staff_access_log_at")
                    .table(StaffAccessLog::Table)
                    .col(StaffAccessLog::At)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(StaffAccessLog::Table).to_owned())
            .await
    }
}
