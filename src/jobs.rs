//! The job runner: claims jobs from the store's `jobs` table and runs the
//! handler registered for their kind, keeping the lease fresh while it runs.
//! Builds, deploys, billing sweeps and retention run here as later features
//! register their handlers in [`handlers`].

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::store::{self, Job, JobState, Store};

pub type JobFuture = Pin<Box<dyn Future<Output = Result<(), String>> + Send>>;
pub type Handler = Arc<dyn Fn(Job) -> JobFuture + Send + Sync>;
pub type Handlers = HashMap<&'static str, Handler>;

pub const DEPLOY: &str = "deploy";

/// The handlers the daemon runs.
pub fn handlers(runtime: Arc<crate::runtime::Runtime>) -> Handlers {
    let deploy: Handler = Arc::new(move |job: Job| {
        let rt = Arc::clone(&runtime);
        Box::pin(async move {
            let j: crate::api::DeployJob = serde_json::from_value(job.payload)
                .map_err(|e| format!("a deploy job needs release, app and version: {e}"))?;
            rt.deploy(j.release, j.app, j.version).await
        })
    });
    HashMap::from([(DEPLOY, deploy)])
}

pub struct Runner {
    store: Store,
    handlers: Handlers,
    worker: String,
    /// Seconds a claim holds a job; renewed every third of it while it runs.
    pub lease: i64,
    pub poll: Duration,
    pub concurrency: usize,
    /// Notified when a job is queued, so it starts without waiting for `poll`.
    pub wake: Arc<tokio::sync::Notify>,
}

impl Runner {
    pub fn new(store: Store, handlers: Handlers) -> Runner {
        let worker = format!("{}-{}", std::process::id(), store::now());
        Runner {
            store,
            handlers,
            worker,
            lease: 60,
            poll: Duration::from_secs(1),
            concurrency: 4,
            wake: Arc::new(tokio::sync::Notify::new()),
        }
    }

    /// Runs until `stop` turns true; jobs in flight then finish their attempt.
    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        let this = Arc::new(self);
        let kinds: Vec<&'static str> = this.handlers.keys().copied().collect();
        let mut running = JoinSet::new();
        loop {
            if *stop.borrow() {
                break;
            }
            let mut claimed = false;
            if running.len() < this.concurrency && !kinds.is_empty() {
                let (k, w, lease) = (kinds.clone(), this.worker.clone(), this.lease);
                match this
                    .store
                    .write(move |db| db.claim(&k, &w, store::now(), lease))
                    .await
                {
                    Ok(Some(job)) => {
                        claimed = true;
                        running.spawn(Arc::clone(&this).attempt(job));
                    }
                    Ok(None) => {}
                    Err(e) => tracing::error!(error = %e, "cannot claim jobs"),
                }
            }
            if claimed {
                continue;
            }
            tokio::select! {
                _ = tokio::time::sleep(this.poll) => {}
                _ = this.wake.notified() => {}
                Some(_) = running.join_next(), if !running.is_empty() => {}
                _ = stop.changed() => {}
            }
        }
        while running.join_next().await.is_some() {}
    }

    async fn attempt(self: Arc<Self>, job: Job) {
        let Some(handler) = self.handlers.get(job.kind.as_str()).cloned() else {
            return;
        };
        let (id, kind, attempt) = (job.id, job.kind.clone(), job.attempts);
        tracing::info!(job = id, %kind, attempt, "job started");
        let work = handler(job);
        tokio::pin!(work);
        let mut renew = tokio::time::interval(Duration::from_secs((self.lease / 3).max(1) as u64));
        renew.tick().await;
        let result = loop {
            tokio::select! {
                r = &mut work => break r,
                _ = renew.tick() => {
                    let (w, lease) = (self.worker.clone(), self.lease);
                    if let Err(e) = self.store.write(move |db| db.extend_lease(id, &w, store::now(), lease)).await {
                        tracing::warn!(job = id, error = %e, "cannot renew the job's lease");
                    }
                }
            }
        };
        let w = self.worker.clone();
        let outcome = match result {
            Ok(()) => {
                self.store
                    .write(move |db| db.complete(id, &w, store::now()).map(|_| None))
                    .await
            }
            Err(err) => {
                self.store
                    .write(move |db| db.fail(id, &w, &err, store::now()).map(Some))
                    .await
            }
        };
        match outcome {
            Ok(None) => tracing::info!(job = id, %kind, "job succeeded"),
            Ok(Some(JobState::Retrying { run_at })) => {
                tracing::warn!(job = id, %kind, run_at, "job failed; will retry")
            }
            Ok(Some(JobState::Failed)) => tracing::error!(job = id, %kind, "job failed for good"),
            Err(e) => tracing::error!(job = id, error = %e, "cannot record the job's outcome"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{NewJob, test_store};
    use std::sync::atomic::{AtomicU32, Ordering};

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn runner_retries_then_succeeds_and_stops() {
        let (_d, store) = test_store();
        let calls = Arc::new(AtomicU32::new(0));
        let c = Arc::clone(&calls);
        let flaky: Handler = Arc::new(move |job: Job| {
            let c = Arc::clone(&c);
            Box::pin(async move {
                assert_eq!(job.payload["app"], "shop");
                if c.fetch_add(1, Ordering::SeqCst) == 0 {
                    Err("first try fails".into())
                } else {
                    Ok(())
                }
            })
        });
        let id = store
            .write_sync(|db| {
                db.enqueue(
                    &NewJob::new("flaky", serde_json::json!({"app": "shop"}), store::now()),
                    store::now(),
                )
            })
            .expect("enqueue");
        let mut runner = Runner::new(store.clone(), HashMap::from([("flaky", flaky)]));
        runner.poll = Duration::from_millis(50);
        let (tx, rx) = watch::channel(false);
        let task = tokio::spawn(runner.run(rx));
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            let j = store
                .read_sync(|db| db.job(id))
                .expect("read")
                .expect("job");
            if j.status == "succeeded" {
                assert_eq!(j.attempts, 2);
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "job did not finish: {j:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        tx.send(true).expect("stop");
        tokio::time::timeout(Duration::from_secs(5), task)
            .await
            .expect("runner stops")
            .expect("join");
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }
}
