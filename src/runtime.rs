//! Releases on Swarm (DESIGN decisions 3–5): a release's processes become one
//! service each, started beside the live release; each new web task is probed
//! on its host port, and only then does the release go live and the old one
//! get removed. A release that never gets healthy is removed and marked
//! failed; the live one keeps serving untouched.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::net::TcpStream;

use crate::docker::{self, Engine, ServiceDef, TaskInfo};
use crate::error::{Error, Result};
use crate::store::{self, App, Checks, Release, Store};

pub const DEFAULT_PORT: u16 = 5000;
/// How long tasks may take to reach `running` before a deploy gives up.
const START_TIMEOUT: Duration = Duration::from_secs(90);

pub struct Runtime {
    store: Store,
    engine: tokio::sync::Mutex<Option<Engine>>,
    locks: Mutex<HashMap<i64, Arc<tokio::sync::Mutex<()>>>>,
}

/// A live, running web task the router may send traffic to.
#[derive(Clone, Debug, PartialEq)]
pub struct Backend {
    pub addr: String,
    pub port: u16,
    pub task: String,
}

pub fn service_name(app: &str, process: &str, version: i64) -> String {
    format!("sp-{app}-{process}-v{version}")
}

/// The org's private overlay network. The installation id keeps two
/// installations (or test runs) on one Swarm apart.
pub fn org_network(instance: &str, org: &str) -> String {
    format!("sp-{}-{org}", instance.get(..8).unwrap_or(instance))
}

impl Runtime {
    pub fn new(store: Store) -> Arc<Runtime> {
        Arc::new(Runtime {
            store,
            engine: tokio::sync::Mutex::new(None),
            locks: Mutex::new(HashMap::new()),
        })
    }

    /// The engine, connected on first use and reused after.
    pub async fn engine(&self) -> Result<Engine> {
        let mut e = self.engine.lock().await;
        if let Some(engine) = e.as_ref() {
            return Ok(engine.clone());
        }
        let engine = Engine::connect().await?;
        *e = Some(engine.clone());
        Ok(engine)
    }

