//! Whether the worker is moving: what readiness reports and what the
//! watchdog acts on.
//!
//! Two clocks. The *beat* is the worker's own loop (start-up steps,
//! consuming, reconnecting): every one of its waits is bounded, so a beat
//! older than `WORKER_WATCHDOG_SECS` means the loop is wedged on something
//! unbounded, and the process had better exit and be restarted than sit
//! silent. *Progress* is a delivery received or settled: with messages
//! waiting in the queues and no progress for `WORKER_STALL_SECS`, the worker
//! is not ready, whatever its connections say. Nor is it ready while its
//! broker session, though open, has not answered for that long (a silent,
//! half-open connection).

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The worker's progress clocks, shared by its loop, its admin listener and
/// its watchdog.
#[derive(Debug)]
pub struct Liveness {
    epoch: Instant,
    beat_ms: AtomicU64,
    progress_ms: AtomicU64,
    broker_answer_ms: AtomicU64,
    queued: AtomicU64,
    stage: Mutex<&'static str>,
}

impl Default for Liveness {
    fn default() -> Self {
        Self {
            epoch: Instant::now(),
            beat_ms: AtomicU64::new(0),
            progress_ms: AtomicU64::new(0),
            broker_answer_ms: AtomicU64::new(0),
            queued: AtomicU64::new(0),
            stage: Mutex::new("starting"),
        }
    }
}

impl Liveness {
    fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn since(&self, clock: &AtomicU64) -> Duration {
        Duration::from_millis(self.now_ms().saturating_sub(clock.load(Ordering::Relaxed)))
    }

    /// The loop is alive and at `stage` (a few words, for diagnostics).
    pub fn beat(&self, stage: &'static str) {
        self.beat_ms.store(self.now_ms(), Ordering::Relaxed);
        *self.stage.lock().unwrap_or_else(|e| e.into_inner()) = stage;
    }

    /// A delivery was received or settled (or a session started: the clock
    /// starts afresh).
    pub fn progressed(&self) {
        self.progress_ms.store(self.now_ms(), Ordering::Relaxed);
    }

    /// The broker answered: a delivery, or a look at the queues (which
    /// also tells how many messages wait in them).
    pub fn broker_answered(&self, queued: Option<u64>) {
        self.broker_answer_ms
            .store(self.now_ms(), Ordering::Relaxed);
        if let Some(queued) = queued {
            self.queued.store(queued, Ordering::Relaxed);
        }
    }

    /// Where the loop last said it stood.
    pub fn stage(&self) -> &'static str {
        *self.stage.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Time since the loop last moved.
    pub fn since_beat(&self) -> Duration {
        self.since(&self.beat_ms)
    }

    /// `Some((messages waiting, time without progress))` when messages wait
    /// and nothing has been received or settled for longer than `after`.
    pub fn starved(&self, after: Duration) -> Option<(u64, Duration)> {
        let queued = self.queued.load(Ordering::Relaxed);
        let idle = self.since(&self.progress_ms);
        (queued > 0 && idle > after).then_some((queued, idle))
    }

    /// Why a worker with an open session is stuck, if it is: work waiting
    /// without progress, or a broker that stopped answering, for longer
    /// than `after`.
    pub fn stall(&self, after: Duration) -> Option<String> {
        let silent = self.since(&self.broker_answer_ms);
        if silent > after {
            return Some(format!(
                "stalled: the broker has not answered for {}s",
                silent.as_secs()
            ));
        }
        self.starved(after).map(|(queued, idle)| {
            format!(
                "stalled: {queued} messages waiting, none received or settled for {}s",
                idle.as_secs()
            )
        })
    }
}

/// Resolves, with an error naming the stage, once the loop has not beaten
/// for `limit`. The caller drops the wedged work and exits non-zero.
pub async fn watchdog(liveness: &Liveness, limit: Duration) -> anyhow::Error {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let silent = liveness.since_beat();
        if silent > limit {
            return anyhow::anyhow!(
                "the worker made no progress for {}s while {}; exiting so that its supervisor restarts it (WORKER_WATCHDOG_SECS={})",
                silent.as_secs(),
                liveness.stage(),
                limit.as_secs()
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn idle_without_queued_work_is_not_a_stall() {
        let liveness = Liveness::default();
        std::thread::sleep(Duration::from_millis(20));
        assert_eq!(liveness.starved(Duration::from_millis(5)), None);
        liveness.broker_answered(Some(3));
        let (queued, idle) = liveness.starved(Duration::from_millis(5)).unwrap();
        assert_eq!(queued, 3);
        assert!(idle >= Duration::from_millis(20));
        assert!(
            liveness
                .stall(Duration::from_millis(5))
                .unwrap()
                .contains("3 messages")
        );
        liveness.progressed();
        assert_eq!(liveness.stall(Duration::from_secs(5)), None);
    }

    #[test]
    fn a_broker_that_stops_answering_is_a_stall() {
        let liveness = Liveness::default();
        liveness.broker_answered(Some(0));
        assert_eq!(liveness.stall(Duration::from_secs(5)), None);
        std::thread::sleep(Duration::from_millis(20));
        let why = liveness.stall(Duration::from_millis(5)).unwrap();
        assert!(why.contains("has not answered"), "{why}");
    }

    #[tokio::test]
    async fn the_watchdog_fires_only_when_the_loop_stops_beating() {
        let liveness = Liveness::default();
        liveness.beat("consuming");
        let quiet = tokio::time::timeout(
            Duration::from_millis(1500),
            watchdog(&liveness, Duration::from_secs(10)),
        );
        assert!(quiet.await.is_err(), "a fresh beat is not wedged");
        tokio::time::sleep(Duration::from_millis(50)).await;
        let error = watchdog(&liveness, Duration::from_millis(10))
            .await
            .to_string();
        assert!(error.contains("while consuming"), "{error}");
    }
}
