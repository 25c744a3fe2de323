//! WhatsApp templates (issue 23): the list Tata's template API answers,
//! kept by the workers (fetched at start, on a schedule and on a manager's
//! request) for the console's template picker; and the template a reply
//! was sent as (name, language, fields), next to its rendered body.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{
    integer, json_binary_null, string_len, string_len_null, text_null, timestamp_with_time_zone,
};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum WhatsappTemplates {
    Table,
    Name,
    Language,
    Status,
    Category,
    Body,
    Parameters,
    Components,
    FetchedAt,
}

#[derive(DeriveIden)]
enum WhatsappReplies {
    Table,
    Template,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(WhatsappTemplates::Table)
                    .if_not_exists()
                    .col(string_len(WhatsappTemplates::Name, 512))
                    .col(string_len(WhatsappTemplates::Language, 16))
                    .col(string_len(WhatsappTemplates::Status, 32))
                    .col(string_len_null(WhatsappTemplates::Category, 32))
                    .col(text_null(WhatsappTemplates::Body))
                    .col(integer(WhatsappTemplates::Parameters))
                    .col(json_binary_null(WhatsappTemplates::Components))
                    .col(timestamp_with_time_zone(WhatsappTemplates::FetchedAt))
                    .primary_key(
                        Index::create()
                            .col(WhatsappTemplates::Name)
                            .col(WhatsappTemplates::Language),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(WhatsappReplies::Table)
                    .add_column(json_binary_null(WhatsappReplies::Template))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(WhatsappReplies::Table)
                    .drop_column(WhatsappReplies::Template)
                    .to_owned(),
            )
            .await?;
        manager
            .drop_table(Table::drop().table(WhatsappTemplates::Table).to_owned())
            .await
    }
}
