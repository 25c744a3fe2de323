//! Each failure of a delivery (retrying, dead-lettered), kept after the
//! delivery succeeds: the webhook log holds only the last outcome, and the
//! message's own history leaves with the message once it is processed.
//! Operators read it in the console as the delivery's reason history.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum WebhookLogEvents {
    Table,
    Id,
    IngestId,
    At,
    Status,
    Reason,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(WebhookLogEvents::Table)
                    .if_not_exists()
                    // UUID v7: ordered by time, the same on both databases.
                    .col(uuid(WebhookLogEvents::Id).primary_key())
                    .col(uuid(WebhookLogEvents::IngestId))
                    .col(timestamp_with_time_zone(WebhookLogEvents::At))
                    // retrying | dead_lettered
                    .col(string_len(WebhookLogEvents::Status, 16))
                    .col(text(WebhookLogEvents::Reason))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .if_not_exists()
                    .name("idx_webhook_log_events_ingest_id")
                    .table(WebhookLogEvents::Table)
                    .col(WebhookLogEvents::IngestId)
                    .col(WebhookLogEvents::At)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(WebhookLogEvents::Table).to_owned())
            .await
    }
}
