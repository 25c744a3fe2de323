//! Who sees which lead, decided on the server (see [`super`]'s doc):
//! managers and operators every lead; a salesperson their own, the
//! unassigned leads of their teams (and of no team), and leads where a
//! follow-up is theirs. The desk, the timeline and the WhatsApp inbox all
//! ask here.

use crate::auth::Staff;
use crate::refusal::Refusal;
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter};
use store::entities::{follow_ups, leads};
use uuid::Uuid;

fn unavailable(error: impl std::fmt::Display) -> Refusal {
    Refusal::database("the lead desk", error)
}

/// The lead, if it exists and `staff` may see it; 404 either way
/// otherwise (a salesperson cannot tell someone else's lead from none).
pub(crate) async fn visible_lead(
    db: &DatabaseConnection,
    staff: &Staff,
    id: Uuid,
) -> Result<leads::Model, Refusal> {
    let lead = leads::Entity::find_by_id(id)
        .one(db)
        .await
        .map_err(unavailable)?
        .ok_or_else(|| Refusal::NotFound("No such lead.".into()))?;
    if may_see(db, staff, &lead).await? {
        Ok(lead)
    } else {
        Err(Refusal::NotFound("No such lead.".into()))
    }
}

/// Whether `staff` sees `lead` by role, ownership or team alone (see the
/// module's doc); the follow-ups are the rest of the rule.
fn sees_without_tasks(staff: &Staff, lead: &leads::Model) -> bool {
    staff.role.sees_all_leads()
        || lead.owner_id == Some(staff.user_id)
        || (lead.owner_id.is_none() && lead.team_id.is_none_or(|t| staff.teams.contains(&t)))
}

/// Which leads one member of staff may see, read once for a whole list
/// (the WhatsApp conversations): the same rule as [`may_see`].
pub(crate) struct Sight<'a> {
    staff: &'a Staff,
    /// Leads with a follow-up assigned to them.
    tasks: std::collections::HashSet<Uuid>,
}

impl<'a> Sight<'a> {
    /// Reads what the rule needs beyond the session.
    pub(crate) async fn of(
        db: &DatabaseConnection,
        staff: &'a Staff,
    ) -> Result<Self, sea_orm::DbErr> {
        use sea_orm::QuerySelect;
        let tasks = if staff.role.sees_all_leads() {
            Default::default()
        } else {
            follow_ups::Entity::find()
                .select_only()
                .column(follow_ups::Column::LeadId)
                .filter(follow_ups::Column::AssigneeId.eq(staff.user_id))
                .into_tuple::<Uuid>()
                .all(db)
                .await?
                .into_iter()
                .collect()
        };
        Ok(Self { staff, tasks })
    }

    /// Whether they may see `lead`.
    pub(crate) fn sees(&self, lead: &leads::Model) -> bool {
        sees_without_tasks(self.staff, lead) || self.tasks.contains(&lead.id)
    }

    /// Whether they may see what belongs to no lead (managers and
    /// operators only).
    pub(crate) fn sees_unattached(&self) -> bool {
        self.staff.role.sees_all_leads()
    }
}

/// Whether `staff` may see `lead` (see the module's doc).
pub(crate) async fn may_see(
    db: &DatabaseConnection,
    staff: &Staff,
    lead: &leads::Model,
) -> Result<bool, Refusal> {
    if sees_without_tasks(staff, lead) {
        return Ok(true);
    }
    let tasks = follow_ups::Entity::find()
        .filter(follow_ups::Column::LeadId.eq(lead.id))
        .filter(follow_ups::Column::AssigneeId.eq(staff.user_id))
        .count(db)
        .await
        .map_err(unavailable)?;
    Ok(tasks > 0)
}
