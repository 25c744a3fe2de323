//! The one adapter between this system and RabbitMQ. Nothing outside this
//! module imports `lapin`; the guarantees we rely on (persistent messages,
//! publisher confirms, `mandatory`, manual acks, dead-lettering with a reason)
//! are all set here, each with the reason it is set. One job a file:
//!
//! - [`connection`]: connecting to one of `AMQP_URL`'s nodes; every
//!   operation bounded in time;
//! - [`declare`]: the topology declared, queue depths read;
//! - [`wire`]: the envelope in AMQP properties and headers;
//! - [`publish`]: one publish with its confirm;
//! - [`publisher`]: the edge's reconnecting publisher;
//! - [`consumer`] and [`delivery`]: a worker's session and its deliveries;
//! - [`dead_letters`]: the operators' dead-letter queues;
//! - `inspector` (feature `test-support`): direct queue access for tests.

mod connection;
mod consumer;
mod dead_letters;
mod declare;
mod delivery;
#[cfg(feature = "test-support")]
mod inspector;
mod publish;
mod publisher;
mod wire;

pub use connection::OPERATION_TIMEOUT;
pub use consumer::{ConsumerSession, Deliveries};
pub use dead_letters::{DeadLetter, DeadLetterQueues, Disposition};
pub use delivery::Delivery;
#[cfg(feature = "test-support")]
pub use inspector::{PeekedMessage, QueueInspector};
pub use publish::PublishError;
pub use publisher::Publisher;
pub use wire::{
    HEADER_ASSIGNED_IDS, HEADER_DEAD_LETTERED_AT, HEADER_HISTORY, HEADER_PATH_PARAMS,
    HEADER_REASON, HEADER_RECEIVED_AT, HEADER_REQUEST, HEADER_RETRY_ATTEMPT, HEADER_SOURCE,
};
