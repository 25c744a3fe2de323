//! The broker objects this system relies on, defined once. Both binaries
//! declare them on start-up; declarations are idempotent, and a mismatch with
//! an existing object fails loudly (PRECONDITION_FAILED) instead of silently
//! running with other guarantees.
//!
//! Per source `S`, with prefix `P`:
//! - `P.ingest` (direct exchange) --S--> `P.S` (quorum work queue)
//! - `P.S` dead-letters (delivery limit) to `P.dlx` --S--> `P.S.dead`
//!
//! Shared by all sources, one per delay `N`:
//! - `P.retry.N` (fanout exchange) --> `P.retry.N` (quorum queue, TTL N), which
//!   dead-letters back to `P.ingest` under the message's own routing key (its
//!   source), so one set of retry queues serves every source.
//!
//! Requires RabbitMQ 3.10 or newer (at-least-once dead-lettering and message
//! TTL on quorum queues arrived in 3.10).

use crate::source::Source;
use std::time::Duration;

/// How an exchange routes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExchangeType {
    /// By exact routing key.
    Direct,
    /// To every bound queue.
    Fanout,
}

/// A queue or exchange argument value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Arg {
    /// A string argument.
    Str(String),
    /// An integer argument.
    Int(i64),
}

/// One queue to declare, with its arguments and the binding that feeds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueSpec {
    /// Queue name.
    pub name: String,
    /// `x-…` arguments; each is explained where it is set.
    pub arguments: Vec<(&'static str, Arg)>,
    /// `(exchange, routing key)` that feeds it.
    pub binding: Option<(String, String)>,
}

/// Redeliveries of one message (worker crashes, requeues) before the broker
/// itself dead-letters it. Generous, because a worker killed mid-batch
/// redelivers its whole prefetch: only a message that really kills workers
/// should reach it.
pub const DELIVERY_LIMIT: i64 = 50;

/// Delays of the retry tiers. A message retried for the n-th time waits in
/// tier min(n, last): per-queue TTLs (not per-message ones) keep every queue
/// first-in first-out, so a long delay never blocks a short one.
pub const RETRY_DELAYS: &[Duration] = &[
    Duration::from_secs(1),
    Duration::from_secs(5),
    Duration::from_secs(30),
    Duration::from_secs(120),
    Duration::from_secs(600),
];

/// Names of everything on the broker for one deployment (one prefix).
#[derive(Debug, Clone)]
pub struct Topology {
    prefix: String,
    queue_max_length: u32,
}

impl Topology {
    /// The topology for a prefix; `queue_max_length` bounds each work queue.
    pub fn new(prefix: impl Into<String>, queue_max_length: u32) -> Self {
        Self {
            prefix: prefix.into(),
            queue_max_length,
        }
    }

    /// The topology a broker configuration names (`AMQP_PREFIX`,
    /// `QUEUE_MAX_LENGTH`): the one every process declares and uses.
    pub fn for_broker(config: &crate::config::BrokerConfig) -> Self {
        Self::new(config.prefix.clone(), config.queue_max_length)
    }

    /// Where the edge publishes, with the source name as routing key.
    pub fn ingest_exchange(&self) -> String {
        format!("{}.ingest", self.prefix)
    }

    /// Where dead letters go, with the source name as routing key.
    pub fn dead_letter_exchange(&self) -> String {
        format!("{}.dlx", self.prefix)
    }

    /// The queue workers consume for a source.
    pub fn work_queue(&self, source: Source) -> String {
        format!("{}.{}", self.prefix, source.name())
    }

    /// Where a source's dead letters wait for an operator.
    pub fn dead_letter_queue(&self, source: Source) -> String {
        format!("{}.{}.dead", self.prefix, source.name())
    }

    /// The retry exchange (and queue: they share the name) for a message's
    /// `attempt`-th retry (0-based). Publish to it with the message's source
    /// as routing key.
    pub fn retry_queue(&self, attempt: u32) -> String {
        let tier = (attempt as usize).min(RETRY_DELAYS.len() - 1);
        self.retry_tier(&RETRY_DELAYS[tier])
    }

    /// Every retry queue, shortest delay first.
    pub fn retry_queues(&self) -> Vec<String> {
        RETRY_DELAYS.iter().map(|d| self.retry_tier(d)).collect()
    }

