//! The desk's list of leads: a view (Mine, Unassigned, Team, All), filters
//! (stage, source, owner, first-seen dates, overdue, a search), sorted by
//! time waiting (unanswered first, longest waiting first), a page at a
//! time, with the number of leads in each view.

use super::{first_response_seconds, is_overdue, source_label, unavailable};
use crate::auth::Staff;
use crate::refusal::Refusal;
use chrono::{NaiveDate, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, Order, Query};
use sea_orm::{
    ColumnTrait, Condition, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect, Select,
};
use serde::{Deserialize, Serialize};
use shared::Source;
use shared::desk::Stage;
use std::collections::{BTreeSet, HashMap};
use store::entities::{lead_touchpoints, leads, staff_users};
use uuid::Uuid;

/// Leads per page.
pub const PAGE_SIZE: u64 = 25;

/// The views of the desk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum View {
    /// Leads I own.
    Mine,
    /// Nobody owns them (in my teams, or in none).
    Unassigned,
    /// My teams' leads (managers).
    Team,
    /// Every lead (managers, operators).
    All,
}

impl View {
    /// Every view, in the tabs' order.
    pub const ALL: [View; 4] = [View::Mine, View::Unassigned, View::Team, View::All];

    /// The query-string name.
    pub fn name(self) -> &'static str {
        match self {
            View::Mine => "mine",
            View::Unassigned => "unassigned",
            View::Team => "team",
            View::All => "all",
        }
    }

    /// The tab's label.
    pub fn label(self) -> &'static str {
        match self {
            View::Mine => "Mine",
            View::Unassigned => "Unassigned",
            View::Team => "Team",
            View::All => "All",
        }
    }

    /// Whether `staff` may open this view.
    pub fn allowed(self, staff: &Staff) -> bool {
        match self {
            View::Mine | View::Unassigned => true,
            View::Team => staff.role == crate::auth::Role::Manager,
            View::All => staff.role.sees_all_leads(),
        }
    }
}

/// The query string, as sent (checked by [`Filters::parse`]).
#[derive(Debug, Default, Clone, Deserialize, Serialize)]
pub struct ListQuery {
    pub view: Option<String>,
    pub stage: Option<String>,
    pub source: Option<String>,
    pub owner: Option<String>,
    pub overdue: Option<String>,
    pub q: Option<String>,
    pub from: Option<String>,
    pub to: Option<String>,
    pub page: Option<String>,
}

/// Which stages a list shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StageFilter {
    /// Not won or lost (the default).
    Open,
    /// Every stage.
    Any,
    /// One stage.
    One(Stage),
}

/// The checked filters.
#[derive(Debug, Clone)]
pub struct Filters {
    pub view: View,
    pub stage: StageFilter,
    pub source: Option<Source>,
    pub owner: Option<Uuid>,
    pub overdue: Option<bool>,
    pub q: String,
    pub from: Option<NaiveDate>,
    pub to: Option<NaiveDate>,
    pub page: u64,
}

/// A query-string value, trimmed; `None` when absent or blank.
pub(crate) fn blank(value: &Option<String>) -> Option<&str> {
    value.as_deref().map(str::trim).filter(|v| !v.is_empty())
}

/// A query-string date (`YYYY-MM-DD`, IST), or a 400 naming the field.
pub(crate) fn date(name: &str, value: &Option<String>) -> Result<Option<NaiveDate>, Refusal> {
    blank(value)
        .map(|v| {
            NaiveDate::parse_from_str(v, "%Y-%m-%d").map_err(|_| {
                Refusal::BadRequest(format!("{name} is a date YYYY-MM-DD (IST), not {v:?}"))
            })
        })
        .transpose()
}

