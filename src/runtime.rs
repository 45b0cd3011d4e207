//! Releases on Swarm (DESIGN decisions 3–5): a release's processes become one
//! service each, started beside the live release; each new web task is probed
//! on its host port, and only then does the release go live and the old one
//! get removed. A release that never gets healthy is removed and marked
//! failed; the live one keeps serving untouched.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::net::TcpStream;

use crate::docker::{self, Engine, ServiceDef, TaskInfo};
use crate::error::{Error, Result};
use crate::store::{self, App, Checks, Release, Store};

pub const DEFAULT_PORT: u16 = 5000;
/// How long a task leaves the backends before it is stopped, so requests
/// already sent to it finish.
pub const DRAIN: Duration = Duration::from_secs(2);
/// The label that tells apart service sets of one release (restarts).
pub const GENERATION: &str = "skypanel.generation";
/// How long tasks may take to reach `running` before a deploy gives up.
const START_TIMEOUT: Duration = Duration::from_secs(90);

pub struct Runtime {
    store: Store,
    /// Tasks that passed a check: only these are backends.
    healthy: Mutex<HashSet<String>>,
    /// Tasks on their way out: no longer backends, still finishing requests.
    draining: Mutex<HashSet<String>>,
    /// Failed tasks already reported as restarted.
    reported: Mutex<HashSet<String>>,
    engine: tokio::sync::Mutex<Option<Engine>>,
    locks: Mutex<HashMap<i64, Arc<tokio::sync::Mutex<()>>>>,
    /// Listeners to a release's rollout (a push waiting for its deploy).
    progress: Mutex<HashMap<i64, tokio::sync::mpsc::UnboundedSender<String>>>,
    data_dir: std::path::PathBuf,
    /// Apps whose next release image is being tagged: pruning waits for it.
    tagging: Arc<Mutex<HashMap<i64, usize>>>,
    /// Told when the backends of some app may have changed (the router
    /// rebuilds its table).
    pub routes_changed: tokio::sync::Notify,
    /// The log store, for platform lines (attached by the daemon).
    pub logs: std::sync::OnceLock<Arc<crate::logs::Logs>>,
    /// Told when a webhook delivery was queued.
    pub webhooks_wake: Arc<tokio::sync::Notify>,
}

/// Held while a new release image is tagged and its release row written; an
/// image prune of the app that starts meanwhile leaves every tag alone.
pub struct TagHold {
    map: Arc<Mutex<HashMap<i64, usize>>>,
    app_id: i64,
}

impl Drop for TagHold {
    fn drop(&mut self) {
        let mut m = self.map.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = m.get_mut(&self.app_id) {
            *n -= 1;
            if *n == 0 {
                m.remove(&self.app_id);
            }
        }
    }
}

/// A live, running web task the router may send traffic to.
#[derive(Clone, Debug, PartialEq)]
pub struct Backend {
    pub addr: String,
    pub port: u16,
    pub task: String,
}

