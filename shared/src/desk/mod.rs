//! The lead desk's rules that the worker and the console share: a lead's
//! stages (and how the CRM's statuses map onto them), and the business
//! hours a response target is counted in.

pub mod hours;
pub mod stage;

pub use hours::BusinessHours;
pub use stage::{LOST_REASONS, Stage};