impl Filters {
    /// Checks the query string: a 400 naming what is wrong, a 403 for a
    /// view the role may not open, a 404 for an unknown owner.
    pub async fn parse(
        db: &DatabaseConnection,
        staff: &Staff,
        query: &ListQuery,
    ) -> Result<Self, Refusal> {
        let view = match blank(&query.view) {
            None => View::Mine,
            Some(name) => View::ALL
                .into_iter()
                .find(|v| v.name() == name)
                .ok_or_else(|| {
                    Refusal::BadRequest("view is one of mine, unassigned, team, all".into())
                })?,
        };
        if !view.allowed(staff) {
            return Err(Refusal::Forbidden(format!(
                "The {} view is for managers{}.",
                view.label(),
                if view == View::All {
                    " and operators"
                } else {
                    ""
                }
            )));
        }
        let stage = match blank(&query.stage) {
            None | Some("open") => StageFilter::Open,
            Some("any") => StageFilter::Any,
            Some(name) => StageFilter::One(Stage::parse(name).ok_or_else(|| {
                Refusal::BadRequest(format!(
                    "stage is open, any or one of {}",
                    shared::desk::stage::STAGES.map(|s| s.name()).join(", ")
                ))
            })?),
        };
        let source = blank(&query.source)
            .map(|name| {
                name.parse::<Source>().map_err(|_| {
                    let names: Vec<_> = Source::ALL.iter().map(|s| s.name()).collect();
                    Refusal::BadRequest(format!("source is one of {}", names.join(", ")))
                })
            })
            .transpose()?;
        let owner = match blank(&query.owner) {
            None => None,
            Some(name) => Some(
                staff_users::Entity::find()
                    .filter(staff_users::Column::Username.eq(name))
                    .one(db)
                    .await
                    .map_err(unavailable)?
                    .ok_or_else(|| Refusal::NotFound(format!("No user {name:?}.")))?
                    .id,
            ),
        };
        let overdue = match blank(&query.overdue) {
            None => None,
            Some("true" | "1" | "on") => Some(true),
            Some("false" | "0") => Some(false),
            Some(_) => return Err(Refusal::BadRequest("overdue is true or false".into())),
        };
        let q = blank(&query.q).unwrap_or("").chars().take(100).collect();
        let page = match blank(&query.page) {
            None => 1,
            Some(raw) => raw
                .parse::<u64>()
                .ok()
                .filter(|p| (1..=100_000).contains(p))
                .ok_or_else(|| Refusal::BadRequest("page is a number from 1".into()))?,
        };
        Ok(Self {
            view,
            stage,
            source,
            owner,
            overdue,
            q,
            from: date("from", &query.from)?,
            to: date("to", &query.to)?,
            page,
        })
    }
}

/// The leads a view holds for `staff`, before the other filters.
fn in_view(view: View, staff: &Staff) -> Condition {
    use leads::Column as C;
    let my_teams_or_none = Condition::any()
        .add(C::TeamId.is_null())
        .add(C::TeamId.is_in(staff.teams.clone()));
    match view {
        View::Mine => Condition::all().add(C::OwnerId.eq(staff.user_id)),
        View::Unassigned if staff.role.sees_all_leads() => {
            Condition::all().add(C::OwnerId.is_null())
        }
        View::Unassigned => Condition::all()
            .add(C::OwnerId.is_null())
            .add(my_teams_or_none),
        View::Team => Condition::all().add(C::TeamId.is_in(staff.teams.clone())),
        View::All => Condition::all(),
    }
}

/// The filtered select, unsorted.
fn select(filters: &Filters, staff: &Staff, view: View) -> Select<leads::Entity> {
    use leads::Column as C;
    let now = Utc::now();
    let mut select = leads::Entity::find().filter(in_view(view, staff));
    select = match filters.stage {
        StageFilter::Open => select.filter(C::Stage.is_not_in(["won", "lost"])),
        StageFilter::Any => select,
        StageFilter::One(stage) => select.filter(C::Stage.eq(stage.name())),
    };
    if let Some(source) = filters.source {
        let touched = Query::select()
            .column(lead_touchpoints::Column::LeadId)
            .from(lead_touchpoints::Entity)
            .and_where(Expr::col(lead_touchpoints::Column::Source).eq(source.name()))
            .to_owned();
        select = select.filter(
            Condition::any()
                .add(C::FirstSource.eq(source.name()))
                .add(C::Id.in_subquery(touched)),
        );
    }
    if let Some(owner) = filters.owner {
        select = select.filter(C::OwnerId.eq(owner));
    }
    let overdue = Condition::all()
        .add(C::FirstResponseAt.is_null())
        .add(C::ResponseDueAt.lt(now))
        .add(C::Stage.is_not_in(["won", "lost"]));
    select = match filters.overdue {
        Some(true) => select.filter(overdue),
        Some(false) => select.filter(overdue.not()),
        None => select,
    };
    if !filters.q.is_empty() {
        select = match shared::phone::to_e164(&filters.q) {
            Some(phone) => select.filter(C::Phone.eq(phone)),
            None => select.filter(C::Name.contains(&filters.q)),
        };
    }
    if let Some(from) = filters.from {
        select = select.filter(C::FirstSeenAt.gte(shared::time::ist_day_start(from)));
    }
    if let Some(to) = filters.to.and_then(|d| d.succ_opt()) {
        select = select.filter(C::FirstSeenAt.lt(shared::time::ist_day_start(to)));
    }
    select
}

/// One row of the list.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub id: Uuid,
    pub name: Option<String>,
    pub phone: String,
    pub owner: Option<String>,
    pub team: Option<String>,
    pub stage: String,
    pub sources: Vec<String>,
    pub vehicle: Option<String>,
    pub first_seen_at: chrono::DateTime<Utc>,
    pub first_response_seconds: Option<i64>,
    /// Seconds since the clock started, while unanswered.
    pub waiting_seconds: Option<i64>,
    pub overdue: bool,
}

