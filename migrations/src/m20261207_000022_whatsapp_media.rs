//! WhatsApp media (issue 23): the file of each inbound image, video,
//! audio, document or sticker, fetched from Tata's media API by the
//! workers and served to staff by the console. Kept in the database, not
//! a directory: the console and the workers may run on different hosts
//! with no shared disk, SQLite stays one file, and a backup, an export or
//! an erasure covers the files with the rows. A row is written as
//! `pending` by the batch that stores its message; a worker claims it
//! (`next_attempt_at` moves past the fetch) and stores the bytes, or marks
//! it `expired` (Tata no longer has it), `too_large` or `failed`.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{
    big_integer_null, blob_null, integer, string_len, string_len_null, text_null,
    timestamp_with_time_zone, timestamp_with_time_zone_null,
};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum WhatsappMedia {
    Table,
    MediaId,
    Wamid,
    Kind,
    DeclaredMimeType,
    State,
    ContentType,
    Size,
    Bytes,
    Attempts,
    NextAttemptAt,
    Reason,
    CreatedAt,
    FetchedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(WhatsappMedia::Table)
                    .if_not_exists()
                    .col(string_len(WhatsappMedia::MediaId, 255).primary_key())
                    .col(string_len(WhatsappMedia::Wamid, 255))
                    .col(string_len(WhatsappMedia::Kind, 32))
                    .col(string_len_null(WhatsappMedia::DeclaredMimeType, 255))
                    .col(string_len(WhatsappMedia::State, 16))
                    .col(string_len_null(WhatsappMedia::ContentType, 255))
                    .col(big_integer_null(WhatsappMedia::Size))
                    .col(blob_null(WhatsappMedia::Bytes))
                    .col(integer(WhatsappMedia::Attempts))
                    .col(timestamp_with_time_zone_null(WhatsappMedia::NextAttemptAt))
                    .col(text_null(WhatsappMedia::Reason))
                    .col(timestamp_with_time_zone(WhatsappMedia::CreatedAt))
                    .col(timestamp_with_time_zone_null(WhatsappMedia::FetchedAt))
                    .to_owned(),
            )
            .await?;
        // The thread reads a message's media by its wamid.
        manager
            .create_index(
                Index::create()
                    .name("whatsapp_media_wamid")
                    .table(WhatsappMedia::Table)
                    .col(WhatsappMedia::Wamid)
                    .to_owned(),
            )
            .await?;
        // The fetchers look for pending media that is due.
        manager
            .create_index(
                Index::create()
                    .name("whatsapp_media_due")
                    .table(WhatsappMedia::Table)
                    .col(WhatsappMedia::State)
                    .col(WhatsappMedia::NextAttemptAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(WhatsappMedia::Table).to_owned())
            .await
    }
}
