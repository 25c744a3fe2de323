//! The dealer console's tables: staff users and their sessions, WhatsApp
//! replies sent through Tata (with their delivery state), which
//! conversations staff have read, and follow-up tasks from captured calls;
//! and, on the unified lead, its current CRM status.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum StaffUsers {
    Table,
    Id,
    Username,
    PasswordHash,
    Role,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum StaffSessions {
    Table,
    /// SHA-256 of the cookie's token: a leaked table opens no session.
    TokenHash,
    UserId,
    CsrfToken,
    CreatedAt,
    ExpiresAt,
}

#[derive(DeriveIden)]
enum WhatsappReplies {
    Table,
    Id,
    Phone,
    LeadId,
    Body,
    State,
    Wamid,
    FailureReason,
    Attempts,
    RequestedBy,
    RequestedAt,
    SentAt,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum ConversationReads {
    Table,
    Phone,
    ReadAt,
}

#[derive(DeriveIden)]
enum Leads {
    Table,
    CrmStatus,
    CrmStatusAt,
}

#[derive(DeriveIden)]
enum FollowUps {
    Table,
    Id,
    CallRecordId,
    LeadId,
    Phone,
    DueDate,
    DueTime,
    DueAt,
    AutoCall,
    Notes,
    DoneAt,
    DoneBy,
    CreatedAt,
    UpdatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(StaffUsers::Table)
                    .if_not_exists()
                    .col(uuid(StaffUsers::Id).primary_key())
                    .col(string_len_uniq(StaffUsers::Username, 64))
                    .col(text(StaffUsers::PasswordHash))
                    .col(string_len(StaffUsers::Role, 16))
                    .col(timestamp_with_time_zone(StaffUsers::CreatedAt))
                    .col(timestamp_with_time_zone(StaffUsers::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(StaffSessions::Table)
                    .if_not_exists()
                    .col(string_len(StaffSessions::TokenHash, 64).primary_key())
                    .col(uuid(StaffSessions::UserId))
                    .col(string_len(StaffSessions::CsrfToken, 64))
                    .col(timestamp_with_time_zone(StaffSessions::CreatedAt))
                    .col(timestamp_with_time_zone(StaffSessions::ExpiresAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(WhatsappReplies::Table)
                    .if_not_exists()
                    .col(uuid(WhatsappReplies::Id).primary_key())
                    .col(string_len(WhatsappReplies::Phone, 32))
                    .col(uuid_null(WhatsappReplies::LeadId))
                    .col(text(WhatsappReplies::Body))
                    .col(string_len(WhatsappReplies::State, 16))
                    .col(string_len_null(WhatsappReplies::Wamid, 255))
                    .col(text_null(WhatsappReplies::FailureReason))
                    .col(integer(WhatsappReplies::Attempts))
                    .col(string_len(WhatsappReplies::RequestedBy, 64))
                    .col(timestamp_with_time_zone(WhatsappReplies::RequestedAt))
                    .col(timestamp_with_time_zone_null(WhatsappReplies::SentAt))
                    .col(timestamp_with_time_zone(WhatsappReplies::CreatedAt))
                    .col(timestamp_with_time_zone(WhatsappReplies::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(ConversationReads::Table)
                    .if_not_exists()
                    .col(string_len(ConversationReads::Phone, 32).primary_key())
                    .col(timestamp_with_time_zone(ConversationReads::ReadAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(FollowUps::Table)
                    .if_not_exists()
                    .col(uuid(FollowUps::Id).primary_key())
                    .col(uuid_uniq(FollowUps::CallRecordId))
                    .col(uuid_null(FollowUps::LeadId))
                    .col(string_len_null(FollowUps::Phone, 32))
                    .col(date(FollowUps::DueDate))
                    .col(time_null(FollowUps::DueTime))
                    .col(timestamp_with_time_zone(FollowUps::DueAt))
                    .col(boolean(FollowUps::AutoCall))
                    .col(text_null(FollowUps::Notes))
                    .col(timestamp_with_time_zone_null(FollowUps::DoneAt))
                    .col(string_len_null(FollowUps::DoneBy, 64))
                    .col(timestamp_with_time_zone(FollowUps::CreatedAt))
                    .col(timestamp_with_time_zone(FollowUps::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        for (name, table, columns) in [
            (
                "idx_whatsapp_replies_phone",
                WhatsappReplies::Table.into_iden(),
                vec![
                    WhatsappReplies::Phone.into_iden(),
                    WhatsappReplies::RequestedAt.into_iden(),
                ],
            ),
            (
                "idx_whatsapp_replies_wamid",
                WhatsappReplies::Table.into_iden(),
                vec![WhatsappReplies::Wamid.into_iden()],
            ),
            (
                "idx_follow_ups_due",
                FollowUps::Table.into_iden(),
                vec![FollowUps::DoneAt.into_iden(), FollowUps::DueAt.into_iden()],
            ),
            (
                "idx_staff_sessions_user",
                StaffSessions::Table.into_iden(),
                vec![StaffSessions::UserId.into_iden()],
            ),
        ] {
            let mut index = Index::create();
            index.if_not_exists().name(name).table(table);
            for column in columns {
                index.col(column);
            }
            manager.create_index(index.to_owned()).await?;
        }
        for column in [
            string_len_null(Leads::CrmStatus, 32),
            timestamp_with_time_zone_null(Leads::CrmStatusAt),
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Leads::Table)
                        .add_column(column)
                        .to_owned(),
                )
                .await?;
        }
        // The chat panel reads each conversation's messages by sender.
        manager
            .create_index(
                Index::create()
                    .if_not_exists()
                    .name("idx_whatsapp_messages_from")
                    .table(Alias::new("whatsapp_messages"))
                    .col(Alias::new("from_number"))
                    .col(Alias::new("sent_at"))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in [Leads::CrmStatus, Leads::CrmStatusAt] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Leads::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        for table in [
            FollowUps::Table.into_iden(),
            ConversationReads::Table.into_iden(),
            WhatsappReplies::Table.into_iden(),
            StaffSessions::Table.into_iden(),
            StaffUsers::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
