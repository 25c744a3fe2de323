//! The edge's spool: when the broker cannot confirm a webhook (no
//! connection, still connecting, a nack, a full queue, a confirm timeout),
//! the webhook is written durably to this edge's disk and only then answered
//! 201; a drainer publishes it once the broker confirms again.
//!
//! Storage is [redb](https://www.redb.org): an embedded key-value store
//! whose commits are atomic and fsynced, with checksummed copy-on-write
//! B-trees that survive a crash at any moment. Keys are the webhooks'
//! ingest ids (UUID v7, which sort by arrival), so the oldest is first.
//! Appends from concurrent requests are committed together by one writer
//! thread ([`writer`]): one fsync for many webhooks.
//!
//! An entry is deleted only after the broker confirmed its publish. A crash
//! between the two publishes it again, which the workers' ingest-id
//! idempotency makes harmless.

mod drain;
mod record;
mod writer;

pub use drain::Drainer;

use crate::config::SpoolConfig;
use anyhow::Context as _;
use redb::{
    ReadableDatabase as _, ReadableTable as _, ReadableTableMetadata as _, TableDefinition,
};
use shared::Envelope;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::sync::{Notify, mpsc, oneshot};
use uuid::Uuid;

/// Webhooks waiting for the broker, by ingest id.
const WAITING: TableDefinition<u128, &[u8]> = TableDefinition::new("waiting");
/// Entries that could not be read back (never expected: redb checksums its
/// pages). Kept, not deleted, for an operator to look at.
const UNREADABLE: TableDefinition<u128, &[u8]> = TableDefinition::new("unreadable");

/// Most bytes of webhooks [`Spool::oldest`] reads at once.
const BATCH_BYTES: usize = 8 * 1024 * 1024;
/// Memory redb may use to cache the spool's pages.
const CACHE_BYTES: usize = 16 * 1024 * 1024;

/// Why a webhook could not be spooled: either way the partner gets 503 and
/// retries, because nothing was promised.
#[derive(Debug, thiserror::Error)]
pub enum SpoolError {
    /// `SPOOL_MAX_BYTES` would be exceeded.
    #[error("the spool is full (SPOOL_MAX_BYTES)")]
    Full,
    /// The disk refused the write, or the spool is closed.
    #[error("the spool could not store the webhook: {0}")]
    Failed(String),
}

/// One spooled webhook, read back for publishing.
pub struct SpooledWebhook {
    /// Its key (the ingest id).
    pub key: u128,
    /// Its envelope as the edge made it.
    pub envelope: Envelope,
    /// The partner's body, unchanged.
    pub body: Vec<u8>,
}

/// A handle on the spool; cheap to clone.
#[derive(Clone)]
pub struct Spool {
    inner: Arc<Inner>,
}

struct Inner {
    /// `None` once closed: the file is released when the last read ends.
    db: std::sync::Mutex<Option<Arc<redb::Database>>>,
    commands: mpsc::Sender<writer::Command>,
    counts: Arc<Counts>,
    /// Woken on every append, so the drainer never polls an empty spool.
    appended: Notify,
}

/// What the spool holds, kept by the writer thread (the only writer).
#[derive(Default)]
pub(crate) struct Counts {
    pub(crate) entries: AtomicU64,
    pub(crate) bytes: AtomicU64,
    /// An append was refused for want of room, and nothing was deleted since.
    pub(crate) full: std::sync::atomic::AtomicBool,
}

impl Spool {
    /// Opens (or creates) the spool in `config.dir`. Fails if another edge
    /// has it open: a spool belongs to one edge.
    pub fn open(config: &SpoolConfig) -> anyhow::Result<Self> {
        std::fs::create_dir_all(&config.dir)
            .with_context(|| format!("creating SPOOL_DIR {}", config.dir.display()))?;
        let path = config.dir.join("spool.redb");
        let db = redb::Database::builder()
            // The spool is written once and read once per webhook: a small
            // cache is enough (redb's default would let it grow to 1 GiB).
            .set_cache_size(CACHE_BYTES)
            .create(&path)
            .with_context(|| {
                format!(
                    "opening the spool {} (SPOOL_DIR; is another edge using it?)",
                    path.display()
                )
            })?;
        let counts = Arc::new(Counts::default());
        {
            let write = db.begin_write().context("opening the spool")?;
            {
                let waiting = write.open_table(WAITING).context("opening the spool")?;
                let mut bytes = 0;
                for entry in waiting.iter().context("reading the spool")? {
                    let (_, value) = entry.context("reading the spool")?;
                    bytes += writer::entry_size(value.value());
                }
                counts.entries.store(
                    waiting.len().context("reading the spool")?,
                    Ordering::SeqCst,
                );
                counts.bytes.store(bytes, Ordering::SeqCst);
                write.open_table(UNREADABLE).context("opening the spool")?;
            }
            write.commit().context("opening the spool")?;
        }
        let db = Arc::new(db);
        let commands = writer::start(db.clone(), counts.clone(), config.max_bytes)?;
        Ok(Self {
            inner: Arc::new(Inner {
                db: std::sync::Mutex::new(Some(db)),
                commands,
                counts,
                appended: Notify::new(),
            }),
        })
    }

