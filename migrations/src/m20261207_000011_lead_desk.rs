//! The lead desk (issue 26): teams and their members, routing rules, an
//! owner, a stage and a response clock on every lead, the stage history,
//! notes, staff notifications, partner ids on staff accounts, and
//! follow-ups that staff create (not only those from captured calls).

use sea_orm::{ConnectionTrait, DbBackend};
use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden, Clone)]
enum Teams {
    Table,
    Id,
    Name,
    /// The team a lead no routing rule matches goes to (at most one).
    IsDefault,
    /// Counts the team's assignments: the round-robin's clock. Bumping it
    /// locks the row, so concurrent assignments to a team take turns.
    AssignSeq,
    /// Most open leads a member may own before they are skipped.
    MaxOpenLeads,
    CreatedAt,
}

#[derive(DeriveIden, Clone)]
enum TeamMembers {
    Table,
    TeamId,
    UserId,
    /// The team's `assign_seq` at this member's last assignment (0: never).
    LastAssignedSeq,
}

#[derive(DeriveIden, Clone)]
enum RoutingRules {
    Table,
    Id,
    /// Rules are tried in this order.
    Position,
    /// The lead's first source, or any.
    Source,
    /// The business number or line it came in on (E.164), or any.
    Line,
    TeamId,
    CreatedAt,
}

#[derive(DeriveIden, Clone)]
enum StaffUsers {
    Table,
    OnDuty,
    /// Tata calls' `staff_id`.
    TataStaffId,
    /// Call capture's `employee_id`.
    EmployeeId,
    /// The CRM's `assigned_to`.
    CrmUserId,
}

#[derive(DeriveIden, Clone)]
enum Leads {
    Table,
    Line,
    Vehicle,
    TeamId,
    OwnerId,
    RoutedAt,
    Stage,
    StageChangedAt,
    LostReason,
    ClockStartedAt,
    FirstResponseAt,
    /// The staff account whose action it was, when known.
    FirstResponseBy,
    ResponseDueAt,
    EscalateAt,
    EscalatedAt,
}

#[derive(DeriveIden, Clone)]
enum LeadStageHistory {
    Table,
    Id,
    LeadId,
    FromStage,
    ToStage,
    LostReason,
    /// The staff account that moved it.
    ByUser,
    /// Or the partner event that did (`crm_events: lead_status_update`).
    ByEvent,
    At,
}

#[derive(DeriveIden, Clone)]
enum LeadNotes {
    Table,
    Id,
    LeadId,
    AuthorId,
    Text,
    CreatedAt,
}

#[derive(DeriveIden, Clone)]
enum StaffNotifications {
    Table,
    Id,
    UserId,
    LeadId,
    Kind,
    Text,
    CreatedAt,
    ReadAt,
}

#[derive(DeriveIden, Clone)]
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
    AssigneeId,
    CreatedBy,
}

#[derive(DeriveIden, Clone)]
enum FollowUpsRebuilt {
    Table,
}

async fn add_columns<T>(
    manager: &SchemaManager<'_>,
    table: T,
    columns: Vec<ColumnDef>,
) -> Result<(), DbErr>
where
    T: IntoIden + Clone + 'static,
{
    // One column per statement: SQLite adds only one at a time.
    for mut column in columns {
        manager
            .alter_table(
                Table::alter()
                    .table(table.clone())
                    .add_column(&mut column)
                    .to_owned(),
            )
            .await?;
    }
    Ok(())
}

async fn index(
    manager: &SchemaManager<'_>,
    name: &str,
    table: impl IntoIden + 'static,
    columns: Vec<DynIden>,
) -> Result<(), DbErr> {
    let mut index = Index::create();
    index.if_not_exists().name(name).table(table);
    for column in columns {
        index.col(column);
    }
    manager.create_index(index.to_owned()).await
}

/// The follow-ups table as it is from here on: `call_record_id` is empty
/// for follow-ups staff create.
fn follow_ups_table(name: impl IntoIden + 'static) -> TableCreateStatement {
    Table::create()
        .table(name)
        .col(uuid(FollowUps::Id).primary_key())
        .col(uuid_null(FollowUps::CallRecordId).unique_key())
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
        .col(uuid_null(FollowUps::AssigneeId))
        .col(uuid_null(FollowUps::CreatedBy))
        .to_owned()
}

