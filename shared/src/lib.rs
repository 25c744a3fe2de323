//! What the edge (`ingest`) and the workers share: the message envelope, the
//! broker topology and the one adapter that talks to RabbitMQ, typed
//! configuration, and telemetry set-up.
//!
//! Business code depends on this crate, never on `lapin` directly, so the
//! broker's guarantees (confirms, persistence, dead-lettering) are decided in
//! one place.

pub mod admin;
pub mod broker;
pub mod config;
pub mod contracts;
pub mod desk;
pub mod envelope;
pub mod history;
pub mod phone;
pub mod redact;
pub mod replies;
pub mod secret;
pub mod serve;
pub mod shutdown;
pub mod source;
pub mod telemetry;
pub mod templates;
pub mod time;
pub mod topology;

pub use envelope::Envelope;
pub use secret::Secret;
pub use source::Source;
