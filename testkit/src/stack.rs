//! The whole system for one test: its own database and broker prefix, the
//! real edge, a worker process and a console, started in the order the
//! data flows and stopped the other way round. Tests that need another
//! shape (no worker yet, two consoles, a worker restarted midway) start the
//! parts themselves.

use crate::{Backend, Console, Edge, TestDb, Worker, cleanup_prefix, init_logging};
use crate::{test_env, unique_prefix};
use shared::config::Env;

/// A test's edge, worker and console over its own database and prefix.
pub struct Stack {
    /// Its own database.
    pub db: TestDb,
    /// Its own broker prefix (queues, exchanges).
    pub prefix: String,
    /// The variables every part was started with.
    pub env: Env,
    /// The partner-facing edge, in this process.
    pub edge: Edge,
    /// A worker process.
    pub worker: Worker,
    /// The console, in this process.
    pub console: Console,
}

impl Stack {
    /// Starts it on `backend`; `name` starts the prefix, `extra` adds
    /// variables over the test defaults ([`test_env`]).
    pub async fn start(backend: Backend, name: &str, extra: &[(&str, &str)]) -> Self {
        init_logging();
        let db = TestDb::create(backend).await;
        let prefix = unique_prefix(name);
        let env = test_env(&prefix, Some(&db.url), extra);
        let edge = Edge::start(&env).await;
        let worker = Worker::start(&env);
        let console = Console::start(&env).await;
        Self {
            db,
            prefix,
            env,
            edge,
            worker,
            console,
        }
    }

    /// Stops the console, the worker and the edge, removes the prefix's
    /// queues and drops the database.
    pub async fn stop(self) {
        self.console.stop().await;
        self.worker.stop().await;
        self.edge.stop().await;
        cleanup_prefix(&self.prefix).await;
        self.db.drop().await;
    }
}
