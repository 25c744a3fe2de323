//! Routing rules, for the command line (`console rule …`) and the
//! managers' page alike: which team a new lead goes to, from its source
//! and the business number or line it came in on (see `desk::rules`).

use anyhow::{Context as _, bail};
use chrono::Utc;
use sea_orm::{ActiveValue::Set, DatabaseConnection, EntityTrait, QueryOrder};
use shared::Source;
use store::entities::{routing_rules, teams};
use uuid::Uuid;

/// A rule as typed: checked by [`add`].
#[derive(Debug, Default)]
pub struct NewRule {
    /// Tried in this order (0 to 10000).
    pub position: i32,
    /// A source's name, or any.
    pub source: Option<String>,
    /// A phone number in any spelling, or any.
    pub line: Option<String>,
    /// The team.
    pub team: Uuid,
}

/// Adds a rule after checking it; the error says what is wrong.
pub async fn add(db: &DatabaseConnection, rule: NewRule) -> anyhow::Result<Uuid> {
    if !(0..=10_000).contains(&rule.position) {
        bail!("the position is a number from 0 to 10000");
    }
    let source = match rule
        .source
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        None => None,
        Some(name) => Some(
            name.parse::<Source>()
                .ok()
                .filter(|s| *s != Source::WhatsappReplies)
                .with_context(|| format!("no source {name:?}"))?
                .name()
                .to_owned(),
        ),
    };
    let line = match rule
        .line
        .as_deref()
        .map(str::trim)
        .filter(|l| !l.is_empty())
    {
        None => None,
        Some(raw) => Some(
            shared::phone::to_e164(raw)
                .with_context(|| format!("{raw:?} is not a phone number"))?,
        ),
    };
    if teams::Entity::find_by_id(rule.team)
        .one(db)
        .await?
        .is_none()
    {
        bail!("no such team");
    }
    let id = Uuid::now_v7();
    routing_rules::Entity::insert(routing_rules::ActiveModel {
        id: Set(id),
        position: Set(rule.position),
        source: Set(source),
        line: Set(line),
        team_id: Set(rule.team),
        created_at: Set(Utc::now()),
    })
    .exec_without_returning(db)
    .await
    .context("storing the rule")?;
    Ok(id)
}

/// Every rule, in the order they are tried.
pub async fn list(db: &DatabaseConnection) -> anyhow::Result<Vec<routing_rules::Model>> {
    Ok(routing_rules::Entity::find()
        .order_by_asc(routing_rules::Column::Position)
        .order_by_asc(routing_rules::Column::CreatedAt)
        .all(db)
        .await?)
}

/// Removes a rule; false when there was none.
pub async fn remove(db: &DatabaseConnection, id: Uuid) -> anyhow::Result<bool> {
    Ok(routing_rules::Entity::delete_by_id(id)
        .exec(db)
        .await?
        .rows_affected
        == 1)
}
