//! Staff accounts, managed from the command line (`console user …`): role,
//! teams, and the ids partners know them by. There is no default account
//! and no default password.

use crate::auth::{MIN_PASSWORD_CHARS, Role, hash_password};
use anyhow::{Context as _, bail};
use chrono::Utc;
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder,
};
use std::collections::HashMap;
use store::entities::{staff_sessions, staff_users, team_members};
use uuid::Uuid;

/// Every account's user name by id (a dealer has tens of staff).
pub async fn names(db: &DatabaseConnection) -> Result<HashMap<Uuid, String>, sea_orm::DbErr> {
    Ok(staff_users::Entity::find()
        .all(db)
        .await?
        .into_iter()
        .map(|u| (u.id, u.username))
        .collect())
}

fn check_username(name: &str) -> anyhow::Result<()> {
    let ok = (1..=64).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'));
    if !ok {
        bail!("a user name is 1 to 64 letters, digits, '.', '_', '-' or '@' (got {name:?})");
    }
    Ok(())
}

fn check_password(password: &str) -> anyhow::Result<()> {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        bail!("a password needs at least {MIN_PASSWORD_CHARS} characters");
    }
    Ok(())
}

/// Creates an account, a member of `teams` (by name; each must exist).
pub async fn add(
    db: &DatabaseConnection,
    username: &str,
    password: &str,
    role: Role,
    teams: &[String],
) -> anyhow::Result<()> {
    check_username(username)?;
    check_password(password)?;
    let team_ids = crate::teams::ids(db, teams).await?;
    let exists = staff_users::Entity::find()
        .filter(staff_users::Column::Username.eq(username))
        .one(db)
        .await?
        .is_some();
    if exists {
        bail!("user {username:?} exists already (use set-password to change the password)");
    }
    let password = password.to_owned();
    let hash = tokio::task::spawn_blocking(move || hash_password(&password)).await??;
    let now = Utc::now();
    let id = Uuid::now_v7();
    let txn = store::write::begin_write(db).await?;
    staff_users::Entity::insert(staff_users::ActiveModel {
        id: Set(id),
        username: Set(username.to_owned()),
        password_hash: Set(hash),
        role: Set(role.name().to_owned()),
        created_at: Set(now),
        updated_at: Set(now),
        on_duty: Set(false),
        tata_staff_id: Set(None),
        employee_id: Set(None),
        crm_user_id: Set(None),
    })
    .exec_without_returning(&txn)
    .await
    .context("storing the user")?;
    set_teams(&txn, id, &team_ids).await?;
    txn.commit().await?;
    Ok(())
}

/// Makes `user` a member of exactly `teams`.
async fn set_teams(
    db: &impl sea_orm::ConnectionTrait,
    user: Uuid,
    teams: &[Uuid],
) -> anyhow::Result<()> {
    team_members::Entity::delete_many()
        .filter(team_members::Column::UserId.eq(user))
        .filter(team_members::Column::TeamId.is_not_in(teams.to_vec()))
        .exec(db)
        .await?;
    for team in teams {
        team_members::Entity::insert(team_members::ActiveModel {
            team_id: Set(*team),
            user_id: Set(user),
            last_assigned_seq: Set(0),
        })
        .on_conflict(
            OnConflict::columns([team_members::Column::TeamId, team_members::Column::UserId])
                .do_nothing()
                .to_owned(),
        )
        .exec_without_returning(db)
        .await?;
    }
    Ok(())
}

/// One account as `console user list` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    /// Sign-in name.
    pub username: String,
    /// Role's name.
    pub role: String,
    /// Team names, sorted.
    pub teams: Vec<String>,
    /// Taking new leads now.
    pub on_duty: bool,
    /// Created.
    pub created_at: chrono::DateTime<Utc>,
}

/// Every account, by name.
pub async fn list(db: &DatabaseConnection) -> anyhow::Result<Vec<Account>> {
    let names = crate::teams::names(db).await?;
    let memberships = team_members::Entity::find().all(db).await?;
    Ok(staff_users::Entity::find()
        .order_by_asc(staff_users::Column::Username)
        .all(db)
        .await?
        .into_iter()
        .map(|u| {
            let mut teams: Vec<String> = memberships
                .iter()
                .filter(|m| m.user_id == u.id)
                .filter_map(|m| names.get(&m.team_id).cloned())
                .collect();
            teams.sort();
            Account {
                username: u.username,
                role: u.role,
                teams,
                on_duty: u.on_duty,
                created_at: u.created_at,
            }
        })
        .collect())
}

