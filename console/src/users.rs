//! Staff accounts, managed from the command line (`console user …`). There
//! is no default account and no default password.

use crate::auth::{MIN_PASSWORD_CHARS, Role, hash_password};
use anyhow::{Context as _, bail};
use chrono::Utc;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder,
};
use store::entities::{staff_sessions, staff_users};
use uuid::Uuid;

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

/// Creates an account.
pub async fn add(
    db: &DatabaseConnection,
    username: &str,
    password: &str,
    role: Role,
) -> anyhow::Result<()> {
    check_username(username)?;
    check_password(password)?;
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
    staff_users::Entity::insert(staff_users::ActiveModel {
        id: Set(Uuid::now_v7()),
        username: Set(username.to_owned()),
        password_hash: Set(hash),
        role: Set(role.name().to_owned()),
        created_at: Set(now),
        updated_at: Set(now),
    })
    .exec_without_returning(db)
    .await
    .context("storing the user")?;
    Ok(())
}

/// Every account: (name, role, created).
pub async fn list(
    db: &DatabaseConnection,
) -> anyhow::Result<Vec<(String, String, chrono::DateTime<Utc>)>> {
    Ok(staff_users::Entity::find()
        .order_by_asc(staff_users::Column::Username)
        .all(db)
        .await?
        .into_iter()
        .map(|u| (u.username, u.role, u.created_at))
        .collect())
}

async fn find(db: &DatabaseConnection, username: &str) -> anyhow::Result<staff_users::Model> {
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
        .col_expr(
            staff_users::Column::PasswordHash,
            sea_orm::sea_query::Expr::value(hash),
        )
        .col_expr(
            staff_users::Column::UpdatedAt,
            sea_orm::sea_query::Expr::value(Utc::now()),
        )
        .filter(staff_users::Column::Id.eq(user.id))
        .exec(db)
        .await?;
    staff_sessions::Entity::delete_many()
        .filter(staff_sessions::Column::UserId.eq(user.id))
        .exec(db)
        .await?;
    Ok(())
}
