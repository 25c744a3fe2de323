//! The CRM microservice's records: pre-leads, leads, their contacts, memos,
//! activities, qualified profiles and status histories, and customers.
//! Ids are text: the edge assigns UUIDs, the CRM's own may be integers.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// Column names, shared by several tables.
#[derive(DeriveIden)]
enum Col {
    Id,
    Status,
    InitialStatus,
    Priority,
    Discarded,
    DiscardReason,
    ConvertedLeadId,
    PreLeadId,
    CustomerId,
    Data,
    SubjectKind,
    SubjectId,
    LeadId,
    OldStatus,
    NewStatus,
    Remarks,
    EventAt,
    IngestId,
    CustomerCode,
    OrdersCount,
    OrdersTotal,
    PaymentsCount,
    PaymentsTotal,
    Kind,
    CreatedAt,
    UpdatedAt,
}

fn record(name: &str) -> TableCreateStatement {
    Table::create()
        .table(Alias::new(name))
        .if_not_exists()
        .col(string_len(Col::Id, 64).primary_key())
        .to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (name, is_lead) in [("crm_pre_leads", false), ("crm_leads", true)] {
            let mut table = record(name);
            table
                .col(string_len(Col::Status, 32))
                // The status at creation: the history's first "old status".
                .col(string_len(Col::InitialStatus, 32))
                .col(string_len_null(Col::Priority, 16))
                .col(boolean(Col::Discarded))
                .col(text_null(Col::DiscardReason))
                // Every field the CRM sent, merged over time (only fields sent change).
                .col(json_binary(Col::Data))
                .col(timestamp_with_time_zone(Col::CreatedAt))
                .col(timestamp_with_time_zone(Col::UpdatedAt));
            if is_lead {
                table
                    .col(string_len_null(Col::PreLeadId, 64))
                    .col(string_len_null(Col::CustomerId, 64));
            } else {
                table.col(string_len_null(Col::ConvertedLeadId, 64));
            }
            manager.create_table(table).await?;
        }
        for name in ["crm_contacts", "crm_memos", "crm_activities"] {
            manager
                .create_table(
                    record(name)
                        // `pre_lead` or `lead`.
                        .col(string_len(Col::SubjectKind, 16))
                        .col(string_len(Col::SubjectId, 64))
                        .col(string_len_null(Col::Kind, 32))
                        .col(json_binary(Col::Data))
                        .col(timestamp_with_time_zone(Col::CreatedAt))
                        .to_owned(),
                )
                .await?;
        }
        manager
            .create_table(
                record("crm_qualified_profiles")
                    // One profile per lead, created or updated.
                    .col(string_len_uniq(Col::LeadId, 64))
                    .col(json_binary(Col::Data))
                    .col(timestamp_with_time_zone(Col::CreatedAt))
                    .col(timestamp_with_time_zone(Col::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                record("crm_status_history")
                    .col(string_len(Col::SubjectKind, 16))
                    .col(string_len(Col::SubjectId, 64))
                    // The status before this change in event order (repaired
                    // when an older change arrives late).
                    .col(string_len(Col::OldStatus, 32))
                    .col(string_len(Col::NewStatus, 32))
                    .col(text_null(Col::Remarks))
                    // When the change happened (status_date, else receive
                    // time), in microseconds: orders the history.
                    .col(big_integer(Col::EventAt))
                    .col(uuid(Col::IngestId))
                    .col(timestamp_with_time_zone(Col::CreatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .if_not_exists()
                    .name("idx_crm_status_history_subject")
                    .table(Alias::new("crm_status_history"))
                    .col(Col::SubjectKind)
                    .col(Col::SubjectId)
                    .col(Col::EventAt)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                record("crm_customers")
                    .col(string_len_uniq(Col::LeadId, 64))
                    .col(string_len_null(Col::CustomerCode, 255).unique_key())
                    .col(json_binary(Col::Data))
                    .col(integer(Col::OrdersCount))
                    .col(double(Col::OrdersTotal))
                    .col(integer(Col::PaymentsCount))
                    .col(double(Col::PaymentsTotal))
                    .col(timestamp_with_time_zone(Col::CreatedAt))
                    .col(timestamp_with_time_zone(Col::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for name in [
            "crm_customers",
            "crm_status_history",
            "crm_qualified_profiles",
            "crm_activities",
            "crm_memos",
            "crm_contacts",
            "crm_leads",
            "crm_pre_leads",
        ] {
            manager
                .drop_table(Table::drop().table(Alias::new(name)).to_owned())
                .await?;
        }
        Ok(())
    }
}
