//! Follow-ups coming due are announced to whoever must do them (issue 27):
//! `due_notified_at` records that it was, so it happens once per due time
//! whatever the number of workers. Follow-ups already stored count as
//! announced (an upgrade does not announce every old one at once).

use sea_orm::ConnectionTrait;
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum FollowUps {
    Table,
    DueNotifiedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(FollowUps::Table)
                    .add_column(
                        ColumnDef::new(FollowUps::DueNotifiedAt)
                            .timestamp_with_time_zone()
                            .null(),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .get_connection()
            .execute_unprepared("UPDATE follow_ups SET due_notified_at = due_at")
            .await?;
        // The sweep's question: not done, not announced, due by now.
        manager
            .get_connection()
            .execute_unprepared(
                "CREATE INDEX IF NOT EXISTS idx_follow_ups_unannounced ON follow_ups (due_at) WHERE done_at IS NULL AND due_notified_at IS NULL",
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared("DROP INDEX IF EXISTS idx_follow_ups_unannounced")
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(FollowUps::Table)
                    .drop_column(FollowUps::DueNotifiedAt)
                    .to_owned(),
            )
            .await
    }
}
