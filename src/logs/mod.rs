//! Logs that survive redeploys. Every line (the apps' own output, collected
//! from Swarm by `collect`, and the platform's: deploys, router, health)
//! goes through one bounded queue to a writer thread that stores it in the
//! log store (`store::logs`, its own SQLite file) in batches, then hands it
//! to the app's live tails.
//!
//! Tails read a per-app broadcast ring: a reader that falls behind loses its
//! place, never slows the writer or other readers, and is told how many lines
//! it skipped (they are still stored). The ring is shared by all readers of
//! an app, so memory does not grow with the number of tails.

pub mod collect;
pub mod loki;

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::{broadcast, mpsc, oneshot};

use crate::error::{Error, Result};
use crate::store::logs::{LogDb, LogLine, LogQuery, NewLine, Pruned};

/// Lines waiting for the writer. Producers of app lines wait for room (the
/// Engine buffers meanwhile); router and platform lines are dropped and
/// counted when it is full.
const QUEUE: usize = 16_384;
/// Lines a tail may fall behind before it skips.
const RING: usize = 1024;
/// The most lines one writer transaction stores.
const BATCH: usize = 1024;
/// How long the writer lets lines gather after the first of a batch.
const GATHER: std::time::Duration = std::time::Duration::from_millis(20);

pub const SOURCE_APP: &str = "app";
pub const SOURCE_PLATFORM: &str = "skypanel";

enum Cmd {
    Line(NewLine),
    Done(String),
    Prune {
        before: i64,
        max_bytes: i64,
        cursor_secs: i64,
        reply: oneshot::Sender<Result<Pruned>>,
    },
    DeleteApp(String, oneshot::Sender<Result<u64>>),
    Flush(oneshot::Sender<()>),
}

pub struct Logs {
    tx: mpsc::Sender<Cmd>,
    reader: Arc<Mutex<LogDb>>,
    hub: Arc<Hub>,
    pub ingested: AtomicU64,
    pub dropped: AtomicU64,
    /// Lines stored (counted by the writer).
    pub stored: Arc<AtomicU64>,
    /// Told after each stored batch (the Loki sink waits on it).
    pub wrote: Arc<tokio::sync::Notify>,
}

/// A stored line as live tails get it: with its NDJSON form made once for
/// all of them.
pub struct Live {
    pub line: LogLine,
    pub ndjson: String,
}

/// The line as the API sends it: one JSON object and a newline.
pub fn ndjson(l: &LogLine) -> String {
    let mut s = serde_json::to_string(&crate::api::LogEvent::Line(crate::api::LogLine {
        at: crate::api::time_ns(l.ts),
        source: l.source.clone(),
        process: l.process.clone(),
        release: l.release,
        line: l.line.clone(),
    }))
    .unwrap_or_default();
    s.push('\n');
    s
}

/// The live tails: one broadcast ring per app with readers.
#[derive(Default)]
struct Hub {
    apps: Mutex<HashMap<String, broadcast::Sender<Arc<Live>>>>,
}

impl Hub {
    fn publish(&self, line: LogLine) {
        let apps = self.apps.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(tx) = apps.get(&line.app)
            && tx.receiver_count() > 0
        {
            let ndjson = ndjson(&line);
            let _ = tx.send(Arc::new(Live { line, ndjson }));
        }
    }

    fn subscribe(&self, app: &str) -> broadcast::Receiver<Arc<Live>> {
        let mut apps = self.apps.lock().unwrap_or_else(|p| p.into_inner());
        apps.retain(|_, tx| tx.receiver_count() > 0);
        apps.entry(app.to_string())
            .or_insert_with(|| broadcast::channel(RING).0)
            .subscribe()
    }
}

