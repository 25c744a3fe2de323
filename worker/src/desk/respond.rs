//! First responses: the first action since a lead's clock started that
//! reached the customer. Here, calls (a captured outbound call to them, or
//! a Tata call a staff member answered); replies on WhatsApp are recorded
//! when Tata accepts them (`outbound`), and a move to contacted by the
//! console. Never an incoming message.

use sea_orm::sea_query::{Expr, ExprTrait, Query};
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter};
use std::collections::HashMap;
use store::entities::{leads, staff_users};
use uuid::Uuid;

/// Which staff member a partner says acted.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum PartnerStaff {
    /// Tata calls' `staff_id`.
    Tata(String),
    /// Call capture's `employee_id`.
    Employee(String),
    /// A console account's user name (a reply's author).
    Username(String),
}

/// An action that reached a customer.
#[derive(Debug, Clone)]
pub(crate) struct Response {
    pub lead: Uuid,
    pub at: chrono::DateTime<chrono::Utc>,
    pub by: Option<PartnerStaff>,
}

/// The most leads one statement updates.
const CHUNK: usize = 64;

/// Records first responses: one statement per 64 leads, each lead's
/// earliest response in the batch, only where none is recorded and the
/// response is not older than the lead's clock.
pub(crate) async fn record(
    txn: &impl ConnectionTrait,
    responses: Vec<Response>,
) -> Result<(), DbErr> {
    if responses.is_empty() {
        return Ok(());
    }
    let staff = staff_ids(txn, &responses).await?;
    let mut earliest: HashMap<Uuid, (chrono::DateTime<chrono::Utc>, Option<Uuid>)> = HashMap::new();
    for response in responses {
        let by = response.by.as_ref().and_then(|b| staff.get(b).copied());
        earliest
            .entry(response.lead)
            .and_modify(|e| {
                if response.at < e.0 {
                    *e = (response.at, by);
                }
            })
            .or_insert((response.at, by));
    }
    let mut rows: Vec<_> = earliest.into_iter().collect();
    // Lock order: by key, as every other write.
    rows.sort_by_key(|(lead, _)| *lead);
    use leads::Column as C;
    for chunk in rows.chunks(CHUNK) {
        // Each SET sees the row as it was: both CASEs test the same
        // condition (this lead, and a response not older than its clock).
        let answered = |lead: Uuid, when| {
            Expr::col(C::Id)
                .eq(lead)
                .and(Expr::col(C::ClockStartedAt).lte(when))
        };
        let (lead, (when, who)) = chunk[0];
        let mut at = Expr::case(answered(lead, when), when);
        let mut by = Expr::case(answered(lead, when), who);
        for &(lead, (when, who)) in &chunk[1..] {
            at = at.case(answered(lead, when), when);
            by = by.case(answered(lead, when), who);
        }
        let ids: Vec<Uuid> = chunk.iter().map(|(lead, _)| *lead).collect();
        let update = Query::update()
            .table(leads::Entity)
            .value(
                C::FirstResponseAt,
                at.finally(Expr::col(C::FirstResponseAt)),
            )
            .value(
                C::FirstResponseBy,
                by.finally(Expr::col(C::FirstResponseBy)),
            )
            .and_where(Expr::col(C::Id).is_in(ids))
            .and_where(Expr::col(C::FirstResponseAt).is_null())
            .to_owned();
        txn.execute(&update).await?;
    }
    Ok(())
}

/// The accounts partners' staff ids belong to.
async fn staff_ids(
    txn: &impl ConnectionTrait,
    responses: &[Response],
) -> Result<HashMap<PartnerStaff, Uuid>, DbErr> {
    let mut tata = Vec::new();
    let mut employees = Vec::new();
    let mut usernames = Vec::new();
    for response in responses {
        match &response.by {
            Some(PartnerStaff::Tata(id)) => tata.push(id.clone()),
            Some(PartnerStaff::Employee(id)) => employees.push(id.clone()),
            Some(PartnerStaff::Username(name)) => usernames.push(name.clone()),
            None => {}
        }
    }
    let mut found = HashMap::new();
    if tata.is_empty() && employees.is_empty() && usernames.is_empty() {
        return Ok(found);
    }
    let users = staff_users::Entity::find()
        .filter(
            staff_users::Column::TataStaffId
                .is_in(tata)
                .or(staff_users::Column::EmployeeId.is_in(employees))
                .or(staff_users::Column::Username.is_in(usernames)),
        )
        .all(txn)
        .await?;
    for user in users {
        found.insert(PartnerStaff::Username(user.username.clone()), user.id);
        if let Some(id) = user.tata_staff_id {
            found.insert(PartnerStaff::Tata(id), user.id);
        }
        if let Some(id) = user.employee_id {
            found.insert(PartnerStaff::Employee(id), user.id);
        }
    }
    Ok(found)
}
