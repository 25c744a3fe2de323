//! The database the worker and the console share: connecting ([`connect`]),
//! migrating ([`migrate`]), telling a failure to wait out from one to
//! report ([`errors`]), every table's sea-orm entity ([`entities`]), and
//! the webhook log's rows ([`delivery_log`]) and its
//! search ([`log_search`]), the lead desk's writes ([`desk`]), the
//! console's change feed ([`live`]) and the audit of staff access to
//! personal data ([`access_log`]).
//!
//! Neither binary's crate is needed to read or write the dealer's data:
//! both depend on this one.

pub mod access_log;
pub mod chunks;
pub mod connect;
pub mod conversations;
pub mod delivery_log;
pub mod desk;
pub mod entities;
pub mod errors;
pub mod live;
pub mod log_search;
pub mod migrate;
pub mod person;
pub mod retention;
pub mod write;

pub use connect::connect;
pub use errors::{is_contention, is_transient};
pub use migrate::migrate;
