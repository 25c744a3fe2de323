//! Unified leads (one per phone number) with their touchpoints, and the rows
//! of the WhatsApp, digital-lead and call-capture sources.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Leads {
    Table,
    Id,
    Phone,
    Name,
    Email,
    LeadQuality,
    IsLead,
    FirstSource,
    FirstSeenAt,
    LastSeenAt,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum LeadTouchpoints {
    Table,
    Id,
    LeadId,
    Source,
    OccurredAt,
    Summary,
    IngestId,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Calls {
    Table,
    LeadId,
}

#[derive(DeriveIden)]
enum WhatsappMessages {
    Table,
    Wamid,
    LeadId,
    Direction,
    FromNumber,
    ProfileName,
    Kind,
    Text,
    Media,
    BusinessNumber,
    SentAt,
    Status,
    StatusRank,
    StatusAt,
    Recipient,
    IngestId,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum DigitalLeads {
    Table,
    Id,
    Platform,
    Name,
    Phone,
    CarModel,
    LeadUrl,
    Campaign,
    PartnerSource,
    Payload,
    ReceivedAt,
    ReceivedMicros,
    LeadId,
    CreatedAt,
}

#[derive(DeriveIden)]
enum CallRecords {
    Table,
    Id,
    CompanyId,
    PartnerLeadId,
    EmployeeId,
    Outcome,
    Notes,
    CallDate,
    CallerNumber,
    RecipientNumber,
    DurationSeconds,
    RecordingUrl,
    CallStatus,
    StartTime,
    EndTime,
    ExternalCallId,
    ExternalSystem,
    ExternalKey,
    NextFollowUp,
    NextFollowUpTime,
    AutoCallFollowup,
    CallDetails,
    Extra,
    LeadId,
    EventCount,
    LastEventAt,
    CreatedAt,
    UpdatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Leads::Table)
                    .if_not_exists()
                    // Derived from the phone number (UUID v5), so every worker
                    // names the same lead without reading it back.
                    .col(uuid(Leads::Id).primary_key())
                    // E.164: one lead per person, whichever partner told us.
                    .col(string_len_uniq(Leads::Phone, 32))
                    .col(text_null(Leads::Name))
                    .col(text_null(Leads::Email))
                    .col(string_len_null(Leads::LeadQuality, 16))
                    .col(boolean_null(Leads::IsLead))
                    .col(string_len(Leads::FirstSource, 32))
                    .col(timestamp_with_time_zone(Leads::FirstSeenAt))
                    .col(timestamp_with_time_zone(Leads::LastSeenAt))
                    .col(timestamp_with_time_zone(Leads::CreatedAt))
                    .col(timestamp_with_time_zone(Leads::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(LeadTouchpoints::Table)
                    .if_not_exists()
                    // Derived from what it records (a message, a call event),
                    // so a redelivery cannot add a second one.
                    .col(uuid(LeadTouchpoints::Id).primary_key())
                    .col(uuid(LeadTouchpoints::LeadId))
                    .col(string_len(LeadTouchpoints::Source, 32))
                    .col(timestamp_with_time_zone(LeadTouchpoints::OccurredAt))
                    .col(text(LeadTouchpoints::Summary))
                    .col(uuid(LeadTouchpoints::IngestId))
                    .col(timestamp_with_time_zone(LeadTouchpoints::CreatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .if_not_exists()
                    .name("idx_lead_touchpoints_lead_time")
                    .table(LeadTouchpoints::Table)
                    .col(LeadTouchpoints::LeadId)
                    .col(LeadTouchpoints::OccurredAt)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Calls::Table)
                    .add_column(uuid_null(Calls::LeadId))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(WhatsappMessages::Table)
                    .if_not_exists()
                    // The WhatsApp message id: a message is stored once.
                    .col(string_len(WhatsappMessages::Wamid, 255).primary_key())
                    .col(uuid_null(WhatsappMessages::LeadId))
                    .col(string_len_null(WhatsappMessages::Direction, 16))
                    .col(string_len_null(WhatsappMessages::FromNumber, 32))
                    .col(text_null(WhatsappMessages::ProfileName))
                    .col(string_len_null(WhatsappMessages::Kind, 64))
                    .col(text_null(WhatsappMessages::Text))
                    .col(json_binary_null(WhatsappMessages::Media))
                    .col(string_len_null(WhatsappMessages::BusinessNumber, 32))
                    .col(timestamp_with_time_zone_null(WhatsappMessages::SentAt))
                    .col(string_len_null(WhatsappMessages::Status, 16))
                    // sent 1 < delivered 2 < read 3 < failed 4: a status
                    // update applies only if it moves forward.
                    .col(integer(WhatsappMessages::StatusRank))
                    .col(timestamp_with_time_zone_null(WhatsappMessages::StatusAt))
                    .col(string_len_null(WhatsappMessages::Recipient, 32))
                    .col(uuid_null(WhatsappMessages::IngestId))
                    .col(timestamp_with_time_zone(WhatsappMessages::CreatedAt))
                    .col(timestamp_with_time_zone(WhatsappMessages::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(DigitalLeads::Table)
                    .if_not_exists()
                    .col(uuid(DigitalLeads::Id).primary_key())
                    .col(string_len(DigitalLeads::Platform, 16))
                    .col(text(DigitalLeads::Name))
                    .col(string_len(DigitalLeads::Phone, 32))
                    .col(text_null(DigitalLeads::CarModel))
                    .col(text_null(DigitalLeads::LeadUrl))
                    .col(text_null(DigitalLeads::Campaign))
                    .col(text_null(DigitalLeads::PartnerSource))
                    .col(json_binary(DigitalLeads::Payload))
                    .col(timestamp_with_time_zone(DigitalLeads::ReceivedAt))
                    .col(big_integer(DigitalLeads::ReceivedMicros))
                    .col(uuid(DigitalLeads::LeadId))
                    .col(timestamp_with_time_zone(DigitalLeads::CreatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .if_not_exists()
                    .name("idx_digital_leads_platform_phone_time")
                    .table(DigitalLeads::Table)
                    .col(DigitalLeads::Platform)
                    .col(DigitalLeads::Phone)
                    .col(DigitalLeads::ReceivedMicros)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(CallRecords::Table)
                    .if_not_exists()
                    // The call_history_id the edge returned to the partner.
                    .col(uuid(CallRecords::Id).primary_key())
                    .col(uuid(CallRecords::CompanyId))
                    .col(uuid_null(CallRecords::PartnerLeadId))
                    .col(uuid_null(CallRecords::EmployeeId))
                    .col(string_len_null(CallRecords::Outcome, 32))
                    .col(text_null(CallRecords::Notes))
                    .col(timestamp_with_time_zone(CallRecords::CallDate))
                    .col(string_len_null(CallRecords::CallerNumber, 64))
                    .col(string_len_null(CallRecords::RecipientNumber, 64))
                    .col(big_integer_null(CallRecords::DurationSeconds))
                    .col(text_null(CallRecords::RecordingUrl))
                    .col(string_len_null(CallRecords::CallStatus, 32))
                    .col(timestamp_with_time_zone_null(CallRecords::StartTime))
                    .col(timestamp_with_time_zone_null(CallRecords::EndTime))
                    .col(string_len_null(CallRecords::ExternalCallId, 255))
                    .col(string_len_null(CallRecords::ExternalSystem, 255))
                    // external_system + external_call_id, when the call id is
                    // sent: the unique index makes a repeat update the record.
                    .col(string_len_null(CallRecords::ExternalKey, 520).unique_key())
                    .col(date_null(CallRecords::NextFollowUp))
                    .col(time_null(CallRecords::NextFollowUpTime))
                    .col(boolean_null(CallRecords::AutoCallFollowup))
                    .col(json_binary_null(CallRecords::CallDetails))
                    .col(json_binary_null(CallRecords::Extra))
                    .col(uuid_null(CallRecords::LeadId))
                    .col(integer(CallRecords::EventCount))
                    .col(big_integer(CallRecords::LastEventAt))
                    .col(timestamp_with_time_zone(CallRecords::CreatedAt))
                    .col(timestamp_with_time_zone(CallRecords::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            CallRecords::Table.into_iden(),
            DigitalLeads::Table.into_iden(),
            WhatsappMessages::Table.into_iden(),
            LeadTouchpoints::Table.into_iden(),
            Leads::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        manager
            .alter_table(
                Table::alter()
                    .table(Calls::Table)
                    .drop_column(Calls::LeadId)
                    .to_owned(),
            )
            .await
    }
}
