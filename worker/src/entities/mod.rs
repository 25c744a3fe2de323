//! sea-orm entities for the tables in `migrations`.

pub mod call_records;
pub mod calls;
pub mod digital_leads;
pub mod lead_touchpoints;
pub mod leads;
pub mod webhook_log;
pub mod whatsapp_messages;
