//! WhatsApp beyond text (issue 23): the message a customer's message quotes
//! (`context.id`), and why a message we sent failed (a status's first
//! error: WhatsApp's code and title), each in a column the chat panel reads.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum WhatsappMessages {
    Table,
    QuotedWamid,
    ErrorCode,
    ErrorTitle,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite adds one at a time.
        for column in [
            ColumnDef::new(WhatsappMessages::QuotedWamid)
                .string_len(255)
                .null()
                .to_owned(),
            ColumnDef::new(WhatsappMessages::ErrorCode)
                .big_integer()
                .null()
                .to_owned(),
            ColumnDef::new(WhatsappMessages::ErrorTitle)
                .string_len(255)
                .null()
                .to_owned(),
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(WhatsappMessages::Table)
                        .add_column(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in [
            WhatsappMessages::QuotedWamid,
            WhatsappMessages::ErrorCode,
            WhatsappMessages::ErrorTitle,
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(WhatsappMessages::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}
