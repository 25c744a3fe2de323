//! Partner contracts: parsing and stateless validation of each source's
//! webhook body. The edge calls these to answer 400 with the contract's
//! per-field messages; the worker calls the same code to read the body, so
//! what the edge accepts the worker can read.
//!
//! `reader` reads bodies and fields, `errors` is what a refusal says,
//! `registry` names every contract's schemas; one file per contract.

pub mod call_capture;
pub mod crm_events;
pub mod crm_fields;
pub mod digital_leads;
mod errors;
mod reader;
mod registry;
pub mod schema;
pub mod tata_calls;
pub mod tata_whatsapp;

pub use errors::{ContractError, FieldErrors, messages};
pub use reader::{
    FieldReader, MAX_ID_CHARS, MAX_STRING_CHARS, epoch_seconds, integer, parse_object, whole,
};
pub use registry::schemas;

#[cfg(test)]
mod fuzz;