/// `follow_ups.call_record_id` may be empty, and a follow-up has an
/// assignee and an author. PostgreSQL alters the column; SQLite cannot, so
/// the table is rebuilt there (copied, dropped, renamed).
async fn widen_follow_ups(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    let db = manager.get_connection();
    if db.get_database_backend() == DbBackend::Postgres {
        db.execute_unprepared("ALTER TABLE follow_ups ALTER COLUMN call_record_id DROP NOT NULL")
            .await?;
        add_columns(
            manager,
            FollowUps::Table,
            vec![
                uuid_null(FollowUps::AssigneeId),
                uuid_null(FollowUps::CreatedBy),
            ],
        )
        .await?;
    } else {
        manager
            .create_table(follow_ups_table(FollowUpsRebuilt::Table))
            .await?;
        db.execute_unprepared(
            "INSERT INTO follow_ups_rebuilt (id, call_record_id, lead_id, phone, due_date, due_time, due_at, auto_call, notes, done_at, done_by, created_at, updated_at) \
             SELECT id, call_record_id, lead_id, phone, due_date, due_time, due_at, auto_call, notes, done_at, done_by, created_at, updated_at FROM follow_ups",
        )
        .await?;
        manager
            .drop_table(Table::drop().table(FollowUps::Table).to_owned())
            .await?;
        manager
            .rename_table(
                Table::rename()
                    .table(FollowUpsRebuilt::Table, FollowUps::Table)
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            "idx_follow_ups_due",
            FollowUps::Table,
            vec![FollowUps::DoneAt.into_iden(), FollowUps::DueAt.into_iden()],
        )
        .await?;
    }
    index(
        manager,
        "idx_follow_ups_assignee",
        FollowUps::Table,
        vec![
            FollowUps::AssigneeId.into_iden(),
            FollowUps::DueAt.into_iden(),
        ],
    )
    .await
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Teams::Table)
                    .if_not_exists()
                    .col(uuid(Teams::Id).primary_key())
                    .col(string_len_uniq(Teams::Name, 64))
                    .col(boolean(Teams::IsDefault).default(false))
                    .col(big_integer(Teams::AssignSeq).default(0))
                    .col(integer_null(Teams::MaxOpenLeads))
                    .col(timestamp_with_time_zone(Teams::CreatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(TeamMembers::Table)
                    .if_not_exists()
                    .col(uuid(TeamMembers::TeamId))
                    .col(uuid(TeamMembers::UserId))
                    .col(big_integer(TeamMembers::LastAssignedSeq).default(0))
                    .primary_key(
                        Index::create()
                            .col(TeamMembers::TeamId)
                            .col(TeamMembers::UserId),
                    )
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            "idx_team_members_user",
            TeamMembers::Table,
            vec![TeamMembers::UserId.into_iden()],
        )
        .await?;
        manager
            .create_table(
                Table::create()
                    .table(RoutingRules::Table)
                    .if_not_exists()
                    .col(uuid(RoutingRules::Id).primary_key())
                    .col(integer(RoutingRules::Position))
                    .col(string_len_null(RoutingRules::Source, 32))
                    .col(string_len_null(RoutingRules::Line, 32))
                    .col(uuid(RoutingRules::TeamId))
                    .col(timestamp_with_time_zone(RoutingRules::CreatedAt))
                    .to_owned(),
            )
            .await?;
        add_columns(
            manager,
            StaffUsers::Table,
            vec![
                boolean(StaffUsers::OnDuty).default(false).to_owned(),
                string_len_null(StaffUsers::TataStaffId, 64),
                string_len_null(StaffUsers::EmployeeId, 64),
                string_len_null(StaffUsers::CrmUserId, 64),
            ],
        )
        .await?;
        add_columns(
            manager,
            Leads::Table,
            vec![
                string_len_null(Leads::Line, 32),
                string_len_null(Leads::Vehicle, 128),
                uuid_null(Leads::TeamId),
                uuid_null(Leads::OwnerId),
                timestamp_with_time_zone_null(Leads::RoutedAt),
                string_len(Leads::Stage, 24).default("new").to_owned(),
                timestamp_with_time_zone_null(Leads::StageChangedAt),
                string_len_null(Leads::LostReason, 64),
                timestamp_with_time_zone_null(Leads::ClockStartedAt),
                timestamp_with_time_zone_null(Leads::FirstResponseAt),
                uuid_null(Leads::FirstResponseBy),
                timestamp_with_time_zone_null(Leads::ResponseDueAt),
                timestamp_with_time_zone_null(Leads::EscalateAt),
                timestamp_with_time_zone_null(Leads::EscalatedAt),
            ],
        )
        .await?;
        // Leads seen before the desk existed start their clock when they
        // were first seen.
        manager
            .get_connection()
            .execute_unprepared(
                "UPDATE leads SET clock_started_at = first_seen_at WHERE clock_started_at IS NULL",
            )
            .await?;
        // Partial indexes, the same text on both databases: a new lead is in
        // none but the routers' queue, so writing it costs few index
        // entries (every lead of a backlog is new); the desk's and the
        // sweep's queries imply each predicate, so both planners use them.
        for sql in [
            // The routers' queue: leads not routed yet.
            "CREATE INDEX IF NOT EXISTS idx_leads_unrouted ON leads (first_seen_at) WHERE routed_at IS NULL",
            "CREATE INDEX IF NOT EXISTS idx_leads_owner ON leads (owner_id, stage) WHERE owner_id IS NOT NULL",
            "CREATE INDEX IF NOT EXISTS idx_leads_team ON leads (team_id, stage) WHERE team_id IS NOT NULL",
            // The escalation sweep: deadlines not yet escalated.
            "CREATE INDEX IF NOT EXISTS idx_leads_escalate ON leads (escalate_at) WHERE escalate_at IS NOT NULL AND escalated_at IS NULL",
        ] {
            manager.get_connection().execute_unprepared(sql).await?;
        }
        manager
            .create_table(
                Table::create()
                    .table(LeadStageHistory::Table)
                    .if_not_exists()
                    .col(uuid(LeadStageHistory::Id).primary_key())
                    .col(uuid(LeadStageHistory::LeadId))
                    .col(string_len_null(LeadStageHistory::FromStage, 24))
                    .col(string_len(LeadStageHistory::ToStage, 24))
                    .col(string_len_null(LeadStageHistory::LostReason, 64))
                    .col(uuid_null(LeadStageHistory::ByUser))
                    .col(string_len_null(LeadStageHistory::ByEvent, 64))
                    .col(timestamp_with_time_zone(LeadStageHistory::At))
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            "idx_lead_stage_history_lead",
            LeadStageHistory::Table,
            vec![
                LeadStageHistory::LeadId.into_iden(),
                LeadStageHistory::At.into_iden(),
            ],
        )
        .await?;
        manager
            .create_table(
                Table::create()
                    .table(LeadNotes::Table)
                    .if_not_exists()
                    .col(uuid(LeadNotes::Id).primary_key())
                    .col(uuid(LeadNotes::LeadId))
                    .col(uuid(LeadNotes::AuthorId))
                    .col(text(LeadNotes::Text))
                    .col(timestamp_with_time_zone(LeadNotes::CreatedAt))
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            "idx_lead_notes_lead",
            LeadNotes::Table,
            vec![LeadNotes::LeadId.into_iden()],
        )
        .await?;
        manager
            .create_table(
                Table::create()
                    .table(StaffNotifications::Table)
                    .if_not_exists()
                    .col(uuid(StaffNotifications::Id).primary_key())
                    .col(uuid(StaffNotifications::UserId))
                    .col(uuid_null(StaffNotifications::LeadId))
                    .col(string_len(StaffNotifications::Kind, 24))
                    .col(text(StaffNotifications::Text))
                    .col(timestamp_with_time_zone(StaffNotifications::CreatedAt))
                    .col(timestamp_with_time_zone_null(StaffNotifications::ReadAt))
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            "idx_staff_notifications_user",
            StaffNotifications::Table,
            vec![
                StaffNotifications::UserId.into_iden(),
                StaffNotifications::CreatedAt.into_iden(),
            ],
        )
        .await?;
        widen_follow_ups(manager).await
    }

    async fn down(&self, _manager: &SchemaManager) -> Result<(), DbErr> {
        Err(DbErr::Migration(
            "the lead desk's migration is not reversible: it would drop owners, stages and notes"
                .into(),
        ))
    }
}