/// A process's environment: the release's config, plus `PORT` (5000 unless
/// the config sets it).
fn process_env(config: &std::collections::BTreeMap<String, String>) -> (Vec<String>, u16) {
    let port: u16 = config
        .get("PORT")
        .and_then(|p| p.parse().ok())
        .unwrap_or(DEFAULT_PORT);
    let mut env: Vec<String> = config.iter().map(|(k, v)| format!("{k}={v}")).collect();
    if !config.contains_key("PORT") {
        env.push(format!("PORT={port}"));
    }
    (env, port)
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
    pub fn new(store: Store, data_dir: std::path::PathBuf) -> Arc<Runtime> {
        Arc::new(Runtime {
            store,
            healthy: Mutex::new(HashSet::new()),
            draining: Mutex::new(HashSet::new()),
            reported: Mutex::new(HashSet::new()),
            engine: tokio::sync::Mutex::new(None),
            locks: Mutex::new(HashMap::new()),
            progress: Mutex::new(HashMap::new()),
            data_dir,
            tagging: Arc::new(Mutex::new(HashMap::new())),
            routes_changed: tokio::sync::Notify::new(),
            logs: std::sync::OnceLock::new(),
            webhooks_wake: Default::default(),
        })
    }

    /// See [`TagHold`]: take it before tagging, drop it once the release
    /// that names the tag is stored.
    pub fn hold_tags(&self, app_id: i64) -> TagHold {
        *self
            .tagging
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(app_id)
            .or_default() += 1;
        TagHold {
            map: Arc::clone(&self.tagging),
            app_id,
        }
    }

    /// Lines describing the rollout of release `release_id` as it goes.
    pub fn watch(&self, release_id: i64) -> tokio::sync::mpsc::UnboundedReceiver<String> {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let mut p = self.progress.lock().unwrap_or_else(|e| e.into_inner());
        p.retain(|_, tx| !tx.is_closed());
        p.insert(release_id, tx);
        rx
    }

    /// A rollout step: to whoever watches the release (a push) and to the
    /// app's log as `skypanel[deploy]`.
    fn say(&self, app: &str, version: i64, release_id: i64, line: String) {
        self.say_as("deploy", app, version, release_id, line)
    }

    fn say_as(&self, process: &str, app: &str, version: i64, release_id: i64, line: String) {
        self.log(app, process, Some(version), line.trim_start().to_string());
        let p = self.progress.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(tx) = p.get(&release_id) {
            let _ = tx.send(line);
        }
    }

    /// A platform line in the app's log (once the log store is attached).
    pub fn log(&self, app: &str, process: &str, release: Option<i64>, line: String) {
        if let Some(logs) = self.logs.get() {
            logs.platform(app, process, release, line);
        }
    }

    pub fn store(&self) -> &Store {
        &self.store
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

    /// This installation's services of `app`, or of its release `version`.
    /// Every lookup goes through here, so none forgets the instance label.
    async fn app_services(
        &self,
        engine: &Engine,
        app: &str,
        version: Option<i64>,
    ) -> Result<Vec<docker::ServiceInfo>> {
        let v = version.map(|v| v.to_string());
        let mut labels = vec![
            (docker::INSTANCE, self.store.instance_id()),
            (docker::APP, app),
        ];
        if let Some(v) = &v {
            labels.push((docker::RELEASE, v));
        }
        engine.services(&labels).await
    }

    /// Held while an app's services or image tags change.
    pub fn app_lock(&self, app_id: i64) -> Arc<tokio::sync::Mutex<()>> {
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
    pub async fn deploy(
        &self,
        release_id: i64,
        app_id: i64,
        version: i64,
    ) -> std::result::Result<(), String> {
        let r = self
            .store
            .read(move |db| db.release_by_id(release_id))
            .await
            .map_err(|e| e.to_string())?;
        // Gone, or the id now belongs to another app's release: nothing to do.
        let Some(release) = r.filter(|r| r.app_id == app_id && r.version == version) else {
            return Ok(());
        };
        let lock = self.app_lock(release.app_id);
        let _guard = lock.lock().await;
        self.rollout(release).await.map_err(|e| e.to_string())
    }

    async fn event(&self, level: &str, kind: &str, app: Option<&str>, message: String) {
        self.event_with(level, kind, app, message, serde_json::Value::Null)
            .await
    }

    /// Records an event (with `data` for webhooks), writes it to the app's
    /// log, and queues it for the org's webhooks.
    pub async fn event_with(
        &self,
        level: &str,
        kind: &str,
        app: Option<&str>,
        message: String,
        data: serde_json::Value,
    ) {
        if let Some(a) = app {
            let process = if kind.starts_with("deploy") {
                "deploy"
            } else {
                "runtime"
            };
            self.log(a, process, None, message.clone());
        }
        let (level, kind, app) = (level.to_string(), kind.to_string(), app.map(str::to_string));
        let r = self
            .store
            .write(move |db| {
                let org = match &app {
                    Some(a) => match db.app_by_name(a)? {
                        Some(a) => Some((a.org_id, a.org.clone())),
                        None => None,
                    },
                    None => None,
                };
                crate::webhooks::raise(
                    db,
                    org.as_ref().map(|(id, name)| (*id, name.as_str())),
                    &level,
                    &kind,
                    app.as_deref(),
                    None,
                    &message,
                    data,
                    store::now(),
                )
            })
            .await;
        match r {
            Ok(0) => {}
            Ok(_) => self.webhooks_wake.notify_one(),
            Err(e) => tracing::error!(error = %e, "cannot record an event"),
        }
    }

    async fn rollout(&self, release: Release) -> Result<()> {
        let rid = release.id;
        let t0 = Instant::now();
        let step = |what: &str| {
            tracing::debug!(
                release = rid,
                ms = t0.elapsed().as_millis() as u64,
                "rollout: {what}"
            )
        };
        let (app, current, newer_live, stopped) = self
            .store
            .read(move |db| {
                let r = db
                    .release_by_id(rid)?
                    .ok_or_else(|| Error::Internal("release vanished".into()))?;
                let app = db.app_by_id(r.app_id)?;
                let live = db.live_release(app.id)?;
                let newer = live.as_ref().is_some_and(|l| l.version > r.version);
                let stopped = db.stopped(&app)?;
                Ok((app, r, newer, stopped))
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
        self.event_with(
            "info",
            "deploy_started",
            Some(&app.name),
            format!("deploying release v{}", current.version),
            serde_json::json!({"release": current.version}),
        )
        .await;
        let engine = self.engine().await?;
        // Leftovers of an attempt that was interrupted.
        for s in self
            .app_services(&engine, &app.name, Some(current.version))
            .await?
        {
            engine.remove_service(&s.id).await?;
        }
        let mut formation = current.formation.clone();
        if stopped {
            formation.values_mut().for_each(|n| *n = 0);
        }
        let prepared = match self.ensure_image(&engine, &app, current.clone()).await? {
            Ok(r) => match self.release_command(&engine, &app, &r).await? {
                Ok(()) => Ok(r),
                Err(e) => Err(e),
            },
            Err(e) => Err(e),
        };
        let current = match prepared {
            Ok(r) => r,
            Err(reason) => {
                self.say(
                    &app.name,
                    current.version,
                    rid,
                    format!("Release v{} failed: {reason}", current.version),
                );
                return self.fail_release(&app, &current, reason).await;
            }
        };
        step("image and release command ready");
        let shown: Vec<String> = formation
            .iter()
            .map(|(p, n)| format!("{p} ({n} {})", if *n == 1 { "replica" } else { "replicas" }))
            .collect();
        self.say(
            &app.name,
            current.version,
            rid,
            format!("Deploying {}", shown.join(", ")),
        );
        match self
            .start_set(&engine, &app, &current, &formation, "")
            .await?
        {
            Ok(new) => {
                step("healthy");
                let version = current.version;
                self.say(
                    &app.name,
                    version,
                    rid,
                    format!("Release v{version} is healthy; taking traffic"),
                );
                self.store
                    .write(move |db| db.promote_release(&current, store::now()))
                    .await?;
                self.routes_changed.notify_one();
                self.remove_other_services(&engine, &app, &new, None)
                    .await?;
                tracing::info!(app = %app.name, version, ms = t0.elapsed().as_millis() as u64, "release live");
                self.event_with(
                    "info",
                    "deploy",
                    Some(&app.name),
                    format!("release v{version} is live ({})", shown.join(", ")),
                    serde_json::json!({"release": version}),
                )
                .await;
                if let Err(e) = self.prune_images(&engine, &app).await {
                    tracing::warn!(app = %app.name, error = %e, "cannot prune old release images");
                }
                Ok(())
            }
            Err(reason) => {
                self.say(
                    &app.name,
                    current.version,
                    rid,
                    format!("Release v{} failed its checks: {reason}", current.version),
                );
                tracing::warn!(app = %app.name, %reason, "release failed its checks");
                self.fail_release(&app, &current, reason).await
            }
        }
    }

    /// Marks a release failed with its reason and records the event; the
    /// live release is untouched.
    async fn fail_release(&self, app: &App, release: &Release, reason: String) -> Result<()> {
        let rid = release.id;
        let data = serde_json::json!({"release": release.version, "reason": reason});
        self.store
            .write(move |db| db.mark_release(rid, "failed", Some(&reason), store::now()))
            .await?;
        self.event_with(
            "error",
            "deploy_failed",
            Some(&app.name),
            format!("release v{} failed", release.version),
            data,
        )
        .await;
        Ok(())
    }

    /// The release with an image that exists: a buildpack release whose
    /// image was pruned is rebuilt from its stored slug.
    async fn ensure_image(
        &self,
        engine: &Engine,
        app: &App,
        release: Release,
    ) -> Result<std::result::Result<Release, String>> {
        if engine.image_exists(&release.run.image).await? {
            return Ok(Ok(release));
        }
        let (Some(slug), Some(runner)) = (release.run.slug.clone(), release.run.runner.clone())
        else {
            return Ok(Err(format!(
                "its image {} is no longer on this server",
                release.run.image
            )));
        };
        self.say(
            &app.name,
            release.version,
            release.id,
            format!("Rebuilding the image of v{} from its slug", release.version),
        );
        let artifacts =
            crate::artifacts::Artifacts::from_settings(&self.store, &self.data_dir).await?;
        let work =
            self.data_dir
                .join("tmp")
                .join(format!("rebuild-{}-{}", release.id, store::now()));
        match crate::build::herokuish::rebuild_from_slug(
            engine, &artifacts, app, &slug, &runner, &work,
        )
        .await
        {
            Ok(image) => {
                let (rid, img) = (release.id, image.clone());
                self.store
                    .write(move |db| db.set_release_image(rid, &img))
                    .await?;
                tracing::info!(app = %app.name, version = release.version, %image, "image rebuilt from the slug");
                let mut r = release;
                r.run.image = image;
                Ok(Ok(r))
            }
            Err(e) => Ok(Err(format!(
                "its image was pruned and cannot be rebuilt: {e}"
            ))),
        }
    }

    /// The app's org network, created when missing.
    async fn ensure_org_network(&self, engine: &Engine, app: &App) -> Result<String> {
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
        Ok(network)
    }

    /// Runs the release's release command (Procfile `release:`, app.json
    /// `scripts.predeploy`) once, in a one-off container of the new image
    /// with the release's config, before the release takes traffic.
    async fn release_command(
        &self,
        engine: &Engine,
        app: &App,
        release: &Release,
    ) -> Result<std::result::Result<(), String>> {
        let Some(cmd) = release.run.release_command.clone() else {
            return Ok(Ok(()));
        };
        let rid = release.id;
        let config = self
            .store
            .read(move |db| {
                let r = db
                    .release_by_id(rid)?
                    .ok_or_else(|| Error::Internal("release vanished".into()))?;
                db.release_config(&r)
            })
            .await?;
        self.say(
            &app.name,
            release.version,
            rid,
            format!("Running the release command: {}", cmd.join(" ")),
        );
        let name = format!(
            "sp-release-{}-{}-v{}",
            self.store.instance_id().get(..8).unwrap_or_default(),
            app.name,
            release.version
        );
        let _ = engine.remove_container(&name).await;
        let mut labels = self.labels(app, release.version, "release");
        labels.insert(GENERATION.to_string(), "release".into());
        labels.insert(docker::ONEOFF.to_string(), "release".into());
        let id = engine
            .create_container(&docker::RunDef {
                name,
                image: release.run.image.clone(),
                cmd: Some(cmd),
                env: process_env(&config).0,
                labels,
                network: Some(self.ensure_org_network(engine, app).await?),
                ..Default::default()
            })
            .await?;
        let code = engine
            .run_to_end(&id, |l| {
                self.say_as(
                    "release",
                    &app.name,
                    release.version,
                    rid,
                    format!("       {l}"),
                )
            })
            .await;
        let _ = engine.remove_container(&id).await;
        match code? {
            0 => Ok(Ok(())),
            n => Ok(Err(format!("the release command exited with {n}"))),
        }
    }

    /// Starts `formation` of `release` as a new set of services (named with
    /// `tag` when not empty) and waits until its web tasks pass the checks.
    /// On failure the new services are removed and the reason returned.
    async fn start_set(
        &self,
        engine: &Engine,
        app: &App,
        release: &Release,
        formation: &store::Formation,
        tag: &str,
    ) -> Result<std::result::Result<Vec<String>, String>> {
        let rid = release.id;
        let a = app.clone();
        let (plan, checks, config) = self
            .store
            .read(move |db| {
                let r = db
                    .release_by_id(rid)?
                    .ok_or_else(|| Error::Internal("release vanished".into()))?;
                Ok((
                    db.plan_named(&a.plan)?,
                    db.checks(&a)?,
                    db.release_config(&r)?,
                ))
            })
            .await?;
        let network = self.ensure_org_network(engine, app).await?;
        let (env, port) = process_env(&config);
        let mut created = Vec::new();
        let mut web = None;
        for (process, count) in formation {
            let mut name = service_name(&app.name, process, release.version);
            if !tag.is_empty() {
                name = format!("{name}-{tag}");
            }
            let mut labels = self.labels(app, release.version, process);
            labels.insert(
                GENERATION.to_string(),
                if tag.is_empty() {
                    "0".into()
                } else {
                    tag.to_string()
                },
            );
            let def = ServiceDef {
                name,
                image: release.run.image.clone(),
                env: env.clone(),
                labels,
                replicas: (*count).max(0) as u64,
                cpu_millis: plan.cpu_millis,
                memory_mb: plan.memory_mb,
                port: (process == "web").then_some(port),
                network: network.clone(),
                command: release.run.commands.get(process).cloned(),
            };
            let id = engine.create_service(&def).await?;
            tracing::debug!(service = %id, "service created");
            if process == "web" && *count > 0 {
                web = Some((id.clone(), *count as usize));
            }
            created.push(id);
        }
        let outcome = match &web {
            Some((id, count)) => self.wait_healthy(engine, id, *count, &checks).await,
            None => Ok(()),
        };
        match outcome {
            Ok(()) => Ok(Ok(created)),
            Err(reason) => {
                for id in &created {
                    engine.remove_service(id).await?;
                }
                Ok(Err(reason))
            }
        }
    }

    /// Removes the app's services except `keep` (only those of `process` when
    /// given), draining their tasks first.
    async fn remove_other_services(
        &self,
        engine: &Engine,
        app: &App,
        keep: &[String],
        process: Option<&str>,
    ) -> Result<()> {
        let mut doomed = Vec::new();
        for s in self.app_services(engine, &app.name, None).await? {
            if keep.contains(&s.id)
                || process
                    .is_some_and(|p| s.labels.get(docker::PROCESS).map(String::as_str) != Some(p))
            {
                continue;
            }
            doomed.push(s.id);
        }
        let mut tasks = Vec::new();
        for id in &doomed {
            tasks.extend(
                engine
                    .tasks(id)
                    .await?
                    .into_iter()
                    .filter(TaskInfo::running)
                    .map(|t| t.id),
            );
        }
        self.drain(tasks).await;
        for id in &doomed {
            engine.remove_service(id).await?;
        }
        Ok(())
    }

    /// Takes tasks out of the backends and waits for the drain period.
    async fn drain(&self, tasks: Vec<String>) {
        if tasks.is_empty() {
            return;
        }
        {
            let mut healthy = self.healthy.lock().unwrap_or_else(|p| p.into_inner());
            let mut draining = self.draining.lock().unwrap_or_else(|p| p.into_inner());
            for t in tasks {
                healthy.remove(&t);
                draining.insert(t);
            }
        }
        self.routes_changed.notify_one();
        tokio::time::sleep(DRAIN).await;
    }

    /// Rolling restart without downtime: the live release's processes (or one)
    /// start again as new services beside the running ones, which are removed
    /// once the new web tasks pass the checks.
    pub async fn restart(&self, app: &App, process: Option<&str>) -> Result<()> {
        let lock = self.app_lock(app.id);
        let _guard = lock.lock().await;
        let id = app.id;
        let (live, formation, stopped) = self
            .store
            .read(move |db| {
                let app = db.app_by_id(id)?;
                Ok((db.live_release(id)?, db.formation(&app)?, db.stopped(&app)?))
            })
            .await?;
        let live = live.ok_or_else(|| {
            Error::Conflict(format!("{} has no live release to restart", app.name))
        })?;
        if stopped {
            return Err(Error::Conflict(format!(
                "{} is stopped: start it with `skypanel ps:start -a {}`",
                app.name, app.name
            )));
        }
        let mut chosen = formation.clone();
        chosen.retain(|p, n| {
            *n > 0 && process.is_none_or(|x| x == p) && live.formation.contains_key(p)
        });
        if let Some(p) = process
            && !chosen.contains_key(p)
        {
            return Err(Error::Invalid(format!(
                "{} runs no process type {p}: see `skypanel ps -a {}`",
                app.name, app.name
            )));
        }
        let engine = self.engine().await?;
        let tag = format!("r{}", crypto_tag());
        match self.start_set(&engine, app, &live, &chosen, &tag).await? {
            Ok(new) => {
                for p in chosen.keys() {
                    self.remove_other_services(&engine, app, &new, Some(p))
                        .await?;
                }
                self.event(
                    "info",
                    "restart",
                    Some(&app.name),
                    format!(
                        "restarted {}",
                        chosen.keys().cloned().collect::<Vec<_>>().join(", ")
                    ),
                )
                .await;
                Ok(())
            }
            Err(reason) => Err(Error::Conflict(format!(
                "the restart of {} failed, the running tasks were kept: {reason}",
                app.name
            ))),
        }
    }

    /// Scales the live release to zero (formation kept) or back to its formation.
    pub async fn set_stopped(&self, app: &App, stop: bool) -> Result<()> {
        let lock = self.app_lock(app.id);
        let _guard = lock.lock().await;
        let id = app.id;
        let (live, formation) = self
            .store
            .read(move |db| Ok((db.live_release(id)?, db.formation(&db.app_by_id(id)?)?)))
            .await?;
        let a = app.clone();
        // Stopped by its users or suspended: zero either way.
        let zero = self
            .store
            .write(move |db| {
                db.set_stopped(&a, stop)?;
                db.stopped(&a)
            })
            .await?;
        self.routes_changed.notify_one();
        let Some(live) = live else { return Ok(()) };
        let mut target = formation.clone();
        if zero {
            target.values_mut().for_each(|n| *n = 0);
        }
        self.scale_locked(app, &live, &target).await?;
        self.event(
            "info",
            if stop { "stop" } else { "start" },
            Some(&app.name),
            format!("{} {}", if stop { "stopped" } else { "started" }, app.name),
        )
        .await;
        Ok(())
    }

    /// Scales the live release to what the app should run now: zero when it
    /// is stopped or its org suspended, else its formation (billing's
    /// suspend and resume). Scaling up goes through the usual path: the
    /// router takes a new task only once it answers.
    pub async fn apply_stopped(&self, app: &App) -> Result<()> {
        let lock = self.app_lock(app.id);
        let _guard = lock.lock().await;
        let id = app.id;
        let (live, mut target, stopped) = self
            .store
            .read(move |db| {
                let app = db.app_by_id(id)?;
                Ok((db.live_release(id)?, db.formation(&app)?, db.stopped(&app)?))
            })
            .await?;
        let Some(live) = live else { return Ok(()) };
        if stopped {
            target.values_mut().for_each(|n| *n = 0);
        }
        let r = self.scale_locked(app, &live, &target).await;
        self.routes_changed.notify_one();
        r
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
        let mut nodes = NodeAddrs::default();
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
                let addr = nodes
                    .get(engine, &t.node_id)
                    .await
                    .map_err(|e| e.to_string())?;
                tracing::debug!(task = %t.id, ms = started.elapsed().as_millis() as u64, "task running; probing");
                match probe(&addr, port, checks).await {
                    Ok(()) => {
                        self.mark_healthy(&t.id);
                        healthy.push(t.id.clone());
                    }
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
                Duration::from_millis(25)
            };
            tokio::time::sleep(pause).await;
        }
    }

    /// Keeps the images of the newest `release_images_keep` releases (and the
    /// live one); removes the app's other platform tags.
    async fn prune_images(&self, engine: &Engine, app: &App) -> Result<()> {
        // The order matters: list the tags, then check for a tag being made,
        // then read the releases. A tag made after the listing is not in it;
        // one made before is either still held or already named by a release.
        let tags = engine.app_images(&app.name).await?;
        if self
            .tagging
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains_key(&app.id)
        {
            return Ok(());
        }
        let a = app.clone();
        let keep: HashSet<String> =
            self.store
                .read(move |db| {
                    let n = db.setting_i64("release_images_keep")?.max(1) as usize;
                    let releases = db.releases(&a)?;
                    Ok(releases
                        .iter()
                        .filter(|r| r.status != "failed")
                        .take(n)
                        .chain(releases.iter().filter(|r| {
                            matches!(r.status.as_str(), "live" | "pending" | "deploying")
                        }))
                        .map(|r| r.run.image.clone())
                        .collect())
                })
                .await?;
        for tag in tags {
            if !keep.contains(&tag) {
                engine.untag(&tag).await?;
            }
        }
        Ok(())
    }

    /// Removes every service of the app (for `apps:destroy`).
    pub async fn destroy(&self, app: &App) -> Result<()> {
        let lock = self.app_lock(app.id);
        let _guard = lock.lock().await;
        let engine = self.engine().await?;
        for s in self.app_services(&engine, &app.name, None).await? {
            engine.remove_service(&s.id).await?;
        }
        for tag in engine.app_images(&app.name).await? {
            engine.untag(&tag).await?;
        }
        self.routes_changed.notify_one();
        Ok(())
    }

    /// The services of the live release, with their tasks.
    pub async fn processes(&self, app: &App, live: &Release) -> Result<Processes> {
        let engine = self.engine().await?;
        let mut nodes = NodeAddrs::default();
        let mut out = Vec::new();
        let mut services = self
            .app_services(&engine, &app.name, Some(live.version))
            .await?;
        services.sort_by(|a, b| a.name.cmp(&b.name));
        for s in services {
            let process = s.labels.get(docker::PROCESS).cloned().unwrap_or_default();
            let mut tasks = Vec::new();
            for t in engine.tasks(&s.id).await? {
                if t.desired != "running" && t.state != "running" {
                    continue;
                }
                let addr = nodes.get(&engine, &t.node_id).await?;
                tasks.push((t, addr));
            }
            out.push((process, s.replicas, tasks));
        }
        Ok(out)
    }

    fn mark_healthy(&self, task: &str) {
        self.healthy
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(task.to_string());
    }

    /// Replaces one task: it leaves the backends, then its container is
    /// killed (Swarm starts a new task in its slot); a task on another node
    /// is replaced by a rolling update of its service. Returns what was done.
    pub async fn replace_task(&self, task: &TaskInfo) -> Result<String> {
        self.reported
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(task.id.clone());
        self.drain(vec![task.id.clone()]).await;
        let engine = self.engine().await?;
        let killed = match &task.container {
            Some(c) => engine.kill_container(c).await?,
            None => false,
        };
        if !killed {
            engine.force_update_service(&task.service_id).await?;
        }
        self.routes_changed.notify_one();
        Ok(if killed {
            "container killed; Swarm starts a new task".into()
        } else {
            "service updated to replace its tasks".into()
        })
    }

    /// Tasks of the live release that ended in failure (crashed, killed by
    /// the health monitor, refused by a node), per process type, as far as
    /// Swarm's task history goes.
    pub async fn restarts(&self, app: &App, live: &Release) -> Result<HashMap<String, i64>> {
        let engine = self.engine().await?;
        let mut out = HashMap::new();
        for s in self
            .app_services(&engine, &app.name, Some(live.version))
            .await?
        {
            let process = s.labels.get(docker::PROCESS).cloned().unwrap_or_default();
            let n = engine
                .tasks(&s.id)
                .await?
                .iter()
                .filter(|t| matches!(t.state.as_str(), "failed" | "rejected"))
                .count() as i64;
            *out.entry(process).or_insert(0) += n;
        }
        Ok(out)
    }

    pub fn is_healthy(&self, task: &str) -> bool {
        self.healthy
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains(task)
    }

    pub fn is_draining(&self, task: &str) -> bool {
        self.draining
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains(task)
    }

    /// The live backends of every app in `entries` with a live release, by
    /// app id, for the router: two engine calls per web service at most, and
    /// tasks not checked yet (after a daemon restart or a scale-up) get a
    /// quick TCP check, all at once.
    pub async fn web_backends(
        &self,
        entries: &[store::RouteEntry],
    ) -> Result<HashMap<i64, Vec<Backend>>> {
        let live: HashMap<&str, (i64, String)> = entries
            .iter()
            .filter_map(|e| e.live.map(|v| (e.app.as_str(), (e.app_id, v.to_string()))))
            .collect();
        let mut out: HashMap<i64, Vec<Backend>> = HashMap::new();
        if live.is_empty() {
            return Ok(out);
        }
        let engine = self.engine().await?;
        let services = engine
            .services(&[
                (docker::INSTANCE, self.store.instance_id()),
                (docker::PROCESS, "web"),
            ])
            .await?;
        let mut nodes = NodeAddrs::default();
        let mut unchecked = Vec::new();
        for s in services {
            let app = s.labels.get(docker::APP).map(String::as_str).unwrap_or("");
            let Some((app_id, version)) = live.get(app) else {
                continue;
            };
            if s.labels.get(docker::RELEASE) != Some(version) {
                continue;
            }
            for t in engine.tasks(&s.id).await? {
                let Some(port) = t.port.filter(|_| t.running() && !self.is_draining(&t.id)) else {
                    continue;
                };
                let b = Backend {
                    addr: nodes.get(&engine, &t.node_id).await?,
                    port,
                    task: t.id.clone(),
                };
                if self.is_healthy(&t.id) {
                    out.entry(*app_id).or_default().push(b);
                } else {
                    unchecked.push((*app_id, b));
                }
            }
        }
        let quick = Checks {
            enabled: false,
            path: "/".into(),
            attempts: 1,
            timeout: 1,
            wait: 0,
        };
        let results = futures_util::future::join_all(
            unchecked
                .iter()
                .map(|(_, b)| probe(&b.addr, b.port, &quick)),
        )
        .await;
        for ((app_id, b), r) in unchecked.into_iter().zip(results) {
            if r.is_ok() {
                self.mark_healthy(&b.task);
                out.entry(app_id).or_default().push(b);
            }
        }
        Ok(out)
    }

    /// Live backends: running web tasks of the live release that passed a
    /// check. A task not checked yet (after a scale-up or a daemon restart) is
    /// checked once here, briefly, and left out until it passes.
    pub async fn backends(&self, app: &App, live: &Release) -> Result<Vec<Backend>> {
        let processes = self.processes(app, live).await?;
        self.backends_in(app, &processes).await
    }

    /// Like [`Runtime::backends`], from tasks already fetched with [`Runtime::processes`].
    pub async fn backends_in(&self, app: &App, processes: &Processes) -> Result<Vec<Backend>> {
        let id = app.id;
        let checks = self
            .store
            .read(move |db| db.checks(&db.app_by_id(id)?))
            .await?;
        let quick = Checks {
            attempts: 1,
            timeout: 1,
            ..checks
        };
        let mut out = Vec::new();
        for (process, _, tasks) in processes {
            if process != "web" {
                continue;
            }
            for (t, addr) in tasks {
                let Some(port) = t.port.filter(|_| t.running() && !self.is_draining(&t.id)) else {
                    continue;
                };
                if !self.is_healthy(&t.id) {
                    if probe(addr, port, &quick).await.is_err() {
                        continue;
                    }
                    self.mark_healthy(&t.id);
                }
                out.push(Backend {
                    addr: addr.clone(),
                    port,
                    task: t.id.clone(),
                });
            }
        }
        Ok(out)
    }

    /// Sets the replica count of the live release's services. The live
    /// release is read under the app's lock, so a rollout finishing meanwhile
    /// cannot leave us scaling services it just removed.
    pub async fn scale(&self, app: &App, changes: &store::Formation) -> Result<()> {
        let lock = self.app_lock(app.id);
        let _guard = lock.lock().await;
        let id = app.id;
        let (live, stopped) = self
            .store
            .read(move |db| Ok((db.live_release(id)?, db.stopped(&db.app_by_id(id)?)?)))
            .await?;
        let r = match live {
            Some(live) if !stopped => self.scale_locked(app, &live, changes).await,
            _ => Ok(()),
        };
        self.routes_changed.notify_one();
        r
    }

    async fn scale_locked(
        &self,
        app: &App,
        live: &Release,
        changes: &store::Formation,
    ) -> Result<()> {
        let engine = self.engine().await?;
        let services = self
            .app_services(&engine, &app.name, Some(live.version))
            .await?;
        for (process, count) in changes {
            match services
                .iter()
                .find(|s| s.labels.get(docker::PROCESS) == Some(process))
            {
                Some(s) => {
                    // Swarm stops the highest slots first: drain them before it does.
                    let going: Vec<String> = engine
                        .tasks(&s.id)
                        .await?
                        .into_iter()
                        .filter(|t| t.running() && t.slot > *count)
                        .map(|t| t.id)
                        .collect();
                    self.drain(going).await;
                    engine.scale_service(&s.id, (*count).max(0) as u64).await?
                }
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

/// Node addresses looked up once per call instead of once per task.
#[derive(Default)]
struct NodeAddrs(HashMap<String, String>);

impl NodeAddrs {
    async fn get(&mut self, engine: &Engine, node_id: &str) -> Result<String> {
        if node_id.is_empty() {
            return Ok(String::new());
        }
        if let Some(a) = self.0.get(node_id) {
            return Ok(a.clone());
        }
        let a = engine.node_addr(node_id).await?;
        self.0.insert(node_id.to_string(), a.clone());
        Ok(a)
    }
}

/// The live release's services: process type, desired replicas, and the
/// tasks meant to run (or still running) with their node addresses.
pub type Processes = Vec<(String, u64, Vec<(TaskInfo, String)>)>;

/// The first 12 characters of a Docker id, as `docker` shows them.
pub(crate) fn short(id: &str) -> &str {
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
pub(crate) fn error_chain(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        return "timed out".into();
    }
    let mut cause: &dyn std::error::Error = e;
    while let Some(inner) = cause.source() {
        cause = inner;
    }
    cause.to_string()
}

/// Six random hex digits, to name a restart's service set.
fn crypto_tag() -> String {
    crate::crypto::new_token()
        .map(|t| t[4..10].to_string())
        .unwrap_or_else(|_| format!("{:06x}", store::now() % 0xffffff))
}

impl Runtime {
    /// Compares the services Swarm has with what the database says should
    /// run: a live release's missing services are recreated, and services of
    /// this installation that no app, live release or rollout explains are
    /// removed. Apps being deployed right now are left alone. Returns the
    /// actions taken (each also recorded as an event).
    pub async fn reconcile(&self) -> Result<Vec<String>> {
        let engine = self.engine().await?;
        let plan = self
            .store
            .read(|db| {
                let mut out = Vec::new();
                for app in db.apps_visible(None, None)? {
                    let live = db.live_release(app.id)?;
                    let formation = db.formation(&app)?;
                    let stopped = db.stopped(&app)?;
                    let busy: Vec<i64> = db
                        .unfinished_releases()?
                        .into_iter()
                        .filter(|r| r.app_id == app.id)
                        .map(|r| r.version)
                        .collect();
                    out.push((app, live, formation, stopped, busy));
                }
                Ok(out)
            })
            .await?;
        let services = engine
            .services(&[(docker::INSTANCE, self.store.instance_id())])
            .await?;
        let mut actions = Vec::new();
        for s in &services {
            let app = s.labels.get(docker::APP).cloned().unwrap_or_default();
            let version: i64 = s
                .labels
                .get(docker::RELEASE)
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            let known = plan.iter().find(|(a, ..)| a.name == app);
            let why = match known {
                None => Some(format!(
                    "removed service {}: its app {app} no longer exists",
                    s.name
                )),
                Some((a, live, _, _, busy)) => {
                    let lock = self.app_lock(a.id);
                    let Ok(_guard) = lock.try_lock() else {
                        continue;
                    };
                    let is_live = live.as_ref().is_some_and(|l| l.version == version);
                    (!is_live && !busy.contains(&version)).then(|| {
                        format!(
                            "removed service {}: release v{version} of {app} is not live",
                            s.name
                        )
                    })
                }
            };
            if let Some(why) = why {
                engine.remove_service(&s.id).await?;
                self.event("warning", "reconcile", Some(&app), why.clone())
                    .await;
                actions.push(why);
            }
        }
        // Tasks of live releases that Swarm had to replace since the last look.
        for (app, live, ..) in &plan {
            let Some(live) = live else { continue };
            for svc in self
                .app_services(&engine, &app.name, Some(live.version))
                .await?
            {
                for t in engine.tasks(&svc.id).await? {
                    if !matches!(t.state.as_str(), "failed" | "rejected") {
                        continue;
                    }
                    let new = self
                        .reported
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .insert(t.id.clone());
                    if new {
                        let why = t.error.clone().unwrap_or_else(|| t.state.clone());
                        let msg = format!(
                            "task {} of {} ({}) stopped: {why}; Swarm started a new one",
                            short(&t.id),
                            app.name,
                            svc.name
                        );
                        self.event("warning", "task_restarted", Some(&app.name), msg.clone())
                            .await;
                        actions.push(msg);
                    }
                }
            }
        }
        for (app, live, formation, stopped, _) in &plan {
            let Some(live) = live else { continue };
            if *stopped {
                continue;
            }
            let lock = self.app_lock(app.id);
            let Ok(_guard) = lock.try_lock() else {
                continue;
            };
            let have = self
                .app_services(&engine, &app.name, Some(live.version))
                .await?;
            let mut missing = formation.clone();
            missing.retain(|p, n| {
                *n > 0
                    && live.formation.contains_key(p)
                    && !have
                        .iter()
                        .any(|s| s.labels.get(docker::PROCESS) == Some(p))
            });
            if missing.is_empty() {
                continue;
            }
            let what = missing.keys().cloned().collect::<Vec<_>>().join(", ");
            let tag = format!("r{}", crypto_tag());
            let why = match self.start_set(&engine, app, live, &missing, &tag).await? {
                Ok(_) => format!(
                    "recreated {what} of v{} of {}: the services were missing",
                    live.version, app.name
                ),
                Err(reason) => format!(
                    "could not recreate {what} of v{} of {}: {reason}",
                    live.version, app.name
                ),
            };
            self.event("warning", "reconcile", Some(&app.name), why.clone())
                .await;
            actions.push(why);
        }
        Ok(actions)
    }
}

/// Reconciles at start and then every `RECONCILE_EVERY`, until `stop`.
pub async fn reconcile_loop(rt: Arc<Runtime>, mut stop: tokio::sync::watch::Receiver<bool>) {
    loop {
        match rt.reconcile().await {
            Ok(actions) => {
                for a in actions {
                    tracing::warn!(action = %a, "reconciled");
                }
            }
            Err(e) => tracing::warn!(error = %e, "reconciliation failed"),
        }
        tokio::select! {
            _ = tokio::time::sleep(RECONCILE_EVERY) => {}
            _ = stop.changed() => return,
        }
        if *stop.borrow() {
            return;
        }
    }
}

pub const RECONCILE_EVERY: Duration = Duration::from_secs(60);
