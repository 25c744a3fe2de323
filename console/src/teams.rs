//! Teams, managed from the command line (`console team …`): leads are
//! routed to a team and assigned among its members on duty.

use anyhow::{Context as _, bail};
use chrono::Utc;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter,
    QueryOrder,
};
use std::collections::HashMap;
use store::entities::{leads, routing_rules, team_members, teams};
use uuid::Uuid;

fn check_name(name: &str) -> anyhow::Result<()> {
    let chars = name.trim().chars().count();
    if chars == 0 || chars > 64 || name.trim() != name || name.contains(',') {
        bail!(
            "a team name is 1 to 64 characters, without commas or surrounding spaces (got {name:?})"
        );
    }
    Ok(())
}

/// Creates a team; `default` makes it the one unmatched leads go to (and
/// no other team then is).
pub async fn add(
    db: &DatabaseConnection,
    name: &str,
    default: bool,
    max_open_leads: Option<i32>,
) -> anyhow::Result<()> {
    check_name(name)?;
    if max_open_leads.is_some_and(|cap| cap < 1) {
        bail!("--max-open is at least 1");
    }
    let txn = store::write::begin_write(db).await?;
    if find(&txn, name).await?.is_some() {
        bail!("team {name:?} exists already");
    }
    if default {
        clear_default(&txn).await?;
    }
    teams::Entity::insert(teams::ActiveModel {
        id: Set(Uuid::now_v7()),
        name: Set(name.to_owned()),
        is_default: Set(default),
        assign_seq: Set(0),
        max_open_leads: Set(max_open_leads),
        created_at: Set(Utc::now()),
    })
    .exec_without_returning(&txn)
    .await
    .context("storing the team")?;
    txn.commit().await?;
    Ok(())
}

async fn clear_default(db: &impl ConnectionTrait) -> anyhow::Result<()> {
    teams::Entity::update_many()
        .col_expr(teams::Column::IsDefault, Expr::value(false))
        .filter(teams::Column::IsDefault.eq(true))
        .exec(db)
        .await?;
    Ok(())
}

async fn find(db: &impl ConnectionTrait, name: &str) -> anyhow::Result<Option<teams::Model>> {
    Ok(teams::Entity::find()
        .filter(teams::Column::Name.eq(name))
        .one(db)
        .await?)
}

/// What `console team change` changes (each `None` is left alone).
#[derive(Debug, Default)]
pub struct Change {
    /// Make it the default team.
    pub default: bool,
    /// A new cap on open leads per member (`Some(None)` removes it).
    pub max_open_leads: Option<Option<i32>>,
}

/// Changes a team.
pub async fn change(db: &DatabaseConnection, name: &str, change: Change) -> anyhow::Result<()> {
    let txn = store::write::begin_write(db).await?;
    let team = find(&txn, name)
        .await?
        .with_context(|| format!("no team {name:?}"))?;
    if change.default {
        clear_default(&txn).await?;
        teams::Entity::update_many()
            .col_expr(teams::Column::IsDefault, Expr::value(true))
            .filter(teams::Column::Id.eq(team.id))
            .exec(&txn)
            .await?;
    }
    if let Some(cap) = change.max_open_leads {
        if cap.is_some_and(|cap| cap < 1) {
            bail!("--max-open is at least 1 (or none)");
        }
        teams::Entity::update_many()
            .col_expr(teams::Column::MaxOpenLeads, Expr::value(cap))
            .filter(teams::Column::Id.eq(team.id))
            .exec(&txn)
            .await?;
    }
    txn.commit().await?;
    Ok(())
}

/// Removes a team: its memberships and routing rules go; its leads keep
/// their owners and become team-less.
pub async fn remove(db: &DatabaseConnection, name: &str) -> anyhow::Result<()> {
    let txn = store::write::begin_write(db).await?;
    let team = find(&txn, name)
        .await?
        .with_context(|| format!("no team {name:?}"))?;
    team_members::Entity::delete_many()
        .filter(team_members::Column::TeamId.eq(team.id))
        .exec(&txn)
        .await?;
    routing_rules::Entity::delete_many()
        .filter(routing_rules::Column::TeamId.eq(team.id))
        .exec(&txn)
        .await?;
    leads::Entity::update_many()
        .col_expr(leads::Column::TeamId, Expr::value(None::<Uuid>))
        .filter(leads::Column::TeamId.eq(team.id))
        .exec(&txn)
        .await?;
    teams::Entity::delete_by_id(team.id).exec(&txn).await?;
    txn.commit().await?;
    Ok(())
}

/// Every team, by name.
pub async fn list(db: &impl ConnectionTrait) -> anyhow::Result<Vec<teams::Model>> {
    Ok(teams::Entity::find()
        .order_by_asc(teams::Column::Name)
        .all(db)
        .await?)
}

/// Every team's name by id.
pub async fn names(db: &impl ConnectionTrait) -> anyhow::Result<HashMap<Uuid, String>> {
    Ok(list(db)
        .await?
        .into_iter()
        .map(|t| (t.id, t.name))
        .collect())
}

/// The ids of the teams named (each must exist).
pub async fn ids(db: &impl ConnectionTrait, names: &[String]) -> anyhow::Result<Vec<Uuid>> {
    let mut ids = Vec::with_capacity(names.len());
    for name in names {
        let team = find(db, name)
            .await?
            .with_context(|| format!("no team {name:?} (add it with `console team add`)"))?;
        ids.push(team.id);
    }
    Ok(ids)
}
