//! Files staff send on WhatsApp (issue 23): a photo or a PDF uploaded in
//! the console, kept in the database like inbound media (one store for
//! every process, SQLite one file, covered by exports and erasures), and
//! offered to Tata at an unguessable link (`token`) that works until
//! `expires_at`. A reply that carries one names it in `file_id`.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{
    big_integer, blob, string_len, timestamp_with_time_zone, uuid, uuid_null,
};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum OutboundFiles {
    Table,
    Id,
    Token,
    Phone,
    LeadId,
    UploadedBy,
    FileName,
    ContentType,
    Size,
    Bytes,
    CreatedAt,
    ExpiresAt,
}

#[derive(DeriveIden)]
enum WhatsappReplies {
    Table,
    FileId,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(OutboundFiles::Table)
                    .if_not_exists()
                    .col(uuid(OutboundFiles::Id).primary_key())
                    .col(string_len(OutboundFiles::Token, 64).unique_key())
                    .col(string_len(OutboundFiles::Phone, 32))
                    .col(uuid_null(OutboundFiles::LeadId))
                    .col(string_len(OutboundFiles::UploadedBy, 64))
                    .col(string_len(OutboundFiles::FileName, 255))
                    .col(string_len(OutboundFiles::ContentType, 64))
                    .col(big_integer(OutboundFiles::Size))
                    .col(blob(OutboundFiles::Bytes))
                    .col(timestamp_with_time_zone(OutboundFiles::CreatedAt))
                    .col(timestamp_with_time_zone(OutboundFiles::ExpiresAt))
                    .to_owned(),
            )
            .await?;
        // A person's files are found by their number (export, erasure).
        manager
            .create_index(
                Index::create()
                    .name("outbound_files_phone")
                    .table(OutboundFiles::Table)
                    .col(OutboundFiles::Phone)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(WhatsappReplies::Table)
                    .add_column(uuid_null(WhatsappReplies::FileId))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(WhatsappReplies::Table)
                    .drop_column(WhatsappReplies::FileId)
                    .to_owned(),
            )
            .await?;
        manager
            .drop_table(Table::drop().table(OutboundFiles::Table).to_owned())
            .await
    }
}