    fn app_lock(&self, app_id: i64) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = self.locks.lock().unwrap_or_else(|p| p.into_inner());
        Arc::clone(locks.entry(app_id).or_default())
    }

    fn labels(&self, app: &App, version: i64, process: &str) -> HashMap<String, String> {
        HashMap::from([
            (
                docker::INSTANCE.to_string(),
                self.store.instance_id().to_string(),
            ),
            (docker::APP.to_string(), app.name.clone()),
            (docker::ORG.to_string(), app.org.clone()),
            (docker::RELEASE.to_string(), version.to_string()),
            (docker::PROCESS.to_string(), process.to_string()),
        ])
    }

    /// The `deploy` job: rolls out release `release_id`. A failed rollout is a
    /// result (the release is marked failed), not a job error; only an
    /// unreachable engine or store makes the job retry.
    pub async fn deploy(&self, release_id: i64) -> std::result::Result<(), String> {
        let r = self
            .store
            .read(move |db| db.release_by_id(release_id))
            .await
            .map_err(|e| e.to_string())?;
        let Some(release) = r else { return Ok(()) };
        let lock = self.app_lock(release.app_id);
        let _guard = lock.lock().await;
        self.rollout(release).await.map_err(|e| e.to_string())
    }

    async fn rollout(&self, release: Release) -> Result<()> {
        let rid = release.id;
        let (app, plan, checks, config, current, newer_live) = self
            .store
            .read(move |db| {
                let r = db
                    .release_by_id(rid)?
                    .ok_or_else(|| Error::Internal("release vanished".into()))?;
                let app = db.app_by_id(r.app_id)?;
                let plan = db.plan_named(&app.plan)?;
                let checks = db.checks(&app)?;
                let config = db.release_config(&r)?;
                let live = db.live_release(app.id)?;
                let newer = live.as_ref().is_some_and(|l| l.version > r.version);
                Ok((app, plan, checks, config, r, newer))
            })
            .await?;
        if !matches!(current.status.as_str(), "pending" | "deploying") {
            return Ok(());
        }
        if newer_live {
            self.store
                .write(move |db| {
                    db.mark_release(
                        rid,
                        "superseded",
                        Some("a newer release went live first"),
                        store::now(),
                    )
                })
                .await?;
            return Ok(());
        }
        self.store
            .write(move |db| db.mark_release(rid, "deploying", None, store::now()))
            .await?;
        let engine = self.engine().await?;
        // Leftovers of an attempt that was interrupted.
        self.remove_release_services(&engine, &app.name, current.version)
            .await?;
        let network = org_network(self.store.instance_id(), &app.org);
        engine
            .ensure_network(
                &network,
                HashMap::from([
                    (
                        docker::INSTANCE.into(),
                        self.store.instance_id().to_string(),
                    ),
                    (docker::ORG.into(), app.org.clone()),
                ]),
            )
            .await?;
        let port: u16 = config
            .get("PORT")
            .and_then(|p| p.parse().ok())
            .unwrap_or(DEFAULT_PORT);
        let mut env: Vec<String> = config.iter().map(|(k, v)| format!("{k}={v}")).collect();
        if !config.contains_key("PORT") {
            env.push(format!("PORT={port}"));
        }
        let mut web = None;
        for (process, count) in &current.formation {
            if *count <= 0 {
                continue;
            }
            let def = ServiceDef {
                name: service_name(&app.name, process, current.version),
                image: current.image.clone(),
                env: env.clone(),
                labels: self.labels(&app, current.version, process),
                replicas: *count as u64,
                cpu_millis: plan.cpu_millis,
                memory_mb: plan.memory_mb,
                port: (process == "web").then_some(port),
                network: network.clone(),
            };
            let id = engine.create_service(&def).await?;
            if process == "web" {
                web = Some((id, *count as usize));
            }
        }
        let outcome = match &web {
            Some((id, count)) => self.wait_healthy(&engine, id, *count, &checks).await,
            None => Ok(()),
        };
        match outcome {
            Ok(()) => {
                let version = current.version;
                let previous = self
                    .store
                    .write(move |db| db.promote_release(&current, store::now()))
                    .await?;
                tracing::info!(app = %app.name, version, "release live");
                if let Some(p) = previous {
                    self.remove_release_services(&engine, &app.name, p.version)
                        .await?;
                }
                Ok(())
            }
            Err(reason) => {
                tracing::warn!(app = %app.name, %reason, "release failed its checks");
                self.remove_release_services(&engine, &app.name, current.version)
                    .await?;
                self.store
                    .write(move |db| db.mark_release(rid, "failed", Some(&reason), store::now()))
                    .await?;
                Ok(())
            }
        }
    }

    /// Waits until `count` web tasks run and each passes the checks. The error
    /// says which check failed and how.
    async fn wait_healthy(
        &self,
        engine: &Engine,
        service: &str,
        count: usize,
        checks: &Checks,
    ) -> std::result::Result<(), String> {
        let started = Instant::now();
        let mut healthy: Vec<String> = Vec::new();
        let mut failures: HashMap<String, i64> = HashMap::new();
        let mut last = String::from("no task started");
        loop {
            let mut probed_and_failed = false;
            let tasks = engine.tasks(service).await.map_err(|e| e.to_string())?;
            let crashed: Vec<&TaskInfo> = tasks
                .iter()
                .filter(|t| matches!(t.state.as_str(), "failed" | "rejected"))
                .collect();
            if crashed.len() >= 3 {
                let why = crashed[0]
                    .error
                    .clone()
                    .unwrap_or_else(|| crashed[0].state.clone());
                return Err(format!(
                    "tasks keep exiting ({} so far): {why}",
                    crashed.len()
                ));
            }
            let running: Vec<&TaskInfo> = tasks
                .iter()
                .filter(|t| t.running() && t.port.is_some())
                .collect();
            for t in &running {
                if healthy.contains(&t.id) {
                    continue;
                }
                let Some(port) = t.port else { continue };
                let addr = engine
                    .node_addr(&t.node_id)
                    .await
                    .map_err(|e| e.to_string())?;
                match probe(&addr, port, checks).await {
                    Ok(()) => healthy.push(t.id.clone()),
                    Err(e) => {
                        probed_and_failed = true;
                        let n = failures.entry(t.id.clone()).or_default();
                        *n += 1;
                        last = e;
                        if *n >= checks.attempts {
                            return Err(format!(
                                "task {} failed {} checks: {last}",
                                short(&t.id),
                                checks.attempts
                            ));
                        }
                    }
                }
            }
            let live: usize = running.iter().filter(|t| healthy.contains(&t.id)).count();
            if live >= count {
                return Ok(());
            }
            if started.elapsed()
                > START_TIMEOUT
                    + Duration::from_secs((checks.attempts * (checks.wait + checks.timeout)) as u64)
            {
                return Err(format!(
                    "{live} of {count} web tasks became healthy in time; last: {last}"
                ));
            }
            let pause = if probed_and_failed {
                Duration::from_secs(checks.wait.max(1) as u64)
            } else {
                Duration::from_millis(250)
            };
            tokio::time::sleep(pause).await;
        }
    }

    async fn remove_release_services(
        &self,
        engine: &Engine,
        app: &str,
        version: i64,
    ) -> Result<()> {
        let v = version.to_string();
        for s in engine
            .services(&[
                (docker::INSTANCE, self.store.instance_id()),
                (docker::APP, app),
                (docker::RELEASE, &v),
            ])
            .await?
        {
            engine.remove_service(&s.id).await?;
        }
        Ok(())
    }

    /// Removes every service of the app (for `apps:destroy`).
    pub async fn destroy(&self, app: &App) -> Result<()> {
        let lock = self.app_lock(app.id);
        let _guard = lock.lock().await;
        let engine = self.engine().await?;
        for s in engine
            .services(&[
                (docker::INSTANCE, self.store.instance_id()),
                (docker::APP, &app.name),
            ])
            .await?
        {
            engine.remove_service(&s.id).await?;
        }
        Ok(())
    }

    /// The services of the live release, with their tasks.
    pub async fn processes(
        &self,
        app: &App,
        live: &Release,
    ) -> Result<Vec<(String, u64, Vec<(TaskInfo, String)>)>> {
        let engine = self.engine().await?;
        let v = live.version.to_string();
        let mut out = Vec::new();
        let mut services = engine
            .services(&[
                (docker::INSTANCE, self.store.instance_id()),
                (docker::APP, &app.name),
                (docker::RELEASE, &v),
            ])
            .await?;
        services.sort_by(|a, b| a.name.cmp(&b.name));
        for s in services {
            let process = s.labels.get(docker::PROCESS).cloned().unwrap_or_default();
            let mut tasks = Vec::new();
            for t in engine.tasks(&s.id).await? {
                if t.desired != "running" && t.state != "running" {
                    continue;
                }
                let addr = if t.node_id.is_empty() {
                    String::new()
                } else {
                    engine.node_addr(&t.node_id).await?
                };
                tasks.push((t, addr));
            }
            out.push((process, s.replicas, tasks));
        }
        Ok(out)
    }

    /// Live backends: running web tasks of the live release, with their ports.
    pub async fn backends(&self, app: &App, live: &Release) -> Result<Vec<Backend>> {
        Ok(self
            .processes(app, live)
            .await?
            .into_iter()
            .filter(|(p, _, _)| p == "web")
            .flat_map(|(_, _, tasks)| tasks)
            .filter(|(t, _)| t.running())
            .filter_map(|(t, addr)| {
                t.port.map(|port| Backend {
                    addr,
                    port,
                    task: t.id,
                })
            })
            .collect())
    }

    /// Sets the replica count of the live release's services.
    pub async fn scale(&self, app: &App, live: &Release, changes: &store::Formation) -> Result<()> {
        let lock = self.app_lock(app.id);
        let _guard = lock.lock().await;
        let engine = self.engine().await?;
        let v = live.version.to_string();
        let services = engine
            .services(&[
                (docker::INSTANCE, self.store.instance_id()),
                (docker::APP, &app.name),
                (docker::RELEASE, &v),
            ])
            .await?;
        for (process, count) in changes {
            match services
                .iter()
                .find(|s| s.labels.get(docker::PROCESS) == Some(process))
            {
                Some(s) => engine.scale_service(&s.id, (*count).max(0) as u64).await?,
                None if *count == 0 => {}
                None => {
                    return Err(Error::Invalid(format!(
                        "release v{} of {} has no process type {process}: deploy one that does",
                        live.version, app.name
                    )));
                }
            }
        }
        Ok(())
    }
}

