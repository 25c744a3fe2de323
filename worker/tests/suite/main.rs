//! The worker's integration tests, one module per subject, in one test
//! binary: one link of the edge, the worker and the test kit instead of one
//! per file. Every test isolates itself (its own broker prefix and
//! database), so they share the binary and its threads safely.

mod admin;
mod crm;
mod database;
mod desk;
mod erasure;
mod faults;
mod log;
mod monitoring;
mod pipeline;
mod sources;
mod spool;
