//! The webhook log: what became of every delivery (processed, duplicate,
//! retrying, dead-lettered), with its reason, attempts and raw body. It
//! replaces the bare `processed_messages` ledger: a `processed` row written
//! in the same transaction as a message's effects is what makes redelivery
//! harmless.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum WebhookLog {
    Table,
    IngestId,
    Source,
    ReceivedAt,
    Status,
    Reason,
    Attempts,
    IdempotencyKey,
    PartnerRef,
    Body,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum ProcessedMessages {
    Table,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(WebhookLog::Table)
                    .if_not_exists()
                    .col(uuid(WebhookLog::IngestId).primary_key())
                    .col(string_len(WebhookLog::Source, 32))
                    .col(timestamp_with_time_zone(WebhookLog::ReceivedAt))
                    // processed | duplicate | retrying | dead_lettered
                    .col(string_len(WebhookLog::Status, 16))
                    .col(text_null(WebhookLog::Reason))
                    .col(integer(WebhookLog::Attempts))
                    // The partner's Idempotency-Key or webhook-id: unique per
                    // source, so a partner's retry is recognised by the index.
                    .col(string_len_null(WebhookLog::IdempotencyKey, 300))
                    // The partner's own id for the record (call_id, wamid, …).
                    .col(string_len_null(WebhookLog::PartnerRef, 255))
                    .col(text(WebhookLog::Body))
                    .col(timestamp_with_time_zone(WebhookLog::CreatedAt))
                    .col(timestamp_with_time_zone(WebhookLog::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .if_not_exists()
                    .name("uq_webhook_log_idempotency")
                    .table(WebhookLog::Table)
                    .col(WebhookLog::Source)
                    .col(WebhookLog::IdempotencyKey)
                    .unique()
                    .to_owned(),
            )
            .await?;
        for (name, column) in [
            ("idx_webhook_log_received", WebhookLog::ReceivedAt),
            ("idx_webhook_log_partner_ref", WebhookLog::PartnerRef),
        ] {
            manager
                .create_index(
                    Index::create()
                        .if_not_exists()
                        .name(name)
                        .table(WebhookLog::Table)
                        .col(column)
                        .to_owned(),
                )
                .await?;
        }
        // Deliveries processed before the log existed stay recognised.
        let copy = "INSERT INTO webhook_log (ingest_id, source, received_at, status, attempts, body, created_at, updated_at) \
                    SELECT ingest_id, source, received_at, 'processed', 1, '', processed_at, processed_at FROM processed_messages";
        manager.get_connection().execute_unprepared(copy).await?;
        manager
            .drop_table(Table::drop().table(ProcessedMessages::Table).to_owned())
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(WebhookLog::Table).to_owned())
            .await
    }
}
