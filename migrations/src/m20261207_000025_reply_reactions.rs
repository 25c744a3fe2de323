//! Reactions from staff (issue 23): a reply that is an emoji on one of the
//! customer's messages (its `wamid`), sent to Tata as a reaction and shown
//! on that message in the thread.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::string_len_null;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum WhatsappReplies {
    Table,
    ReactionTo,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(WhatsappReplies::Table)
                    .add_column(string_len_null(WhatsappReplies::ReactionTo, 255))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(WhatsappReplies::Table)
                    .drop_column(WhatsappReplies::ReactionTo)
                    .to_owned(),
            )
            .await
    }
}
