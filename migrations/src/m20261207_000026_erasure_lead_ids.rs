//! Erasures by person (issue 24): the erased person's lead id (itself a
//! hash of the number), so a batch finds, in the read it already makes of
//! its people's leads, whether one of them was erased after its messages
//! were received (such a message must not bring the person back).

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::uuid_null;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Erasures {
    Table,
    LeadId,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Erasures::Table)
                    .add_column(uuid_null(Erasures::LeadId))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("erasures_lead_id")
                    .table(Erasures::Table)
                    .col(Erasures::LeadId)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("erasures_lead_id")
                    .table(Erasures::Table)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Erasures::Table)
                    .drop_column(Erasures::LeadId)
                    .to_owned(),
            )
            .await
    }
}