    /// Stores a webhook durably; `Ok` only once it is on disk (fsynced).
    pub async fn append(&self, envelope: &Envelope, body: &[u8]) -> Result<(), SpoolError> {
        let (reply, answer) = oneshot::channel();
        let command = writer::Command::Append {
            key: envelope.ingest_id.as_u128(),
            record: record::encode(envelope, body),
            reply,
        };
        self.inner
            .commands
            .send(command)
            .await
            .map_err(|_| SpoolError::Failed("the spool is closed".into()))?;
        let result = answer
            .await
            .map_err(|_| SpoolError::Failed("the spool writer stopped".into()))?;
        if result.is_ok() {
            self.inner.appended.notify_one();
        }
        result
    }

    /// Up to `limit` of the oldest webhooks (fewer past 8 MiB of them).
    /// Entries that cannot be read
    /// back are moved aside (and logged) so they never block the rest.
    pub async fn oldest(&self, limit: usize) -> anyhow::Result<Vec<SpooledWebhook>> {
        let db = self.db()?;
        let raw = tokio::task::spawn_blocking(move || -> anyhow::Result<Vec<(u128, Vec<u8>)>> {
            let read = db.begin_read()?;
            let waiting = read.open_table(WAITING)?;
            let mut entries = Vec::new();
            let mut bytes = 0;
            for entry in waiting.iter()?.take(limit) {
                let (key, value) = entry?;
                bytes += value.value().len();
                entries.push((key.value(), value.value().to_vec()));
                // Bodies may be large (up to MAX_BODY_BYTES each): a batch
                // holds at most about this much, and always one.
                if bytes >= BATCH_BYTES {
                    break;
                }
            }
            Ok(entries)
        })
        .await
        .context("reading the spool")?
        .context("reading the spool")?;
        let mut webhooks = Vec::with_capacity(raw.len());
        for (key, bytes) in raw {
            match record::decode(&bytes) {
                Ok((envelope, body)) => webhooks.push(SpooledWebhook {
                    key,
                    envelope,
                    body,
                }),
                Err(error) => {
                    tracing::error!(
                        key = %Uuid::from_u128(key),
                        error = format!("{error:#}"),
                        "a spooled webhook cannot be read back; it is kept in the spool's 'unreadable' table"
                    );
                    self.command(|reply| writer::Command::SetAside { key, reply })
                        .await?;
                }
            }
        }
        Ok(webhooks)
    }

    /// The oldest waiting webhook's key, if any.
    pub async fn oldest_key(&self) -> anyhow::Result<Option<u128>> {
        let db = self.db()?;
        tokio::task::spawn_blocking(move || -> anyhow::Result<Option<u128>> {
            let read = db.begin_read()?;
            let waiting = read.open_table(WAITING)?;
            Ok(waiting.first()?.map(|(key, _)| key.value()))
        })
        .await
        .context("reading the spool")?
        .context("reading the spool")
    }

    /// Deletes webhooks the broker has confirmed.
    pub async fn remove(&self, keys: Vec<u128>) -> anyhow::Result<()> {
        self.command(|reply| writer::Command::Remove { keys, reply })
            .await
    }

    async fn command(
        &self,
        command: impl FnOnce(oneshot::Sender<anyhow::Result<()>>) -> writer::Command,
    ) -> anyhow::Result<()> {
        let (reply, answer) = oneshot::channel();
        self.inner
            .commands
            .send(command(reply))
            .await
            .map_err(|_| anyhow::anyhow!("the spool is closed"))?;
        answer
            .await
            .map_err(|_| anyhow::anyhow!("the spool writer stopped"))?
    }

    /// Stops the writer and releases the file, so this edge (or a test)
    /// can open the spool again. Appends after it fail.
    pub async fn close(&self) {
        let (reply, answer) = oneshot::channel();
        if self
            .inner
            .commands
            .send(writer::Command::Close { reply })
            .await
            .is_ok()
        {
            answer.await.ok();
        }
        self.inner
            .db
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
    }

    fn db(&self) -> anyhow::Result<Arc<redb::Database>> {
        self.inner
            .db
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
            .context("the spool is closed")
    }

    /// Webhooks waiting.
    pub fn len(&self) -> u64 {
        self.inner.counts.entries.load(Ordering::SeqCst)
    }

    /// True when nothing waits.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes the waiting webhooks take (records and keys).
    pub fn bytes(&self) -> u64 {
        self.inner.counts.bytes.load(Ordering::SeqCst)
    }