impl Logs {
    /// Opens `logs.db` in `data_dir` and starts the writer thread.
    pub fn open(data_dir: &Path) -> Result<Arc<Logs>> {
        let path = data_dir.join("logs.db");
        let mut writer = LogDb::open(&path)?;
        let reader = LogDb::open(&path)?;
        let (tx, mut rx) = mpsc::channel::<Cmd>(QUEUE);
        let hub = Arc::new(Hub::default());
        let stored = Arc::new(AtomicU64::new(0));
        let wrote = Arc::new(tokio::sync::Notify::new());
        let (hub2, stored2, wrote2) = (Arc::clone(&hub), Arc::clone(&stored), Arc::clone(&wrote));
        std::thread::Builder::new()
            .name("skypanel-logs".into())
            .stack_size(256 * 1024)
            .spawn(move || {
                let mut lines = Vec::with_capacity(BATCH);
                while let Some(first) = rx.blocking_recv() {
                    let mut cmds = vec![first];
                    let drain = |cmds: &mut Vec<Cmd>, rx: &mut mpsc::Receiver<Cmd>| {
                        while cmds.len() < BATCH {
                            match rx.try_recv() {
                                Ok(c) => cmds.push(c),
                                Err(_) => break,
                            }
                        }
                    };
                    drain(&mut cmds, &mut rx);
                    if cmds.len() < BATCH {
                        // Let a batch gather: a steady stream (router lines)
                        // then costs a few transactions a second, not one per
                        // line, and senders do not wake this thread each time.
                        std::thread::sleep(GATHER);
                        drain(&mut cmds, &mut rx);
                    }
                    let mut after = Vec::new();
                    for c in cmds {
                        match c {
                            Cmd::Line(l) => lines.push(l),
                            other => after.push(other),
                        }
                    }
                    if !lines.is_empty() {
                        match writer.insert(&lines) {
                            Ok(ids) => {
                                stored2.fetch_add(ids.len() as u64, Ordering::Relaxed);
                                for (l, id) in lines.drain(..).zip(ids) {
                                    let line = LogLine {
                                        id,
                                        app: l.app,
                                        ts: l.ts,
                                        source: l.source.to_string(),
                                        process: l.process,
                                        release: l.release,
                                        line: l.line,
                                    };
                                    hub2.publish(line);
                                }
                                wrote2.notify_one();
                            }
                            Err(e) => {
                                tracing::error!(error = %e, lines = lines.len(), "cannot store log lines");
                                lines.clear();
                            }
                        }
                    }
                    for c in after {
                        match c {
                            Cmd::Line(_) => {}
                            Cmd::Done(task) => {
                                if let Err(e) = writer.task_done(&task) {
                                    tracing::warn!(error = %e, "cannot record a finished task log");
                                }
                            }
                            Cmd::Prune {
                                before,
                                max_bytes,
                                cursor_secs,
                                reply,
                            } => {
                                let _ = reply.send(writer.prune(before, max_bytes, cursor_secs));
                            }
                            Cmd::DeleteApp(app, reply) => {
                                let _ = reply.send(writer.delete_app(&app));
                            }
                            Cmd::Flush(reply) => {
                                let _ = reply.send(());
                            }
                        }
                    }
                }
            })
            .map_err(|e| Error::Internal(format!("cannot start the log writer: {e}")))?;
        Ok(Arc::new(Logs {
            tx,
            reader: Arc::new(Mutex::new(reader)),
            hub,
            ingested: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            stored,
            wrote,
        }))
    }

    /// Queues an app line, waiting for room.
    pub async fn push(&self, line: NewLine) {
        self.ingested.fetch_add(1, Ordering::Relaxed);
        if self.tx.send(Cmd::Line(line)).await.is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Queues a line without waiting; a full queue drops (and counts) it.
    pub fn offer(&self, line: NewLine) {
        self.ingested.fetch_add(1, Ordering::Relaxed);
        if self.tx.try_send(Cmd::Line(line)).is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// A platform line (`skypanel[process]: text`) for `app`, now.
    pub fn platform(&self, app: &str, process: &str, release: Option<i64>, text: String) {
        self.offer(NewLine {
            app: app.to_string(),
            ts: now_ns(),
            source: SOURCE_PLATFORM,
            process: process.to_string(),
            release,
            line: text,
            task: None,
        });
    }

    pub async fn task_done(&self, task: String) {
        let _ = self.tx.send(Cmd::Done(task)).await;
    }

    /// Waits until every line queued before this call is stored.
    pub async fn flush(&self) {
        let (tx, rx) = oneshot::channel();
        if self.tx.send(Cmd::Flush(tx)).await.is_ok() {
            let _ = rx.await;
        }
    }

    pub async fn prune(&self, before: i64, max_bytes: i64, cursor_secs: i64) -> Result<Pruned> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Cmd::Prune {
                before,
                max_bytes,
                cursor_secs,
                reply,
            })
            .await
            .map_err(|_| Error::Internal("the log writer has stopped".into()))?;
        rx.await
            .map_err(|_| Error::Internal("the log writer has stopped".into()))?
    }