/// A page of the list.
#[derive(Debug, Serialize)]
pub struct Page {
    pub leads: Vec<Row>,
    pub total: u64,
}

/// The list's order: unanswered first, longest waiting first.
fn ordered(select: Select<leads::Entity>) -> Select<leads::Entity> {
    use leads::Column as C;
    select
        .order_by(Expr::col(C::FirstResponseAt).is_null(), Order::Desc)
        .order_by_asc(C::ClockStartedAt)
        .order_by_asc(C::Id)
}

/// Reads one page of the filtered view.
pub async fn page(
    db: &DatabaseConnection,
    staff: &Staff,
    filters: &Filters,
) -> Result<Page, Refusal> {
    let select = select(filters, staff, filters.view);
    let total = select.clone().count(db).await.map_err(unavailable)?;
    let found = ordered(select)
        .offset((filters.page - 1) * PAGE_SIZE)
        .limit(PAGE_SIZE)
        .all(db)
        .await
        .map_err(unavailable)?;
    Ok(Page {
        leads: rows(db, found).await?,
        total,
    })
}

/// Most leads one export holds.
pub const MAX_EXPORT_ROWS: u64 = 50_000;

/// Leads read per query while exporting.
const EXPORT_CHUNK: u64 = 500;

/// Every lead of the filtered view (every page), for an export: at most
/// [`MAX_EXPORT_ROWS`], or a 400 asking for narrower filters.
pub async fn everything(
    db: &DatabaseConnection,
    staff: &Staff,
    filters: &Filters,
) -> Result<Vec<Row>, Refusal> {
    let select = select(filters, staff, filters.view);
    let total = select.clone().count(db).await.map_err(unavailable)?;
    if total > MAX_EXPORT_ROWS {
        return Err(Refusal::BadRequest(format!(
            "{total} leads match; an export holds at most {MAX_EXPORT_ROWS}: narrow the filters (dates, stage, source)."
        )));
    }
    let mut all = Vec::new();
    let mut offset = 0;
    loop {
        let found = ordered(select.clone())
            .offset(offset)
            .limit(EXPORT_CHUNK)
            .all(db)
            .await
            .map_err(unavailable)?;
        if found.is_empty() {
            return Ok(all);
        }
        offset += found.len() as u64;
        all.extend(rows(db, found).await?);
    }
}

/// The list's rows for `found` (their sources, owners and teams by name).
async fn rows(db: &DatabaseConnection, found: Vec<leads::Model>) -> Result<Vec<Row>, Refusal> {
    let ids: Vec<Uuid> = found.iter().map(|l| l.id).collect();
    let touched: Vec<(Uuid, String)> = lead_touchpoints::Entity::find()
        .select_only()
        .columns([
            lead_touchpoints::Column::LeadId,
            lead_touchpoints::Column::Source,
        ])
        .filter(lead_touchpoints::Column::LeadId.is_in(ids))
        .distinct()
        .into_tuple()
        .all(db)
        .await
        .map_err(unavailable)?;
    let mut sources: HashMap<Uuid, BTreeSet<String>> = HashMap::new();
    for (lead, source) in touched {
        sources
            .entry(lead)
            .or_default()
            .insert(source_label(&source).to_owned());
    }
    let users = super::usernames(db).await?;
    let teams = super::team_names(db).await?;
    let now = Utc::now();
    let leads = found
        .into_iter()
        .map(|lead| {
            let mut lead_sources = sources.remove(&lead.id).unwrap_or_default();
            lead_sources.insert(source_label(&lead.first_source).to_owned());
            let start = lead.clock_started_at.unwrap_or(lead.first_seen_at);
            Row {
                id: lead.id,
                owner: lead.owner_id.and_then(|o| users.get(&o).cloned()),
                team: lead.team_id.and_then(|t| teams.get(&t).cloned()),
                stage: lead.stage.clone(),
                sources: lead_sources.into_iter().collect(),
                vehicle: lead.vehicle.clone(),
                first_seen_at: lead.first_seen_at,
                first_response_seconds: first_response_seconds(&lead),
                waiting_seconds: lead
                    .first_response_at
                    .is_none()
                    .then(|| Ord::max((now - start).num_seconds(), 0)),
                overdue: is_overdue(&lead, now),
                name: lead.name,
                phone: lead.phone,
            }
        })
        .collect();
    Ok(leads)
}

/// How many leads each view `staff` may open holds, with the same
/// filters.
pub async fn counts(
    db: &DatabaseConnection,
    staff: &Staff,
    filters: &Filters,
) -> Result<Vec<(View, u64)>, Refusal> {
    let mut counts = Vec::new();
    for view in View::ALL.into_iter().filter(|v| v.allowed(staff)) {
        let count = select(filters, staff, view)
            .count(db)
            .await
            .map_err(unavailable)?;
        counts.push((view, count));
    }
    Ok(counts)
}
