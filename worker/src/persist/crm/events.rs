//! What each CRM event does to its record, once it is locked.

use crate::persist::Applied;
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict, Query};
use sea_orm::{ConnectionTrait, DatabaseTransaction, DbErr};
use serde_json::{Map, Value};
use shared::Envelope;
use shared::contracts::crm_events::{CrmWebhook, Event, Subject};
use shared::contracts::crm_fields::{CUSTOMER_FIELDS, PERSON_FIELDS, PROFILE_FIELDS};

use super::*;

pub(super) async fn apply_event(
    txn: &DatabaseTransaction,
    envelope: &Envelope,
    hook: &CrmWebhook,
) -> Result<Applied, DbErr> {
    let data = &hook.data;
    let kind = match hook.event.subject() {
        Subject::PreLead | Subject::NewPreLead => PRE_LEAD,
        _ => LEAD,
    };
    // Creations and customer events need no existing pre-lead or lead.
    match hook.event {
        Event::NewInquiry | Event::NewLead => {
            let field = if hook.event == Event::NewLead {
                "lead_id"
            } else {
                "pre_lead_id"
            };
            return match assigned(envelope, field) {
                Ok(id) => create(txn, kind, id, data, None)
                    .await
                    .map(|()| Applied::Written),
                Err(invalid) => Ok(invalid),
            };
        }
        Event::OrderCreated | Event::PaymentReceived => return customer_figures(txn, hook).await,
        _ => {}
    }
    let Some(id) = hook.subject_id.as_deref() else {
        return Ok(Applied::Invalid(format!(
            "{} event without a {} id",
            hook.event.name(),
            kind.label
        )));
    };
    let Some(record) = lock(txn, kind, id).await? else {
        // Perhaps its creation is still behind it in the queue.
        return Ok(Applied::Missing(format!("{} {id} not found", kind.label)));
    };
    match hook.event {
        Event::PreLeadUpdate | Event::LeadUpdate => {
            let at = event_time(hook, envelope);
            let (merged, last_change) = merge_data(&record.data, record.data_event_at, data, at);
            let mut values = vec![
                ("data", json(&merged)),
                ("data_event_at", Expr::val(last_change)),
                ("updated_at", now()),
            ];
            values.extend(typed(PERSON_FIELDS, &merged));
            if let Some(priority) = data_str(&merged, "priority") {
                values.push(("priority", text(priority)));
            }
            update(txn, kind.table(), id, values).await?;
            if let Some(status) = data_str(data, "lead_status") {
                if record.discarded {
                    return Ok(Applied::Invalid(format!(
                        "{} {id} is discarded; its status cannot change",
                        kind.label
                    )));
                }
                let change = Change {
                    new_status: status,
                    remarks: Some("set by update"),
                    event_at: event_time(hook, envelope),
                };
                return change_status(txn, kind, id, &record, change, envelope).await;
            }
            Ok(Applied::Written)
        }
        Event::PreLeadDiscard | Event::LeadDiscard => {
            let reason = [data_str(data, "reason"), data_str(data, "loss_reason")]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(" — ");
            update(
                txn,
                kind.table(),
                id,
                vec![
                    ("discarded", Expr::val(true)),
                    (
                        "discard_reason",
                        Expr::val((!reason.is_empty()).then_some(reason)),
                    ),
                    ("updated_at", now()),
                ],
            )
            .await?;
            Ok(Applied::Written)
        }
        Event::PreLeadContactAdd | Event::LeadContactAdd => {
            match assigned(envelope, "contact_id") {
                Ok(child_id) => child(txn, CONTACTS, kind, id, child_id, None, data)
                    .await
                    .map(|()| Applied::Written),
                Err(invalid) => Ok(invalid),
            }
        }
        Event::PreLeadMemoAdd | Event::LeadMemoAdd => match assigned(envelope, "memo_id") {
            Ok(child_id) => child(
                txn,
                MEMOS,
                kind,
                id,
                child_id,
                data_str(data, "memo_type"),
                data,
            )
            .await
            .map(|()| Applied::Written),
            Err(invalid) => Ok(invalid),
        },
        Event::LeadActivityAdd => match assigned(envelope, "activity_id") {
            Ok(child_id) => child(
                txn,
                ACTIVITIES,
                kind,
                id,
                child_id,
                data_str(data, "activity_type"),
                data,
            )
            .await
            .map(|()| Applied::Written),
            Err(invalid) => Ok(invalid),
        },
        Event::PreLeadStatusUpdate | Event::LeadStatusUpdate => {
            if record.discarded {
                return Ok(Applied::Invalid(format!(
                    "{} {id} is discarded; its status cannot change",
                    kind.label
                )));
            }
            let Some(status) = data_str(data, "lead_status") else {
                return Ok(Applied::Invalid("status update without lead_status".into()));
            };
            let change = Change {
                new_status: status,
                remarks: data_str(data, "remarks"),
                event_at: event_time(hook, envelope),
            };
            change_status(txn, kind, id, &record, change, envelope).await
        }
        Event::PreLeadConvert => {
            if record.discarded {
                return Ok(Applied::Invalid(format!(
                    "pre-lead {id} is discarded and cannot be converted"
                )));
            }
            if let Some(lead) = &record.link {
                return Ok(Applied::Invalid(format!(
                    "pre-lead {id} was already converted to lead {lead}"
                )));
            }
            let lead_id = match assigned(envelope, "lead_id") {
                Ok(lead_id) => lead_id,
                Err(invalid) => return Ok(invalid),
            };
            let mut lead_data = record.data.clone();
            lead_data.remove("lead_status");
            lead_data.extend(data.iter().map(|(k, v)| (k.clone(), v.clone())));
            create(txn, LEAD, lead_id, &lead_data, Some(id)).await?;
            update(
                txn,
                PRE_LEAD.table(),
                id,
                vec![("converted_lead_id", text(lead_id)), ("updated_at", now())],
            )
            .await?;
            Ok(Applied::Written)
        }
        Event::LeadQualifiedProfileUpdate => {
            let profile_id = match assigned(envelope, "profile_id") {
                Ok(profile_id) => profile_id,
                Err(invalid) => return Ok(invalid),
            };
            // The lead is locked (above): profile updates take turns.
            let existing = txn
                .query_one(
                    Query::select()
                        .columns([t("data"), t("data_event_at")])
                        .from(t(crm_qualified_profiles::Entity.table_name()))
                        .and_where(Expr::col(t("lead_id")).eq(id)),
                )
                .await?;
            let (stored, stored_at) = match existing {
                Some(row) => (json_field(&row, "data")?, row.try_get("", "data_event_at")?),
                None => (Map::new(), None),
            };
            let (merged, last_change) =
                merge_data(&stored, stored_at, data, event_time(hook, envelope));
            let mut values = vec![
                ("id", text(profile_id)),
                ("lead_id", text(id)),
                ("data", json(&merged)),
                ("data_event_at", Expr::val(last_change)),
                ("created_at", now()),
                ("updated_at", now()),
            ];
            values.extend(typed(PROFILE_FIELDS, &merged));
            let updated = ["data", "data_event_at", "updated_at"]
                .into_iter()
                .chain(PROFILE_FIELDS.iter().map(|f| f.column))
                .map(t);
            insert(
                txn,
                crm_qualified_profiles::Entity.table_name(),
                values,
                OnConflict::column(t("lead_id"))
                    .update_columns(updated)
                    .to_owned(),
            )
            .await?;
            Ok(Applied::Written)
        }
        Event::LeadConvert => {
            if record.discarded {
                return Ok(Applied::Invalid(format!(
                    "lead {id} is discarded and cannot be converted"
                )));
            }
            if let Some(customer) = &record.link {
                return Ok(Applied::Invalid(format!(
                    "lead {id} was already converted to customer {customer}"
                )));
            }
            let customer_id = match assigned(envelope, "customer_id") {
                Ok(customer_id) => customer_id,
                Err(invalid) => return Ok(invalid),
            };
            let mut values = vec![
                ("id", text(customer_id)),
                ("lead_id", text(id)),
                (
                    "customer_code",
                    Expr::val(data_str(data, "customer_code").map(str::to_owned)),
                ),
                ("data", json(data)),
                ("orders_count", Expr::val(0)),
                ("orders_total", Expr::val(0.0)),
                ("payments_count", Expr::val(0)),
                ("payments_total", Expr::val(0.0)),
                ("created_at", now()),
                ("updated_at", now()),
            ];
            values.extend(typed(CUSTOMER_FIELDS, data));
            insert(
                txn,
                crm_customers::Entity.table_name(),
                values,
                OnConflict::column(t("id")).do_nothing().to_owned(),
            )
            .await?;
            update(
                txn,
                LEAD.table(),
                id,
                vec![("customer_id", text(customer_id)), ("updated_at", now())],
            )
            .await?;
            Ok(Applied::Written)
        }
        Event::NewInquiry | Event::NewLead | Event::OrderCreated | Event::PaymentReceived => {
            Ok(Applied::Written)
        }
    }
}

