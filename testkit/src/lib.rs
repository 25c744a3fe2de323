//! Test support shared by the integration tests: every test gets its own
//! broker prefix (so its own exchanges and queues) and its own database, and
//! runs the real edge and worker against the real RabbitMQ and database.
//!
//! Environment: `TEST_AMQP_URL` (default `amqp://127.0.0.1:5672/%2f`),
//! `TEST_POSTGRES_URL` (default `postgres://postgres@127.0.0.1:5432/postgres`,
//! a role allowed to create databases), `RABBITMQCTL` (default: the
//! workspace's `scripts/services.sh rabbitmqctl`).
//!
//! One file per job, everything re-exported here: `env` (a test's prefix
//! and variables), `db` (its database), `edge`, `worker` and `console` (the
//! real processes, in the test's own), `broker` and `fault_proxy` (the
//! test broker, and cutting a process off from it), `fake_tata` (Tata's
//! send API on loopback), `http` (a raw client), `browser` (headless
//! Chromium), `wait`, `process` and `fs`.

pub mod examples;

/// Generates, from `async fn name(Backend)` test bodies, one test per
/// backend: `postgres::name` and `sqlite::name`, so a failure names both the
/// case and the database.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::Backend::Postgres).await
                }
            )*
        }
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::Backend::Sqlite).await
                }
            )*
        }
    };
}

mod broker;
mod browser;
mod console;
mod db;
mod edge;
mod env;
mod events;
mod fake_tata;
mod fault_proxy;
mod fs;
mod http;
mod process;
mod stack;
mod wait;
mod worker;

pub use broker::*;
pub use browser::*;
pub use console::*;
pub use db::*;
pub use edge::*;
pub use env::*;
pub use events::*;
pub use fake_tata::*;
pub use fault_proxy::*;
pub use fs::*;
pub use http::*;
pub use process::*;
pub use stack::*;
pub use wait::*;
pub use worker::*;

/// The contract's minimal example (`tata-calls.md`, Option 1).
pub const TATA_MINIMAL: &str = r#"{
  "call_id": "UNIQUE-CALL-ID",
  "caller_number": "+919876543210",
  "call_start_time": "2025-11-07T16:30:00Z"
}"#;

/// The contract's complete example (`tata-calls.md`, Option 2).
pub const TATA_COMPLETE: &str = r#"{
  "call_id": "TATA-CALL-12345",
  "call_sid": "SID-ABC123",
  "caller_number": "+919876543210",
  "caller_name": "Rohit Kumar",
  "call_start_time": "2025-11-07T16:30:00Z",
  "call_end_time": "2025-11-07T16:35:30Z",
  "call_duration": 330,
  "call_status": "completed",
  "staff_name": "Priya Sharma",
  "staff_id": "EMP-101",
  "recording_url": "https://example.com/recordings/call-12345.mp3",
  "disposition_code": "SALES_INQ",
  "disposition_notes": "Customer interested in Harrier Dark Edition, Budget 25L",
  "customer_name": "Rohit Kumar",
  "customer_email": "rohit.kumar@gmail.com",
  "customer_address": "Mumbai, Maharashtra",
  "vehicle_model": "Harrier",
  "vehicle_variant": "Dark Edition",
  "is_lead": true,
  "lead_quality": "hot"
}"#;