    /// Removes every stored line of `app`.
    pub async fn delete_app(&self, app: &str) -> Result<u64> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Cmd::DeleteApp(app.to_string(), reply))
            .await
            .map_err(|_| Error::Internal("the log writer has stopped".into()))?;
        rx.await
            .map_err(|_| Error::Internal("the log writer has stopped".into()))?
    }

    pub async fn query(&self, q: LogQuery) -> Result<Vec<LogLine>> {
        self.read(move |db| db.query(&q)).await
    }

    /// Task cursors, for the collector at start.
    pub async fn cursors(&self) -> Result<HashMap<String, (i64, bool)>> {
        self.read(|db| db.cursors()).await
    }

    /// A live tail of `app`: its newest `q.limit` matching lines, then every
    /// line stored after them. Subscribing first and reading the history up
    /// to the newest id then means no line is shown twice or skipped between
    /// the two.
    pub async fn tail(&self, mut q: LogQuery) -> Result<(Vec<LogLine>, Tail)> {
        let rx = self.hub.subscribe(&q.app);
        let (history, last) = self
            .read(move |db| {
                let last = db.last_id()?;
                q.max_id = Some(last);
                Ok((db.query(&q)?, last))
            })
            .await?;
        Ok((history, Tail { rx, after: last }))
    }

    /// Log line counters in Prometheus' text format.
    pub fn render_metrics(&self, out: &mut String) {
        use std::fmt::Write;
        for (name, help, v) in [
            (
                "skypanel_log_lines_ingested_total",
                "Log lines offered to the log store (app output and platform lines).",
                self.ingested.load(Ordering::Relaxed),
            ),
            (
                "skypanel_log_lines_dropped_total",
                "Log lines dropped because the log writer's queue was full.",
                self.dropped.load(Ordering::Relaxed),
            ),
            (
                "skypanel_log_lines_stored_total",
                "Log lines written to the log store.",
                self.stored.load(Ordering::Relaxed),
            ),
        ] {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {v}"
            );
        }
    }

    /// Runs `f` on the reading connection, off the async threads.
    pub async fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&LogDb) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let reader = Arc::clone(&self.reader);
        tokio::task::spawn_blocking(move || {
            f(&*reader
                .lock()
                .map_err(|_| Error::Internal("log store lock poisoned".into()))?)
        })
        .await
        .map_err(|e| Error::Internal(format!("a log query failed: {e}")))?
    }
}

/// The live part of a tail.
pub struct Tail {
    rx: broadcast::Receiver<Arc<Live>>,
    after: i64,
}

/// What a tail reads next.
pub enum TailItem {
    Line(Arc<Live>),
    /// The reader fell this many lines behind.
    Missed(u64),
    Closed,
}

impl Tail {
    pub async fn next(&mut self) -> TailItem {
        loop {
            match self.rx.recv().await {
                Ok(l) if l.line.id <= self.after => continue,
                Ok(l) => return TailItem::Line(l),
                Err(broadcast::error::RecvError::Lagged(n)) => return TailItem::Missed(n),
                Err(broadcast::error::RecvError::Closed) => return TailItem::Closed,
            }
        }
    }
}

pub fn now_ns() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0)
}

/// The retention job: every few minutes (and when woken), lines older than
/// `loki_retention_days` go, then each app's oldest lines beyond
/// `log_max_mb_per_app`.
pub async fn retention_loop(
    logs: Arc<Logs>,
    settings: crate::settings::Current,
    wake: Arc<tokio::sync::Notify>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    loop {
        let s = settings.get();
        let window = s.loki_retention_days.0.max(1);
        let max_mb = s.log_max_mb_per_app;
        let before = now_ns() - window.saturating_mul(1_000_000_000);
        match logs
            .prune(before, max_mb.saturating_mul(1 << 20), window.max(86_400))
            .await
        {
            Ok(p) if p.by_age + p.by_size > 0 => {
                tracing::info!(
                    by_age = p.by_age,
                    by_size = p.by_size,
                    "log retention removed lines"
                )
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "log retention failed"),
        }
        // A short window is kept to within a tenth of itself.
        let pause = std::time::Duration::from_secs(300)
            .min(std::time::Duration::from_secs((window / 10).max(1) as u64));
        tokio::select! {
            _ = tokio::time::sleep(pause) => {}
            _ = wake.notified() => {}
            _ = stop.changed() => return,
        }
    }
}