/// What `console user change` changes (each `None` is left alone).
#[derive(Debug, Default)]
pub struct Change {
    /// A new role.
    pub role: Option<Role>,
    /// Exactly these teams (by name).
    pub teams: Option<Vec<String>>,
    /// Tata calls' `staff_id` (empty clears it).
    pub tata_staff_id: Option<String>,
    /// Call capture's `employee_id` (empty clears it).
    pub employee_id: Option<String>,
    /// The CRM's `assigned_to` (empty clears it).
    pub crm_user_id: Option<String>,
    /// On or off duty (staff also switch it themselves in the console).
    pub on_duty: Option<bool>,
}

/// Changes an account's role, teams or partner ids.
pub async fn change(db: &DatabaseConnection, username: &str, change: Change) -> anyhow::Result<()> {
    let user = find(db, username).await?;
    let txn = store::write::begin_write(db).await?;
    let mut update = staff_users::Entity::update_many()
        .col_expr(staff_users::Column::UpdatedAt, Expr::value(Utc::now()))
        .filter(staff_users::Column::Id.eq(user.id));
    if let Some(role) = change.role {
        update = update.col_expr(staff_users::Column::Role, Expr::value(role.name()));
    }
    if let Some(on_duty) = change.on_duty {
        update = update.col_expr(staff_users::Column::OnDuty, Expr::value(on_duty));
    }
    for (column, value, flag) in [
        (
            staff_users::Column::TataStaffId,
            change.tata_staff_id,
            "--tata-staff-id",
        ),
        (
            staff_users::Column::EmployeeId,
            change.employee_id,
            "--employee-id",
        ),
        (
            staff_users::Column::CrmUserId,
            change.crm_user_id,
            "--crm-user-id",
        ),
    ] {
        let Some(value) = value else { continue };
        let value = Some(value.trim().to_owned()).filter(|v| !v.is_empty());
        if let Some(value) = &value {
            if value.chars().count() > 64 {
                bail!("{flag} is at most 64 characters");
            }
            let taken = staff_users::Entity::find()
                .filter(column.eq(value.as_str()))
                .filter(staff_users::Column::Id.ne(user.id))
                .one(&txn)
                .await?;
            if let Some(other) = taken {
                bail!("{flag} {value:?} belongs to {:?} already", other.username);
            }
        }
        update = update.col_expr(column, Expr::value(value));
    }
    update.exec(&txn).await?;
    if let Some(teams) = change.teams {
        let ids = crate::teams::ids(&txn, &teams).await?;
        set_teams(&txn, user.id, &ids).await?;
    }
    txn.commit().await?;
    Ok(())
}

/// The account named `username`.
pub async fn find(db: &DatabaseConnection, username: &str) -> anyhow::Result<staff_users::Model> {
    staff_users::Entity::find()
        .filter(staff_users::Column::Username.eq(username))
        .one(db)
        .await?
        .with_context(|| format!("no user {username:?}"))
}

/// Removes an account and signs it out everywhere.
pub async fn remove(db: &DatabaseConnection, username: &str) -> anyhow::Result<()> {
    let user = find(db, username).await?;
    staff_sessions::Entity::delete_many()
        .filter(staff_sessions::Column::UserId.eq(user.id))
        .exec(db)
        .await?;
    team_members::Entity::delete_many()
        .filter(team_members::Column::UserId.eq(user.id))
        .exec(db)
        .await?;
    staff_users::Entity::delete_by_id(user.id).exec(db).await?;
    Ok(())
}

/// Changes a password and signs the account out everywhere.
pub async fn set_password(
    db: &DatabaseConnection,
    username: &str,
    password: &str,
) -> anyhow::Result<()> {
    check_password(password)?;
    let user = find(db, username).await?;
    let password = password.to_owned();
    let hash = tokio::task::spawn_blocking(move || hash_password(&password)).await??;
    staff_users::Entity::update_many()
        .col_expr(staff_users::Column::PasswordHash, Expr::value(hash))
        .col_expr(staff_users::Column::UpdatedAt, Expr::value(Utc::now()))
        .filter(staff_users::Column::Id.eq(user.id))
        .exec(db)
        .await?;
    staff_sessions::Entity::delete_many()
        .filter(staff_sessions::Column::UserId.eq(user.id))
        .exec(db)
        .await?;
    Ok(())
}