    /// True when the last append found no room and nothing was drained
    /// since: the next webhook would get 503.
    pub fn is_full(&self) -> bool {
        self.inner.counts.full.load(Ordering::SeqCst)
    }

    /// Waits until a webhook is appended (returns at once if one was
    /// appended since the last call).
    pub(crate) async fn appended(&self) {
        self.inner.appended.notified().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::Source;

    /// A spool in a directory of its own, removed when dropped.
    struct TestSpool {
        dir: std::path::PathBuf,
    }

    impl TestSpool {
        fn new() -> Self {
            let dir = std::env::temp_dir().join(format!("leadpipe-spool-{}", Uuid::now_v7()));
            Self { dir }
        }

        fn config(&self, max_bytes: u64) -> SpoolConfig {
            SpoolConfig {
                dir: self.dir.clone(),
                max_bytes,
            }
        }
    }

    impl Drop for TestSpool {
        fn drop(&mut self) {
            std::fs::remove_dir_all(&self.dir).ok();
        }
    }

    fn webhook(n: usize) -> (Envelope, Vec<u8>) {
        let envelope = Envelope::new(Source::CallCapture, vec![]);
        (envelope, format!(r#"{{"n": {n}}}"#).into_bytes())
    }

    #[tokio::test]
    async fn what_is_appended_survives_a_reopen_oldest_first_and_is_gone_once_removed() {
        let place = TestSpool::new();
        let spool = Spool::open(&place.config(1 << 20)).unwrap();
        let written: Vec<_> = (0..5).map(webhook).collect();
        // Concurrent appends share commits; each returns once on disk.
        futures_util::future::join_all(
            written
                .iter()
                .map(|(envelope, body)| spool.append(envelope, body)),
        )
        .await
        .into_iter()
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
        let bytes = spool.bytes();
        spool.close().await;
        drop(spool);

        let spool = Spool::open(&place.config(1 << 20)).unwrap();
        assert_eq!(spool.len(), 5);
        assert_eq!(spool.bytes(), bytes, "counted again from the file");
        let read = spool.oldest(3).await.unwrap();
        let ids: Vec<Uuid> = read.iter().map(|w| w.envelope.ingest_id).collect();
        let oldest: Vec<Uuid> = written[..3].iter().map(|(e, _)| e.ingest_id).collect();
        assert_eq!(ids, oldest, "oldest first");
        assert_eq!(read[0].body, written[0].1);
        spool
            .remove(read.iter().map(|w| w.key).collect())
            .await
            .unwrap();
        assert_eq!(spool.len(), 2);
        assert_eq!(spool.oldest(10).await.unwrap().len(), 2);
        spool.close().await;
    }

    #[tokio::test]
    async fn a_full_spool_refuses_until_something_is_removed() {
        let place = TestSpool::new();
        let (first, body) = webhook(1);
        let one = writer::entry_size(&record::encode(&first, &body));
        let spool = Spool::open(&place.config(2 * one)).unwrap();
        spool.append(&first, &body).await.unwrap();
        let (second, body) = webhook(2);
        spool.append(&second, &body).await.unwrap();
        assert!(!spool.is_full());
        let (third, body) = webhook(3);
        assert!(matches!(
            spool.append(&third, &body).await,
            Err(SpoolError::Full)
        ));
        assert!(spool.is_full());
        assert_eq!(spool.len(), 2);
        let oldest = spool.oldest(1).await.unwrap();
        spool.remove(vec![oldest[0].key]).await.unwrap();
        assert!(!spool.is_full());
        spool.append(&third, &body).await.unwrap();
        assert_eq!(spool.len(), 2);
        spool.close().await;
    }

    #[tokio::test]
    async fn an_unreadable_entry_is_set_aside_and_does_not_block_the_rest() {
        let place = TestSpool::new();
        let spool = Spool::open(&place.config(1 << 20)).unwrap();
        let (envelope, body) = webhook(1);
        spool.append(&envelope, &body).await.unwrap();
        // A damaged record older than it, as no edge would write.
        let db = spool.db().unwrap();
        let write = db.begin_write().unwrap();
        write
            .open_table(WAITING)
            .unwrap()
            .insert(1u128, [9u8, 9, 9].as_slice())
            .unwrap();
        write.commit().unwrap();
        spool.inner.counts.entries.fetch_add(1, Ordering::SeqCst);

        let read = spool.oldest(10).await.unwrap();
        assert_eq!(read.len(), 1);
        assert_eq!(read[0].envelope.ingest_id, envelope.ingest_id);
        assert_eq!(spool.len(), 1);
        let read_only = db.begin_read().unwrap();
        let aside = read_only.open_table(UNREADABLE).unwrap();
        assert_eq!(aside.get(1u128).unwrap().unwrap().value(), [9u8, 9, 9]);
        drop((aside, read_only, db));
        spool.close().await;
    }
}
