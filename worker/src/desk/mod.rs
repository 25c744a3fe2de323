//! The lead desk's part of a batch, in the transaction that writes the
//! batch's leads: new leads are routed to a team and assigned round-robin,
//! exactly once, as they are written ([`new_leads`]); outbound calls
//! answer a lead (its first response), the CRM's statuses move the lead's
//! stage, and an owner hears that their customer wrote ([`wrote`]). On
//! timers that survive restarts ([`timers`]): leads left unrouted are
//! routed ([`route`]), unanswered ones escalate ([`escalate`]), and
//! follow-ups coming due are announced ([`follow_ups_due`]).

pub(crate) mod escalate;
pub(crate) mod follow_ups_due;
pub(crate) mod new_leads;
pub(crate) mod respond;
pub(crate) mod route;
pub(crate) mod timers;
pub(crate) mod turns;
pub(crate) mod wrote;

pub(crate) use respond::{PartnerStaff, Response};
pub(crate) use turns::Turns;

use sea_orm::{DatabaseTransaction, DbErr};
use shared::config::DeskConfig;
use shared::contracts::crm_events::{CrmWebhook, Event};
use shared::desk::Stage;
use store::desk::{MovedBy, StageMove, move_stage};
use uuid::Uuid;

/// What a batch needs of the desk: its settings, and where the batch's
/// new leads take their turns.
#[derive(Debug, Clone, Default)]
pub(crate) struct Desk {
    pub config: DeskConfig,
    pub turns: Turns,
}

/// What a CRM event says of the lead's stage and owner.
pub(crate) struct CrmStatus {
    pub lead: Uuid,
    /// The stage it moves the lead to, if any.
    pub stage: Option<(Stage, Option<&'static str>)>,
    /// The CRM's `assigned_to`, when the event sets it.
    pub assigned_to: Option<String>,
    pub at: chrono::DateTime<chrono::Utc>,
    /// The event's name, kept in the stage history.
    pub event: &'static str,
}

impl CrmStatus {
    /// What `hook` (about a pre-lead or lead whose status is now
    /// `status`) says of the desk (the mapping README documents):
    /// creations, status updates and updates that carry `lead_status` move
    /// the stage by [`Stage::from_crm_status`]; a pre-lead's conversion
    /// makes it qualified, a lead's conversion to a customer won, a discard
    /// lost. Contacts, memos, activities and profiles move nothing.
    pub(crate) fn of(
        lead: Uuid,
        hook: &CrmWebhook,
        status: &str,
        at: chrono::DateTime<chrono::Utc>,
    ) -> Option<Self> {
        let by_status = || Stage::from_crm_status(status).map(|s| (s, None));
        let stage = match hook.event {
            Event::NewInquiry
            | Event::NewLead
            | Event::PreLeadStatusUpdate
            | Event::LeadStatusUpdate => by_status(),
            Event::PreLeadUpdate | Event::LeadUpdate if hook.data.contains_key("lead_status") => {
                by_status()
            }
            Event::PreLeadConvert => Some((Stage::Qualified, None)),
            Event::LeadConvert => Some((Stage::Won, None)),
            Event::PreLeadDiscard | Event::LeadDiscard => Some((Stage::Lost, Some("other"))),
            _ => None,
        };
        let assigned_to = hook.data.get("assigned_to").and_then(|v| match v {
            serde_json::Value::String(s) => Some(s.trim().to_owned()),
            serde_json::Value::Number(n) => Some(n.to_string()),
            _ => None,
        });
        (stage.is_some() || assigned_to.is_some()).then_some(Self {
            lead,
            stage,
            assigned_to,
            at,
            event: hook.event.name(),
        })
    }
}

/// What a batch asks of the desk, gathered as its messages are staged.
#[derive(Default)]
pub(crate) struct DeskWork {
    /// Actions that reached a customer.
    pub responses: Vec<Response>,
    /// CRM statuses, in message order.
    pub crm_statuses: Vec<CrmStatus>,
    /// What open pages should hear of once the batch commits.
    pub changes: Vec<store::live::Change>,
    /// Leads this batch created and assigned: their owner is told of the
    /// assignment, not again that the customer wrote.
    pub assigned: std::collections::HashSet<Uuid>,
    /// Notifications for staff (new owners of the batch's new leads).
    pub notices: Vec<store::desk::Notice<'static>>,
}

/// Does the batch's desk work, after its leads are written.
pub(crate) async fn apply(
    txn: &DatabaseTransaction,
    work: DeskWork,
    desk: &DeskConfig,
) -> Result<(), DbErr> {
    respond::record(txn, work.responses).await?;
    let wrote: Vec<Uuid> = work
        .changes
        .iter()
        .filter(|c| c.kind == store::live::ChangeKind::Message)
        .filter_map(|c| c.lead)
        .filter(|lead| !work.assigned.contains(lead))
        .collect();
    let mut notices = work.notices;
    notices.extend(wrote::notices(txn, wrote).await?);
    let mut changes = work.changes;
    for status in work.crm_statuses {
        if let Some(crm_user) = &status.assigned_to {
            assign_to_crm_user(txn, status.lead, crm_user).await?;
            changes.push(store::live::Change::lead(
                store::live::ChangeKind::Lead,
                status.lead,
            ));
        }
        let Some((stage, lost_reason)) = status.stage else {
            continue;
        };
        // An older event than the stage's last change (by staff or another
        // event) changes nothing: `move_stage` compares the times.
        move_stage(
            txn,
            desk,
            StageMove {
                lead: status.lead,
                to: stage,
                lost_reason: lost_reason.or((stage == Stage::Lost).then_some("other")),
                by: MovedBy::Event(status.event),
                at: status.at,
            },
        )
        .await?;
    }
    // The batch's change feed and notifications, one insert each.
    store::desk::notify_along(txn, notices, changes).await
}

/// The CRM assigned the lead to one of its users: the account that
/// carries that CRM id (`console user change --crm-user-id`) owns it.
/// Unknown to us, nothing changes.
async fn assign_to_crm_user(
    txn: &DatabaseTransaction,
    lead: Uuid,
    crm_user: &str,
) -> Result<(), DbErr> {
    use sea_orm::sea_query::Expr;
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
    use store::entities::{leads, staff_users};
    let Some(account) = staff_users::Entity::find()
        .filter(staff_users::Column::CrmUserId.eq(crm_user))
        .one(txn)
        .await?
    else {
        return Ok(());
    };
    leads::Entity::update_many()
        .col_expr(leads::Column::OwnerId, Expr::value(account.id))
        .filter(leads::Column::Id.eq(lead))
        .exec(txn)
        .await?;
    Ok(())
}