    fn retry_tier(&self, delay: &Duration) -> String {
        format!("{}.retry.{}s", self.prefix, delay.as_secs())
    }

    /// Every exchange to declare, all durable (bindings survive a restart).
    pub fn exchanges(&self) -> Vec<(String, ExchangeType)> {
        let mut exchanges = vec![
            (self.ingest_exchange(), ExchangeType::Direct),
            (self.dead_letter_exchange(), ExchangeType::Direct),
        ];
        // Fanout: whatever the routing key (the source), into the tier's queue.
        exchanges.extend(
            RETRY_DELAYS
                .iter()
                .map(|d| (self.retry_tier(d), ExchangeType::Fanout)),
        );
        exchanges
    }

    /// Every queue to declare, in an order where each queue's dead-letter
    /// target exists before it does.
    pub fn queues(&self) -> Vec<QueueSpec> {
        let mut queues = Vec::new();
        for &source in Source::ALL {
            let key = source.name().to_owned();
            queues.push(QueueSpec {
                name: self.dead_letter_queue(source),
                arguments: vec![
                    // Replicated, durable, and fsyncs before confirming.
                    ("x-queue-type", Arg::Str("quorum".into())),
                ],
                binding: Some((self.dead_letter_exchange(), key.clone())),
            });
            queues.push(QueueSpec {
                name: self.work_queue(source),
                arguments: vec![
                    ("x-queue-type", Arg::Str("quorum".into())),
                    // Poison messages (ones that keep killing workers) leave
                    // after this many redeliveries instead of looping forever.
                    ("x-delivery-limit", Arg::Int(DELIVERY_LIMIT)),
                    // ... and go to this source's dead-letter queue ...
                    (
                        "x-dead-letter-exchange",
                        Arg::Str(self.dead_letter_exchange()),
                    ),
                    // ... without being lost on the way: the broker keeps a
                    // dead-lettered message until the dead-letter queue
                    // confirms it (the default, at-most-once, may drop it).
                    ("x-dead-letter-strategy", Arg::Str("at-least-once".into())),
                    // At-least-once dead-lettering requires reject-publish,
                    // and it is what we want anyway: a full queue refuses new
                    // messages (the edge answers 503, the partner retries)
                    // rather than dropping the oldest.
                    ("x-overflow", Arg::Str("reject-publish".into())),
                    // The bound that makes overflow meaningful.
                    ("x-max-length", Arg::Int(i64::from(self.queue_max_length))),
                ],
                binding: Some((self.ingest_exchange(), key.clone())),
            });
        }
        for delay in RETRY_DELAYS {
            let name = self.retry_tier(delay);
            queues.push(QueueSpec {
                name: name.clone(),
                arguments: vec![
                    ("x-queue-type", Arg::Str("quorum".into())),
                    // The delay: every message in this tier waits this long ...
                    ("x-message-ttl", Arg::Int(delay.as_millis() as i64)),
                    // ... then is dead-lettered back to the work queues, under
                    // its own routing key (its source): no
                    // x-dead-letter-routing-key, so one tier serves all sources.
                    ("x-dead-letter-exchange", Arg::Str(self.ingest_exchange())),
                    // Never lose a message between retry and work queue.
                    ("x-dead-letter-strategy", Arg::Str("at-least-once".into())),
                    ("x-overflow", Arg::Str("reject-publish".into())),
                ],
                binding: Some((name, String::new())),
            });
        }
        queues
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_tiers_grow_then_stay_at_the_longest() {
        let t = Topology::new("p", 10);
        assert_eq!(t.retry_queue(0), "p.retry.1s");
        assert_eq!(t.retry_queue(1), "p.retry.5s");
        assert_eq!(t.retry_queue(99), "p.retry.600s");
    }

    #[test]
    fn every_retry_queue_named_is_declared() {
        let t = Topology::new("p", 10);
        let declared: Vec<_> = t.queues().into_iter().map(|q| q.name).collect();
        for attempt in 0..10 {
            assert!(declared.contains(&t.retry_queue(attempt)));
        }
        assert!(declared.contains(&t.work_queue(Source::TataCalls)));
        assert!(declared.contains(&t.dead_letter_queue(Source::TataCalls)));
        // Two queues per source, one per retry tier.
        assert_eq!(declared.len(), 2 * Source::ALL.len() + RETRY_DELAYS.len());
    }
}
