//! The collector: follows the output of every task of this installation's
//! services, on every node (through the Swarm's log API), into the log store.
//!
//! Every two seconds the services and their tasks are listed. A task that
//! started gets a follower; a follower reads from the task's cursor (the
//! newest stored line), so a restarted daemon neither repeats nor loses
//! lines. The Engine does not end a followed log when its task ends, so a
//! task seen finished has its follower stopped a moment later and its log
//! read once more to the end, then it is marked done.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use tokio::sync::watch;

use super::{Logs, SOURCE_APP};
use crate::docker::{self, Engine, EngineCell, TaskInfo};
use crate::store::logs::NewLine;

const SCAN: Duration = Duration::from_secs(2);
/// How long a finished task's log is still followed before it is read to the end.
const GRACE: Duration = Duration::from_secs(2);

/// Whose task it is.
#[derive(Clone)]
struct Owner {
    app: String,
    process: String,
    release: Option<i64>,
}

struct Follower {
    handle: tokio::task::JoinHandle<()>,
    /// Newest line time read (ns).
    last: Arc<AtomicI64>,
    follow: bool,
    finished_at: Option<Instant>,
}

fn finished(t: &TaskInfo) -> bool {
    matches!(
        t.state.as_str(),
        "complete" | "failed" | "shutdown" | "rejected" | "orphaned" | "remove"
    )
}

fn started(t: &TaskInfo) -> bool {
    finished(t) || matches!(t.state.as_str(), "starting" | "running")
}

pub async fn run(
    logs: Arc<Logs>,
    engine: EngineCell,
    instance: String,
    mut stop: watch::Receiver<bool>,
) {
    let mut followers: HashMap<String, Follower> = HashMap::new();
    let mut cursors = match logs.cursors().await {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "cannot read the log cursors; app logs are not collected");
            return;
        }
    };
    loop {
        match engine.get().await {
            Ok(engine) => {
                if let Err(e) = scan(&logs, &engine, &instance, &mut followers, &mut cursors).await
                {
                    tracing::debug!(error = %e, "log collection scan failed");
                }
            }
            Err(e) => tracing::debug!(error = %e, "log collection: no engine"),
        }
        tokio::select! {
            _ = tokio::time::sleep(SCAN) => {}
            _ = stop.changed() => break,
        }
    }
    for (_, f) in followers {
        f.handle.abort();
    }
}

async fn scan(
    logs: &Arc<Logs>,
    engine: &Engine,
    instance: &str,
    followers: &mut HashMap<String, Follower>,
    cursors: &mut HashMap<String, (i64, bool)>,
) -> crate::error::Result<()> {
    let services = engine.services(&[(docker::INSTANCE, instance)]).await?;
    let owners: HashMap<String, Owner> = services
        .into_iter()
        .filter_map(|s| {
            Some((
                s.id,
                Owner {
                    app: s.labels.get(docker::APP)?.clone(),
                    process: s.labels.get(docker::PROCESS)?.clone(),
                    release: s.labels.get(docker::RELEASE).and_then(|r| r.parse().ok()),
                },
            ))
        })
        .collect();
    let ids: Vec<String> = owners.keys().cloned().collect();
    let tasks = engine.tasks_of(&ids).await?;
    let mut present = HashSet::new();
    for t in tasks {
        let Some(owner) = owners.get(&t.service_id) else {
            continue;
        };
        present.insert(t.id.clone());
        let (cursor, done) = cursors.get(&t.id).copied().unwrap_or((0, false));
        if done || !started(&t) {
            continue;
        }
        let end = finished(&t);
        match followers.get_mut(&t.id) {
            None => {
                let f = spawn(logs, engine, &t, owner, !end, cursor);
                followers.insert(t.id.clone(), f);
            }
            Some(f) if f.handle.is_finished() => {
                let last = f.last.load(Ordering::Relaxed);
                if !f.follow {
                    // Read to its end: done.
                    followers.remove(&t.id);
                    cursors.insert(t.id.clone(), (last, true));
                    logs.task_done(t.id.clone()).await;
                } else {
                    // The follow broke off: read on from where it stopped.
                    *f = spawn(logs, engine, &t, owner, !end, last);
                }
            }
            Some(f) if end && f.follow => {
                let at = *f.finished_at.get_or_insert_with(Instant::now);
                if at.elapsed() >= GRACE {
                    f.handle.abort();
                    let last = f.last.load(Ordering::Relaxed);
                    *f = spawn(logs, engine, &t, owner, false, last);
                }
            }
            Some(_) => {}
        }
    }
    // Tasks gone with their service: whatever they printed was followed.
    followers.retain(|id, f| {
        let keep = present.contains(id);
        if !keep {
            f.handle.abort();
        }
        keep
    });
    cursors.retain(|id, _| present.contains(id));
    Ok(())
}

fn spawn(
    logs: &Arc<Logs>,
    engine: &Engine,
    t: &TaskInfo,
    owner: &Owner,
    follow: bool,
    after: i64,
) -> Follower {
    let last = Arc::new(AtomicI64::new(after));
    let stream = engine.task_logs(&t.id, follow, after / 1_000_000_000);
    let (logs, owner, task, last2) = (
        Arc::clone(logs),
        owner.clone(),
        t.id.clone(),
        Arc::clone(&last),
    );
    let process = format!("{}.{}", owner.process, t.slot);
    let handle = tokio::spawn(async move {
        let mut stream = std::pin::pin!(stream);
        while let Some(item) = stream.next().await {
            match item {
                Ok((ts, text)) => {
                    if ts <= last2.load(Ordering::Relaxed) {
                        continue;
                    }
                    last2.store(ts, Ordering::Relaxed);
                    logs.push(NewLine {
                        app: owner.app.clone(),
                        ts,
                        source: SOURCE_APP,
                        process: process.clone(),
                        release: owner.release,
                        line: text,
                        task: Some(task.clone()),
                    })
                    .await;
                }
                Err(e) => {
                    tracing::debug!(%task, error = %e, "task log read failed");
                    // Let the scan try again later.
                    tokio::time::sleep(SCAN).await;
                    return;
                }
            }
        }
    });
    Follower {
        handle,
        last,
        follow,
        finished_at: None,
    }
}
