//! sea-orm entities for the tables in `migrations`.

pub mod call_record_aliases;
pub mod call_records;
pub mod calls;
pub mod conversation_reads;
pub mod crm_contacts;
pub mod crm_customers;
pub mod crm_leads;
pub mod crm_pre_leads;
pub mod digital_leads;
pub mod follow_ups;
pub mod lead_notes;
pub mod lead_stage_history;
pub mod lead_touchpoints;
pub mod leads;
pub mod live_changes;
pub mod routing_rules;
pub mod staff_access_log;
pub mod staff_notifications;
pub mod staff_sessions;
pub mod staff_users;
pub mod team_members;
pub mod teams;
pub mod webhook_log;
pub mod webhook_log_events;
pub mod whatsapp_messages;
pub mod whatsapp_replies;