/// `order_created` and `payment_received`: add to the customer's figures.
pub(super) async fn customer_figures(
    txn: &DatabaseTransaction,
    hook: &CrmWebhook,
) -> Result<Applied, DbErr> {
    let data = &hook.data;
    // A null, empty or blank customer_id is no id: the code decides then.
    let id = match data.get("customer_id") {
        Some(Value::String(s)) => Some(s.trim().to_owned()),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    }
    .filter(|id| !id.is_empty());
    let code = data_str(data, "customer_code")
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .map(str::to_owned);
    let column = if id.is_some() { "id" } else { "customer_code" };
    let Some(key) = id.or(code) else {
        return Ok(Applied::Invalid("no customer_id or customer_code".into()));
    };
    let (count, total) = match hook.event {
        Event::OrderCreated => ("orders_count", "orders_total"),
        _ => ("payments_count", "payments_total"),
    };
    let amount = data_amount(data, &["amount", "order_value", "total_amount"]);
    let mut statement = Query::update();
    statement
        .table(t(crm_customers::Entity.table_name()))
        .value(t(count), Expr::col(t(count)).add(1))
        .value(t(total), Expr::col(t(total)).add(amount))
        .value(t("updated_at"), now())
        .and_where(Expr::col(t(column)).eq(key.clone()));
    let updated = txn.execute(&statement).await?.rows_affected();
    if updated == 0 {
        return Ok(Applied::Missing(format!("customer {key} not found")));
    }
    Ok(Applied::Written)
}
