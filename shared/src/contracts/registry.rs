//! Every contract's request schemas by name, for `/openapi.json`.

use super::{call_capture, crm_events, digital_leads, tata_calls, tata_whatsapp};
use serde_json::Value;

/// Every request body's JSON Schema by its name in `/openapi.json`
/// (`components/schemas`, which `refs` points at): what each contract's
/// parser accepts. CRM events sent to their own endpoint are
/// `CrmEvent.<event>`; the generic endpoint's body is `CrmWebhook`.
pub fn schemas(refs: &str) -> Vec<(String, Value)> {
    let mut all: Vec<(String, Value)> = vec![("TataCall".into(), tata_calls::schema())];
    all.extend(digital_leads::PORTALS.iter().map(|portal| {
        (
            format!("DigitalLead{}", portal.label),
            digital_leads::schema(portal),
        )
    }));
    all.push(("CallCapture".into(), call_capture::schema()));
    all.push(("CrmWebhook".into(), crm_events::generic_schema()));
    all.extend(
        tata_whatsapp::schemas(refs)
            .into_iter()
            .map(|(name, schema)| (name.to_owned(), schema)),
    );
    all.extend(
        crm_events::Event::ALL
            .iter()
            .filter(|event| event.route().is_some())
            .map(|&event| {
                (
                    format!("CrmEvent.{}", event.name()),
                    crm_events::event_schema(event, false),
                )
            }),
    );
    all
}
