//! The manager's reports (issue 27) read the leads first seen in a range of
//! days (as does the lead list's date filter) and the follow-ups due in
//! it: an index on each answers that without reading every row. (The
//! follow-ups' existing index leads with `done_at`, for the due lists.)

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Leads {
    Table,
    FirstSeenAt,
}

#[derive(DeriveIden)]
enum FollowUps {
    Table,
    DueAt,
}

const LEADS_INDEX: &str = "idx_leads_first_seen";
const FOLLOW_UPS_INDEX: &str = "idx_follow_ups_due_at";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_index(
                Index::create()
                    .if_not_exists()
                    .name(LEADS_INDEX)
                    .table(Leads::Table)
                    .col(Leads::FirstSeenAt)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .if_not_exists()
                    .name(FOLLOW_UPS_INDEX)
                    .table(FollowUps::Table)
                    .col(FollowUps::DueAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .if_exists()
                    .name(FOLLOW_UPS_INDEX)
                    .table(FollowUps::Table)
                    .to_owned(),
            )
            .await?;
        manager
            .drop_index(
                Index::drop()
                    .if_exists()
                    .name(LEADS_INDEX)
                    .table(Leads::Table)
                    .to_owned(),
            )
            .await
    }
}