fn short(id: &str) -> &str {
    id.get(..12).unwrap_or(id)
}

/// One check of one task: TCP connect, then (checks enabled) `GET path`
/// answering below 500, each within the timeout.
pub async fn probe(addr: &str, port: u16, checks: &Checks) -> std::result::Result<(), String> {
    let timeout = Duration::from_secs(checks.timeout.max(1) as u64);
    let target = format!("{addr}:{port}");
    match tokio::time::timeout(timeout, TcpStream::connect(&target)).await {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => return Err(format!("TCP connect to {target}: {e}")),
        Err(_) => {
            return Err(format!(
                "TCP connect to {target}: no answer in {}s",
                timeout.as_secs()
            ));
        }
    }
    if !checks.enabled {
        return Ok(());
    }
    let url = format!("http://{target}{}", checks.path);
    let client = reqwest::Client::builder()
        .timeout(timeout)
        .build()
        .map_err(|e| e.to_string())?;
    match client.get(&url).send().await {
        Ok(res) if res.status().as_u16() < 500 => Ok(()),
        Ok(res) => Err(format!("GET {} answered {}", checks.path, res.status())),
        Err(e) => Err(format!("GET {} failed: {}", checks.path, error_chain(&e))),
    }
}

/// "timed out" or the innermost cause ("connection reset by peer"), which
/// says more than reqwest's outer "error sending request".
fn error_chain(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        return "timed out".into();
    }
    let mut cause: &dyn std::error::Error = e;
    while let Some(inner) = cause.source() {
        cause = inner;
    }
    cause.to_string()
}
