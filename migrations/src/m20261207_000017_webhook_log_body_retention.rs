//! Retention of raw bodies (issue 24): a webhook-log entry's body is
//! dropped once it is older than `RAW_BODY_RETENTION_DAYS`, and
//! `body_dropped_at` says when, so the log can tell a dropped body from an
//! empty one. The partial index is the retention sweep's question: bodies
//! still kept, oldest first.

use sea_orm::ConnectionTrait;
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum WebhookLog {
    Table,
    BodyDroppedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(WebhookLog::Table)
                    .add_column(
                        ColumnDef::new(WebhookLog::BodyDroppedAt)
                            .timestamp_with_time_zone()
                            .null(),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .get_connection()
            .execute_unprepared(
                "CREATE INDEX IF NOT EXISTS idx_webhook_log_body_kept ON webhook_log (received_at) WHERE body_dropped_at IS NULL",
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared("DROP INDEX IF EXISTS idx_webhook_log_body_kept")
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(WebhookLog::Table)
                    .drop_column(WebhookLog::BodyDroppedAt)
                    .to_owned(),
            )
            .await
    }
}
