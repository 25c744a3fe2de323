//! CarDekho and CarWale lead pushes:
//! `POST /admin/mg-digital-leads/source/{cardekho,carwale}`
//! (`docs/contracts/digital-leads-cardekho-carwale.md`), with the field
//! aliases of the contract's section 5.

use super::{ContractError, FieldReader, MAX_STRING_CHARS, messages, parse_object};
use crate::Source;
use serde_json::{Map, Value};

/// A lead portal on this contract: the source its leads arrive as (their
/// queue, their metric label), the name the contract gives it (the
/// `platform` column), and the names it sends each field under, in its
/// order of preference.
#[derive(Debug, PartialEq, Eq)]
pub struct Portal {
    /// Where its leads arrive.
    pub source: Source,
    /// The `platform` column value, as the contract writes it.
    pub label: &'static str,
    aliases: Aliases,
}

/// Every lead portal on this contract. Another portal on the same contract
/// is one entry here (with its [`Source`]).
pub const PORTALS: &[Portal] = &[
    Portal {
        source: Source::Cardekho,
        label: "CarDekho",
        aliases: Aliases {
            name: &["name", "customer_name", "contact_name"],
            phone: &["phone_number", "mobile", "phone"],
            car_model: &["car_model", "vehicle_model", "model"],
            lead_url: &["lead_url", "page_url", "lead_detail_url"],
        },
    },
    Portal {
        source: Source::Carwale,
        label: "CarWale",
        aliases: Aliases {
            name: &["customer_name", "name", "contact_name"],
            phone: &["mobile", "phone_number", "phone"],
            car_model: &["vehicle_model", "car_model", "model"],
            lead_url: &["page_url", "lead_url", "url"],
        },
    },
];

/// The portal whose leads arrive as `source`, if it is one.
pub fn portal(source: Source) -> Option<&'static Portal> {
    PORTALS.iter().find(|portal| portal.source == source)
}

#[derive(Debug, PartialEq, Eq)]
struct Aliases {
    name: &'static [&'static str],
    phone: &'static [&'static str],
    car_model: &'static [&'static str],
    lead_url: &'static [&'static str],
}

/// A validated lead.
#[derive(Debug, Clone, PartialEq)]
pub struct DigitalLead {
    /// The portal it came from.
    pub portal: &'static Portal,
    /// Customer's name.
    pub name: String,
    /// E.164.
    pub phone_number: String,
    /// Model of interest.
    pub car_model: Option<String>,
    /// The lead's page on the portal.
    pub lead_url: Option<String>,
    /// Campaign, when sent.
    pub campaign: Option<String>,
    /// The partner's own `source` field, when sent.
    pub source: Option<String>,
    /// The entire body, as sent (the contract's `payload`).
    pub payload: Map<String, Value>,
}

/// Parses and validates a lead from `portal`. Missing required fields are
/// reported under the contract's internal names (`name`, `phone_number`).
pub fn parse(portal: &'static Portal, body: &[u8]) -> Result<DigitalLead, ContractError> {
    let object = parse_object(body)?;
    let aliases = &portal.aliases;
    let mut r = FieldReader::new(&object);
    let name = match r.first_alias(aliases.name) {
        Some(field) => r.required_str(field, MAX_STRING_CHARS),
        None => {
            r.errors.add("name", messages::REQUIRED);
            None
        }
    };
    let phone_number = match r.first_alias(aliases.phone) {
        Some(field) => {
            let raw = r.required_str(field, 64);
            raw.and_then(|raw| {
                let phone = crate::phone::to_e164(&raw);
                if phone.is_none() {
                    r.errors.add("phone_number", messages::PHONE);
                }
                phone
            })
        }
        None => {
            r.errors.add("phone_number", messages::REQUIRED);
            None
        }
    };
    let car_model = r.optional_alias(aliases.car_model, MAX_STRING_CHARS);
    let lead_url = r.optional_alias(aliases.lead_url, MAX_STRING_CHARS);
    let campaign = r.optional_str("campaign", MAX_STRING_CHARS);
    let source = r.optional_str("source", MAX_STRING_CHARS);
    r.finish(|| {
        Some(DigitalLead {
            portal,
            name: name?,
            phone_number: phone_number?,
            car_model,
            lead_url,
            campaign,
            source,
            payload: object.clone(),
        })
    })
}

/// The body's JSON Schema for `portal`: what [`parse`] accepts (see
/// [`super::schema`]). Each field may come under any of its aliases; the
/// first that holds a value is the one read.
pub fn schema(portal: &Portal) -> Value {
    use super::schema::{aliases, object, phone, required_text, text};
    let names = &portal.aliases;
    let mut schema = object(
        &[
            ("campaign", text(MAX_STRING_CHARS)),
            ("source", text(MAX_STRING_CHARS)),
        ],
        &[],
    );
    schema["allOf"] = serde_json::json!([
        aliases(names.name, &required_text(MAX_STRING_CHARS), true),
        aliases(names.phone, &phone(), true),
        aliases(names.car_model, &required_text(MAX_STRING_CHARS), false),
        aliases(names.lead_url, &required_text(MAX_STRING_CHARS), false),
    ]);
    schema["description"] = Value::from(format!(
        "Name: {} (required). Phone: {} (required). Model: {}. Page: {}. The first alias holding a value is read; other fields are kept in the payload.",
        names.name.join(" | "),
        names.phone.join(" | "),
        names.car_model.join(" | "),
        names.lead_url.join(" | "),
    ));
    schema
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_partner_sample_is_read_through_its_aliases() {
        let cardekho = parse(
            portal(Source::Cardekho).unwrap(),
            br#"{"name":"Ravi Kumar","phone_number":"9876543210","car_model":"Tata Nexon EV","lead_url":"https://cardekho.com/leads/123","campaign":"EV Awareness Q4","utm_source":"cardekho_ads"}"#,
        )
        .unwrap();
        assert_eq!(cardekho.phone_number, "+919876543210");
        assert_eq!(cardekho.car_model.as_deref(), Some("Tata Nexon EV"));
        assert_eq!(cardekho.payload["utm_source"], "cardekho_ads");
        let carwale = parse(
            portal(Source::Carwale).unwrap(),
            br#"{"customer_name":"Sunita Rao","mobile":"9123456780","vehicle_model":"Hyundai Creta","page_url":"https://carwale.com/lead/456","campaign":"Creta Test Drive"}"#,
        )
        .unwrap();
        assert_eq!(carwale.name, "Sunita Rao");
        assert_eq!(carwale.phone_number, "+919123456780");
        assert_eq!(
            carwale.lead_url.as_deref(),
            Some("https://carwale.com/lead/456")
        );
    }

    #[test]
    fn every_portal_is_found_by_its_source_and_no_other_source_is_a_portal() {
        for each in PORTALS {
            assert_eq!(portal(each.source), Some(each));
        }
        assert_eq!(portal(Source::TataCalls), None);
        let mut labels: Vec<_> = PORTALS.iter().map(|p| p.label).collect();
        labels.dedup();
        assert_eq!(labels.len(), PORTALS.len());
    }

    #[test]
    fn missing_fields_are_named_as_the_contract_names_them() {
        let Err(ContractError::Fields(errors)) = parse(
            portal(Source::Carwale).unwrap(),
            br#"{"contact_name":"  "}"#,
        ) else {
            panic!("expected field errors")
        };
        assert!(errors.only_missing());
        assert!(errors.get("phone_number").is_some());
        assert!(errors.get("name").is_some() || errors.get("contact_name").is_some());
    }
}
