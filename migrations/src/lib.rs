//! Database schema, as sea-orm migrations. One set of migrations serves
//! PostgreSQL and SQLite; the worker applies pending ones at start-up.

pub use sea_orm_migration::prelude::*;

mod m20261121_000001_calls;
mod m20261121_000002_leads_and_sources;
mod m20261121_000003_crm;
mod m20261121_000004_webhook_log;
mod m20261122_000005_console;
mod m20261122_000006_leads_one_unique_key;
mod m20261122_000007_crm_data_event_time;
mod m20261122_000008_crm_typed_columns;
mod m20261122_000009_webhook_log_events;
mod m20261122_000010_call_record_aliases;
mod m20261207_000011_lead_desk;
mod m20261207_000012_live_changes;
mod m20261207_000013_report_indexes;
mod m20261207_000014_follow_ups_due;
mod m20261207_000015_whatsapp_quotes_and_errors;
mod m20261207_000016_staff_access_log;
mod m20261207_000017_webhook_log_body_retention;
mod m20261207_000018_whatsapp_templates;
mod m20261207_000019_canned_replies;
mod m20261207_000020_conversation_states;
mod m20261207_000021_reply_quotes;
mod m20261207_000022_whatsapp_media;
mod m20261207_000023_erasures;
mod m20261207_000024_dead_letter_purges;
mod m20261207_000025_reply_reactions;
mod m20261207_000026_erasure_lead_ids;
mod m20261208_000027_outbound_files;

/// Every migration, in order.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261121_000001_calls::Migration),
            Box::new(m20261121_000002_leads_and_sources::Migration),
            Box::new(m20261121_000003_crm::Migration),
            Box::new(m20261121_000004_webhook_log::Migration),
            Box::new(m20261122_000005_console::Migration),
            Box::new(m20261122_000006_leads_one_unique_key::Migration),
            Box::new(m20261122_000007_crm_data_event_time::Migration),
            Box::new(m20261122_000008_crm_typed_columns::Migration),
            Box::new(m20261122_000009_webhook_log_events::Migration),
            Box::new(m20261122_000010_call_record_aliases::Migration),
            Box::new(m20261207_000011_lead_desk::Migration),
            Box::new(m20261207_000012_live_changes::Migration),
            Box::new(m20261207_000013_report_indexes::Migration),
            Box::new(m20261207_000014_follow_ups_due::Migration),
            Box::new(m20261207_000015_whatsapp_quotes_and_errors::Migration),
            Box::new(m20261207_000016_staff_access_log::Migration),
            Box::new(m20261207_000017_webhook_log_body_retention::Migration),
            Box::new(m20261207_000018_whatsapp_templates::Migration),
            Box::new(m20261207_000019_canned_replies::Migration),
            Box::new(m20261207_000020_conversation_states::Migration),
            Box::new(m20261207_000021_reply_quotes::Migration),
            Box::new(m20261207_000022_whatsapp_media::Migration),
            Box::new(m20261207_000023_erasures::Migration),
            Box::new(m20261207_000024_dead_letter_purges::Migration),
            Box::new(m20261207_000025_reply_reactions::Migration),
            Box::new(m20261207_000026_erasure_lead_ids::Migration),
            Box::new(m20261208_000027_outbound_files::Migration),
        ]
    }
}
