//! The lead desk's part of a batch, in the transaction that writes the
//! batch's leads: new leads are routed to a team and assigned round-robin
//! (exactly once: the lead's row is locked by the batch's upsert, and each
//! team's turn counter by the assignment), outbound calls answer a lead
//! (its first response), and the CRM's statuses move the lead's stage. The
//! escalation of unanswered leads runs on a timer ([`escalate`]).

pub(crate) mod escalate;
pub(crate) mod respond;
mod route;

pub(crate) use respond::{PartnerStaff, Response};

use sea_orm::{DatabaseTransaction, DbErr};
use shared::config::DeskConfig;
use shared::desk::Stage;
use store::desk::{MovedBy, StageMove, move_stage};
use uuid::Uuid;

/// A CRM status to carry onto the lead's stage.
pub(crate) struct CrmStatus {
    pub lead: Uuid,
    pub status: String,
    pub at: chrono::DateTime<chrono::Utc>,
    /// The event's name, kept in the stage history.
    pub event: &'static str,
}

/// What a batch asks of the desk, gathered as its messages are staged.
#[derive(Default)]
pub(crate) struct DeskWork {
    /// Every lead the batch sighted: those not routed yet get routed.
    pub sighted: Vec<Uuid>,
    /// Actions that reached a customer.
    pub responses: Vec<Response>,
    /// CRM statuses, in message order.
    pub crm_statuses: Vec<CrmStatus>,
}

/// Does the batch's desk work, after its leads are written.
pub(crate) async fn apply(
    txn: &DatabaseTransaction,
    work: DeskWork,
    desk: &DeskConfig,
) -> Result<(), DbErr> {
    route::route(txn, work.sighted, desk).await?;
    respond::record(txn, work.responses).await?;
    for status in work.crm_statuses {
        let Some(stage) = Stage::from_crm_status(&status.status) else {
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
                lost_reason: (stage == Stage::Lost).then_some("other"),
                by: MovedBy::Event(status.event),
                at: status.at,
            },
        )
        .await?;
    }
    Ok(())
}
