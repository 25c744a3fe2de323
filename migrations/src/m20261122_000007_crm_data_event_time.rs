//! When the CRM fields stored in a record's `data` were last changed (the
//! event's time, in microseconds): updates to one record can be applied out
//! of order (two workers, a retry), and without it the one applied last
//! won, even when it was the older. With it, a newer event overwrites the
//! fields it brings and an older one only fills fields still missing, as
//! for every other merged record.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const TABLES: [&str; 3] = ["crm_pre_leads", "crm_leads", "crm_qualified_profiles"];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in TABLES {
            manager
                .alter_table(
                    Table::alter()
                        .table(Alias::new(table))
                        .add_column(
                            ColumnDef::new(Alias::new("data_event_at"))
                                .big_integer()
                                .null(),
                        )
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in TABLES {
            manager
                .alter_table(
                    Table::alter()
                        .table(Alias::new(table))
                        .drop_column(Alias::new("data_event_at"))
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}
