//! Tata call events (one row per `call_id`) and the processed-message
//! ledger that makes redelivery harmless.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Calls {
    Table,
    Id,
    CallId,
    CallSid,
    CallerNumber,
    CallerName,
    CallStartTime,
    CallEndTime,
    CallDuration,
    CallStatus,
    StaffName,
    StaffId,
    RecordingUrl,
    DispositionCode,
    DispositionName,
    DispositionCategory,
    DispositionNotes,
    CustomerName,
    CustomerEmail,
    CustomerAddress,
    VehicleModel,
    VehicleVariant,
    IsLead,
    LeadQuality,
    Extra,
    EventCount,
    LastEventAt,
    LastIngestId,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum ProcessedMessages {
    Table,
    IngestId,
    Source,
    ReceivedAt,
    ProcessedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(ProcessedMessages::Table)
                    .if_not_exists()
                    // The ingest id: inserting it in the same transaction as a
                    // message's effects makes a second delivery a no-op.
                    .col(uuid(ProcessedMessages::IngestId).primary_key())
                    .col(string_len(ProcessedMessages::Source, 64))
                    .col(timestamp_with_time_zone(ProcessedMessages::ReceivedAt))
                    .col(timestamp_with_time_zone(ProcessedMessages::ProcessedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Calls::Table)
                    .if_not_exists()
                    .col(uuid(Calls::Id).primary_key())
                    // The call's identity: the unique index is what makes
                    // concurrent upserts of the same call land on one row.
                    .col(string_len_uniq(Calls::CallId, 255))
                    .col(string_len_null(Calls::CallSid, 255))
                    .col(string_len(Calls::CallerNumber, 32))
                    .col(text_null(Calls::CallerName))
                    .col(timestamp_with_time_zone(Calls::CallStartTime))
                    .col(timestamp_with_time_zone_null(Calls::CallEndTime))
                    .col(big_integer_null(Calls::CallDuration))
                    .col(string_len_null(Calls::CallStatus, 32))
                    .col(text_null(Calls::StaffName))
                    .col(string_len_null(Calls::StaffId, 255))
                    .col(text_null(Calls::RecordingUrl))
                    .col(string_len_null(Calls::DispositionCode, 255))
                    .col(string_len_null(Calls::DispositionName, 64))
                    .col(string_len_null(Calls::DispositionCategory, 32))
                    .col(text_null(Calls::DispositionNotes))
                    .col(text_null(Calls::CustomerName))
                    .col(text_null(Calls::CustomerEmail))
                    .col(text_null(Calls::CustomerAddress))
                    .col(text_null(Calls::VehicleModel))
                    .col(text_null(Calls::VehicleVariant))
                    .col(boolean_null(Calls::IsLead))
                    .col(string_len_null(Calls::LeadQuality, 16))
                    // Fields the contract does not name, as sent.
                    .col(json_binary_null(Calls::Extra))
                    .col(integer(Calls::EventCount))
                    // Microseconds since the epoch of the newest event applied
                    // (edge receive time): an older event arriving late only
                    // fills gaps, it never overwrites newer values.
                    .col(big_integer(Calls::LastEventAt))
                    .col(uuid(Calls::LastIngestId))
                    .col(timestamp_with_time_zone(Calls::CreatedAt))
                    .col(timestamp_with_time_zone(Calls::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .if_not_exists()
                    .name("idx_calls_caller_number")
                    .table(Calls::Table)
                    .col(Calls::CallerNumber)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Calls::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(ProcessedMessages::Table).to_owned())
            .await
    }
}
