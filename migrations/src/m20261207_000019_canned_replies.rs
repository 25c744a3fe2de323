//! Canned replies (issue 23): a team's shared WhatsApp answers, which staff
//! insert in the chat panel by typing `/` and the shortcut; `{name}` and
//! `{vehicle}` are filled from the lead. Managers keep them.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{string_len, text, timestamp_with_time_zone, uuid};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum CannedReplies {
    Table,
    Id,
    TeamId,
    /// Typed after `/`, unique within the team.
    Shortcut,
    Text,
    CreatedBy,
    CreatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(CannedReplies::Table)
                    .if_not_exists()
                    .col(uuid(CannedReplies::Id).primary_key())
                    .col(uuid(CannedReplies::TeamId))
                    .col(string_len(CannedReplies::Shortcut, 32))
                    .col(text(CannedReplies::Text))
                    .col(string_len(CannedReplies::CreatedBy, 64))
                    .col(timestamp_with_time_zone(CannedReplies::CreatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_canned_replies_team_shortcut")
                    .table(CannedReplies::Table)
                    .col(CannedReplies::TeamId)
                    .col(CannedReplies::Shortcut)
                    .unique()
                    .if_not_exists()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(CannedReplies::Table).to_owned())
            .await
    }
}
