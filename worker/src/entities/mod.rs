//! sea-orm entities for the tables in `migrations`.

pub mod calls;
pub mod processed_messages;
