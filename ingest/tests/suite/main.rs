//! The edge's integration tests, one module per subject, in one test binary:
//! one link of the edge, the worker and the test kit instead of one per file.
//! The broker-outage test stops the shared broker, so it stays a binary of
//! its own (`tests/broker_outage.rs`), which cargo runs after this one.

mod access_log;
mod api_tester;
mod contracts;
mod docs;
mod edge;
mod fuzz;
mod sigterm;
mod tls;
