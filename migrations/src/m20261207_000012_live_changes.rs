//! The console's change feed (issue 27): one row per change a staff
//! member's open page should hear of (a customer wrote, a reply moved on, a
//! lead was created, assigned, moved or went overdue, a notification was
//! raised), written in the transaction that made the change. Every console
//! process reads it in order and pushes it to its own pages, so the
//! database's load does not grow with the number of open pages; ids let a
//! page that lost its connection resume where it was.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden, Clone)]
enum LiveChanges {
    Table,
    /// Increasing; the Server-Sent Event's id.
    Id,
    /// `message`, `reply`, `lead` or `notification`.
    Kind,
    /// The lead it is about, when there is one.
    LeadId,
    /// The one staff member it is for (a notification); empty: whoever
    /// may see the lead.
    UserId,
    /// When it was written (old rows are removed).
    CreatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(LiveChanges::Table)
                    .if_not_exists()
                    .col(big_pk_auto(LiveChanges::Id))
                    .col(string_len(LiveChanges::Kind, 24))
                    .col(uuid_null(LiveChanges::LeadId))
                    .col(uuid_null(LiveChanges::UserId))
                    .col(timestamp_with_time_zone(LiveChanges::CreatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .if_not_exists()
                    .name("idx_live_changes_created_at")
                    .table(LiveChanges::Table)
                    .col(LiveChanges::CreatedAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // Only hints for open pages: nothing is lost with it.
        manager
            .drop_table(Table::drop().table(LiveChanges::Table).to_owned())
            .await
    }
}
