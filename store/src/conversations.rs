//! A WhatsApp conversation's status, which staff set in the inbox and a
//! customer's new message resets: the worker reopens resolved and snoozed
//! conversations, the console lists and changes them.

use crate::entities::conversation_states::{self, Column as C};
use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter};

/// Being worked on (also: no row).
pub const OPEN: &str = "open";
/// Waiting on something (a quote, a manager).
pub const PENDING: &str = "pending";
/// Done, until the customer writes again.
pub const RESOLVED: &str = "resolved";
/// Out of sight until a time, or until the customer writes.
pub const SNOOZED: &str = "snoozed";
/// Every status, in the order the inbox offers them.
pub const ALL: [&str; 4] = [OPEN, PENDING, RESOLVED, SNOOZED];

/// The status staff see: a snooze whose time has passed is open again.
pub fn effective(row: Option<&conversation_states::Model>, now: DateTime<Utc>) -> &'static str {
    match row {
        None => OPEN,
        Some(row) => match row.status.as_str() {
            SNOOZED if row.snoozed_until.is_some_and(|until| until <= now) => OPEN,
            SNOOZED => SNOOZED,
            PENDING => PENDING,
            RESOLVED => RESOLVED,
            _ => OPEN,
        },
    }
}

/// The customers in `wrote` (phone, when their message was sent) wrote
/// again: their resolved or snoozed conversations reopen, unless staff
/// changed the status after that message (a late redelivery does not undo
/// a newer "resolved"). WhatsApp's times are whole seconds: a message sent
/// in the second the status changed reopens it (better one conversation
/// too many open than a customer unanswered).
pub async fn reopen(
    db: &impl ConnectionTrait,
    wrote: &[(String, DateTime<Utc>)],
) -> Result<u64, DbErr> {
    let mut reopened = 0;
    for chunk in crate::chunks::split(wrote, 64) {
        let Some((first, rest)) = chunk.split_first() else {
            continue;
        };
        let second = chrono::TimeDelta::seconds(1);
        let mut sent = Expr::case(C::Phone.eq(first.0.as_str()), first.1 + second);
        for (phone, at) in rest {
            sent = sent.case(C::Phone.eq(phone.as_str()), *at + second);
        }
        let result = conversation_states::Entity::update_many()
            .col_expr(C::Status, Expr::value(OPEN))
            .col_expr(C::SnoozedUntil, Expr::value(Option::<DateTime<Utc>>::None))
            .col_expr(C::ChangedBy, Expr::value(Option::<String>::None))
            .col_expr(C::ChangedAt, Expr::value(Utc::now()))
            .filter(C::Phone.is_in(chunk.iter().map(|(phone, _)| phone.as_str())))
            .filter(C::Status.is_in([RESOLVED, SNOOZED]))
            .filter(Expr::col(C::ChangedAt).lt(sent.finally(Expr::col(C::ChangedAt))))
            .exec(db)
            .await?;
        reopened += result.rows_affected;
    }
    Ok(reopened)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_snooze_whose_time_has_passed_is_open_and_no_row_is_open() {
        let now = Utc::now();
        let row = |status: &str, until: Option<DateTime<Utc>>| conversation_states::Model {
            phone: "+919876543210".into(),
            status: status.into(),
            snoozed_until: until,
            changed_by: Some("asha".into()),
            changed_at: now,
        };
        assert_eq!(effective(None, now), OPEN);
        let later = now + chrono::TimeDelta::hours(1);
        let earlier = now - chrono::TimeDelta::minutes(1);
        assert_eq!(effective(Some(&row(SNOOZED, Some(later))), now), SNOOZED);
        assert_eq!(effective(Some(&row(SNOOZED, Some(earlier))), now), OPEN);
        assert_eq!(effective(Some(&row(SNOOZED, None)), now), SNOOZED);
        assert_eq!(effective(Some(&row(RESOLVED, None)), now), RESOLVED);
        assert_eq!(effective(Some(&row(PENDING, None)), now), PENDING);
    }
}
