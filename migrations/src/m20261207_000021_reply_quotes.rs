//! Quoted replies (issue 23): the message a staff reply quotes (its
//! `wamid`), sent to Tata as the send's `context` and shown above the
//! reply in the thread.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::string_len_null;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum WhatsappReplies {
    Table,
    QuotedWamid,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(WhatsappReplies::Table)
                    .add_column(string_len_null(WhatsappReplies::QuotedWamid, 255))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(WhatsappReplies::Table)
                    .drop_column(WhatsappReplies::QuotedWamid)
                    .to_owned(),
            )
            .await
    }
}
