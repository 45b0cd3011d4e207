//! Builds: what a `git push` to an app's deploy branch runs, inside the
//! push (the repository's pre-receive hook calls back into the daemon and
//! relays what is printed here as `remote:` lines). A build picks a
//! [`Provider`] (one file per builder), makes an image, then makes a release
//! and waits for the same zero-downtime rollout as `deploy --image`. A
//! failure rejects the push and leaves the live release serving.

pub mod dockerfile;
pub mod herokuish;
pub mod procfile;

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{Notify, mpsc, watch};

use crate::artifacts::Artifacts;
use crate::docker::{self, Engine, Limits};
use crate::error::{Error, Result};
use crate::git::Source;
use crate::runtime::Runtime;
use crate::store::{self, App, Build, Store};

/// Where push output goes: the pusher (as it happens) and the build log.
#[derive(Clone)]
pub struct Out {
    tx: mpsc::UnboundedSender<String>,
    log: Option<Arc<Mutex<std::fs::File>>>,
}

impl Out {
    pub fn new(tx: mpsc::UnboundedSender<String>) -> Out {
        Out { tx, log: None }
    }

    fn with_log(&self, file: std::fs::File) -> Out {
        Out {
            tx: self.tx.clone(),
            log: Some(Arc::new(Mutex::new(file))),
        }
    }

    fn send(&self, line: String) {
        if let Some(log) = &self.log {
            let mut f = log.lock().unwrap_or_else(|p| p.into_inner());
            let _ = writeln!(f, "{line}");
        }
        // The pusher may have gone (Ctrl-C); the build goes on, as on Heroku.
        let _ = self.tx.send(line);
    }

    /// `-----> Building shop`
    pub fn step(&self, s: &str) {
        self.send(format!("-----> {s}"));
    }
    /// Output of a build step, indented under its step.
    pub fn info(&self, s: &str) {
        self.send(format!("       {s}"));
    }
    /// A line of the rollout: a step, or output of one (indented).
    pub fn progress(&self, s: &str) {
        match s.strip_prefix("       ") {
            Some(inner) => self.info(inner),
            None => self.step(s),
        }
    }
    pub fn fail(&self, s: &str) {
        self.send(format!(" !     {s}"));
    }
    pub fn done(&self, s: &str) {
        self.send(format!("=====> {s}"));
    }
}

/// What a builder is handed.
pub struct Ctx {
    pub engine: Engine,
    pub store: Store,
    pub artifacts: Arc<Artifacts>,
    pub app: App,
    pub build: Build,
    pub repo: PathBuf,
    pub quarantine: Option<PathBuf>,
    pub source: Source,
    /// The app's config, as `KEY=value` (buildpacks see it, e.g. BUILDPACK_URL).
    pub env: Vec<String>,
    pub out: Out,
    /// A folder of this build's own, removed afterwards.
    pub work: PathBuf,
    pub limits: Limits,
    pub instance: String,
    /// The tag the builder gives the image it makes.
    pub tag: String,
}

impl Ctx {
    /// The label of built images. One only: the engine turns build labels
    /// into LABEL steps in map order, and a varying order would defeat the
    /// layer cache.
    pub fn labels(&self) -> HashMap<String, String> {
        HashMap::from([(docker::APP.to_string(), self.app.name.clone())])
    }
}

/// What a builder made.
pub struct Built {
    pub image: String,
    pub slug: Option<String>,
    pub runner: Option<String>,
}

pub type BuildFuture<'a> =
    Pin<Box<dyn Future<Output = Result<std::result::Result<Built, String>>> + Send + 'a>>;

/// A way of turning a pushed tree into an image. The outer error is the
/// platform failing (the engine is gone); the inner one the build failing
/// (the user's to fix), with the reason.
pub trait Provider: Send + Sync {
    fn name(&self) -> &'static str;
    /// Whether this builder can build the tree (auto detection).
    fn detect(&self, src: &Source) -> bool;
    /// How process type `process` with Procfile command `cmd` runs.
    fn command(&self, process: &str, cmd: &str) -> Vec<String>;
    /// How the release command (or app.json predeploy) runs.
    fn release_command(&self, cmd: &str) -> Vec<String>;
    fn build<'a>(&'a self, ctx: &'a Ctx) -> BuildFuture<'a>;
}

/// The builders, in detection order.
pub fn providers() -> Vec<Box<dyn Provider>> {
    vec![
        Box::new(dockerfile::Dockerfile),
        Box::new(herokuish::Herokuish),
    ]
}

/// Picks the builder: the app's `builder:set` choice, else the first that
/// detects the tree. The error lists what was looked for.
pub fn choose(setting: &str, src: &Source) -> std::result::Result<Box<dyn Provider>, String> {
    let all = providers();
    if setting != "auto" {
        let p = all
            .into_iter()
            .find(|p| p.name() == setting)
            .ok_or_else(|| format!("unknown builder {setting}"))?;
        if p.name() == "dockerfile" && !p.detect(src) {
            return Err(
                "the builder is set to dockerfile but the pushed tree has no Dockerfile at its root: add one, \
                 or run `skypanel builder:set auto`"
                    .into(),
            );
        }
        return Ok(p);
    }
    all.into_iter().find(|p| p.detect(src)).ok_or_else(|| {
        format!(
            "cannot tell how to build this app: found neither a Dockerfile nor any of {} at the root of the \
             pushed tree. Add a Dockerfile, or a file a buildpack detects",
            herokuish::DETECTED.join(", ")
        )
    })
}

/// The daemon's build coordinator: one build per app at a time, at most
/// `build_concurrency` at once, and a cancel switch per running build.
pub struct Builds {
    pub store: Store,
    pub runtime: Arc<Runtime>,
    pub data_dir: PathBuf,
    pub jobs_wake: Arc<Notify>,
    apps: Mutex<HashMap<i64, Arc<tokio::sync::Mutex<()>>>>,
    running: Mutex<usize>,
    freed: Notify,
    cancels: Mutex<HashMap<i64, watch::Sender<bool>>>,
}

/// One push, as the pre-receive hook reports it.
pub struct Push {
    pub app: App,
    pub by: String,
    /// `(old, new, ref)` per updated ref.
    pub updates: Vec<(String, String, String)>,
    pub quarantine: Option<PathBuf>,
}

const ZERO: &str = "0000000000000000000000000000000000000000";

/// Holds a build slot until dropped.
struct Slot<'a>(&'a Builds);

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        let mut n = self.0.running.lock().unwrap_or_else(|p| p.into_inner());
        *n = n.saturating_sub(1);
        self.0.freed.notify_waiters();
    }
}

impl Builds {
    pub fn new(
        store: Store,
        runtime: Arc<Runtime>,
        data_dir: PathBuf,
        jobs_wake: Arc<Notify>,
    ) -> Builds {
        Builds {
            store,
            runtime,
            data_dir,
            jobs_wake,
            apps: Mutex::new(HashMap::new()),
            running: Mutex::new(0),
            freed: Notify::new(),
            cancels: Mutex::new(HashMap::new()),
        }
    }

    fn app_lock(&self, app_id: i64) -> Arc<tokio::sync::Mutex<()>> {
        let mut m = self.apps.lock().unwrap_or_else(|p| p.into_inner());
        Arc::clone(m.entry(app_id).or_default())
    }

    async fn slot(&self, until: tokio::time::Instant, out: &Out) -> Result<Option<Slot<'_>>> {
        let mut told = false;
        loop {
            let limit = self
                .store
                .read(|db| db.setting_i64("build_concurrency"))
                .await?
                .max(1) as usize;
            let freed = self.freed.notified();
            {
                let mut n = self.running.lock().unwrap_or_else(|p| p.into_inner());
                if *n < limit {
                    *n += 1;
                    return Ok(Some(Slot(self)));
                }
                if !told {
                    out.step(&format!("Waiting for a free build slot ({n} builds running, build_concurrency is {limit})"));
                    told = true;
                }
            }
            if tokio::time::timeout_at(until, freed).await.is_err() {
                return Ok(None);
            }
        }
    }

    /// Stops the app's running build; `false` when none runs.
    pub fn cancel(&self, app_id: i64) -> bool {
        let m = self.cancels.lock().unwrap_or_else(|p| p.into_inner());
        m.get(&app_id).is_some_and(|tx| tx.send(true).is_ok())
    }

    /// Handles one push. `Err` is the short reason the push is rejected with.
    pub async fn push(&self, push: Push, out: Out) -> std::result::Result<(), String> {
        match self.push_inner(push, &out).await {
            Ok(r) => r,
            Err(e) => {
                tracing::error!(error = %e, "push failed");
                Err(format!("the push could not be handled: {e}"))
            }
        }
    }

    async fn push_inner(&self, push: Push, out: &Out) -> Result<std::result::Result<(), String>> {
        let app = push.app.clone();
        let a = app.clone();
        let (builder, branch) = self.store.read(move |db| db.build_settings(&a)).await?;
        let wanted: Vec<String> = match &branch {
            Some(b) => vec![format!("refs/heads/{b}")],
            None => vec!["refs/heads/main".into(), "refs/heads/master".into()],
        };
        let deploy = push
            .updates
            .iter()
            .find(|(_, new, r)| wanted.contains(r) && new != ZERO);
        let Some((old, commit, ref_name)) = deploy.cloned() else {
            for (_, new, r) in &push.updates {
                let what = if new == ZERO { "deleted" } else { "stored" };
                out.step(&format!(
                    "{r} {what}; only {} deploys (change it with `skypanel git:set -a {} deploy-branch BRANCH`)",
                    wanted.iter().map(|w| w.trim_start_matches("refs/heads/")).collect::<Vec<_>>().join(" or "),
                    app.name
                ));
            }
            return Ok(Ok(()));
        };
        let a = app.clone();
        let (limit, timeout) = self
            .store
            .read(move |db| {
                Ok((
                    db.check_deploy_limit(&a, store::now()),
                    db.setting_i64("build_queue_timeout")?,
                ))
            })
            .await?;
        match limit {
            Ok(()) => {}
            Err(Error::Conflict(msg)) => {
                out.fail(&msg);
                return Ok(Err(msg));
            }
            Err(e) => return Err(e),
        }
        let until = tokio::time::Instant::now() + Duration::from_secs(timeout.max(1) as u64);
        let lock = self.app_lock(app.id);
        let _app_guard = match lock.try_lock() {
            Ok(g) => g,
            Err(_) => {
                out.step(&format!(
                    "Waiting for the build of {} in progress to finish",
                    app.name
                ));
                match tokio::time::timeout_at(until, lock.lock()).await {
                    Ok(g) => g,
                    Err(_) => {
                        let msg = format!(
                            "another build of {} still runs after {timeout} s (build_queue_timeout): push again later, \
                             or stop it with `skypanel builds:cancel -a {}`",
                            app.name, app.name
                        );
                        out.fail(&msg);
                        return Ok(Err(msg));
                    }
                }
            }
        };
        // A push that waited for another may find the branch moved: git would
        // refuse its ref update after the deploy, so refuse it now instead.
        let repo_dir = crate::git::repo_path(&self.data_dir, &app.name);
        let (rd, rn) = (repo_dir.clone(), ref_name.clone());
        let current = tokio::task::spawn_blocking(move || crate::git::ref_value(&rd, &rn))
            .await
            .map_err(|e| Error::Internal(e.to_string()))??;
        if current.as_deref().unwrap_or(ZERO) != old {
            let msg = format!(
                "{} was updated by another push while this one waited: fetch, merge and push again",
                ref_name.trim_start_matches("refs/heads/")
            );
            out.fail(&msg);
            return Ok(Err(msg));
        }
        let Some(_slot) = self.slot(until, out).await? else {
            let msg = format!(
                "no build slot became free in {timeout} s (build_queue_timeout): push again later"
            );
            out.fail(&msg);
            return Ok(Err(msg));
        };
        // What was pushed, and how to build it.
        let repo = crate::git::repo_path(&self.data_dir, &app.name);
        let (r, q, c) = (repo.clone(), push.quarantine.clone(), commit.clone());
        let source = tokio::task::spawn_blocking(move || crate::git::inspect(&r, q.as_deref(), &c))
            .await
            .map_err(|e| Error::Internal(e.to_string()))??;
        let provider = match choose(&builder, &source) {
            Ok(p) => p,
            Err(msg) => {
                out.fail(&msg);
                return Ok(Err(msg));
            }
        };
        let (a, by, name, c, rn) = (
            app.clone(),
            push.by.clone(),
            provider.name(),
            commit.clone(),
            ref_name.clone(),
        );
        let build = self
            .store
            .write(move |db| db.create_build(&a, name, &c, &rn, &by, store::now()))
            .await?;
        let (cancel_tx, cancel_rx) = watch::channel(false);
        self.cancels
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(app.id, cancel_tx);
        let work = self
            .data_dir
            .join("tmp")
            .join(format!("build-{}", build.id));
        std::fs::create_dir_all(&work)?;
        let log_path = work.join("build.log");
        let out = out.with_log(std::fs::File::create(&log_path)?);
        // Also readable by `builds:output` while the build runs.
        let live_log = self.live_log(build.id);
        let _ = std::fs::remove_file(&live_log);
        let _ = std::fs::hard_link(&log_path, &live_log);
        let result = self
            .run_build(
                &app,
                &build,
                &*provider,
                &source,
                &repo,
                push.quarantine.clone(),
                &work,
                &out,
                cancel_rx,
            )
            .await;
        self.cancels
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&app.id);
        let (status, reason) = match &result {
            Ok(Ok(())) => ("succeeded", None),
            Ok(Err(BuildEnd::Canceled)) => {
                ("canceled", Some("canceled with builds:cancel".to_string()))
            }
            Ok(Err(BuildEnd::Failed(r))) => ("failed", Some(r.clone())),
            Err(e) => ("failed", Some(e.to_string())),
        };
        if let Some(r) = &reason {
            out.fail(r);
        }
        // The log goes to the artifact store; losing it never fails the push.
        let log_key = match self.save_log(&app, &log_path, &work).await {
            Ok(k) => Some(k),
            Err(e) => {
                tracing::warn!(app = %app.name, error = %e, "cannot store the build log");
                None
            }
        };
        let (id, s, r) = (build.id, status.to_string(), reason.clone());
        self.store
            .write(move |db| {
                db.finish_build(id, &s, r.as_deref(), log_key.as_deref(), store::now())
            })
            .await?;
        let _ = std::fs::remove_file(&live_log);
        let _ = tokio::fs::remove_dir_all(&work).await;
        tracing::info!(app = %app.name, build = build.number, status, "build finished");
        match result {
            Ok(Ok(())) => Ok(Ok(())),
            Ok(Err(_)) => Ok(Err(reason.unwrap_or_default())),
            Err(e) => Err(e),
        }
    }

    fn live_log(&self, build_id: i64) -> PathBuf {
        self.data_dir
            .join("tmp")
            .join(format!("build-{build_id}.log"))
    }

    async fn save_log(&self, app: &App, log: &Path, work: &Path) -> Result<String> {
        let zst = work.join("build.log.zst");
        crate::artifacts::compress(log.to_path_buf(), zst.clone()).await?;
        let artifacts = Artifacts::from_settings(&self.store, &self.data_dir).await?;
        let key = crate::artifacts::new_key(&format!("logs/{}", app.name), "log.zst");
        artifacts.put_file(&key, &zst).await?;
        Ok(key)
    }

    /// The text of a build's log: from the running build, or the store.
    pub async fn log_text(&self, build: &Build) -> Result<String> {
        if build.status == "building" {
            return Ok(std::fs::read_to_string(self.live_log(build.id)).unwrap_or_default());
        }
        let Some(key) = &build.log_key else {
            return Err(Error::NotFound(format!(
                "build #{} has no stored log (the artifact store was unreachable when it ended)",
                build.number
            )));
        };
        let artifacts = Artifacts::from_settings(&self.store, &self.data_dir).await?;
        let tmp = self.data_dir.join("tmp");
        tokio::fs::create_dir_all(&tmp).await?;
        let zst = tmp.join(format!("log-{}-{}.zst", build.id, store::now()));
        let plain = zst.with_extension("txt");
        let found = artifacts.get_file(key, &zst).await?;
        let text = if found {
            crate::artifacts::decompress(zst.clone(), plain.clone()).await?;
            tokio::fs::read_to_string(&plain).await.map_err(Error::from)
        } else {
            Err(Error::NotFound(format!(
                "the log of build #{} is no longer in the artifact store ({})",
                build.number,
                artifacts.describe()
            )))
        };
        let _ = tokio::fs::remove_file(&zst).await;
        let _ = tokio::fs::remove_file(&plain).await;
        text
    }

    #[allow(clippy::too_many_arguments)]
    async fn run_build(
        &self,
        app: &App,
        build: &Build,
        provider: &dyn Provider,
        source: &Source,
        repo: &Path,
        quarantine: Option<PathBuf>,
        work: &Path,
        out: &Out,
        mut cancel: watch::Receiver<bool>,
    ) -> Result<std::result::Result<(), BuildEnd>> {
        out.step(&format!(
            "Building {} ({}) from {}",
            app.name,
            provider.name(),
            source.short()
        ));
        // Procfile and app.json are checked before anything is built.
        let a = app.clone();
        let base_checks = self.store.read(move |db| db.checks(&a)).await?;
        let procfile = match source
            .procfile
            .as_deref()
            .map(procfile::parse_procfile)
            .transpose()
        {
            Ok(p) => p,
            Err(e) => return Ok(Err(BuildEnd::Failed(e))),
        };
        let app_json = match source
            .app_json
            .as_deref()
            .map(|t| procfile::parse_app_json(t, &base_checks))
            .transpose()
        {
            Ok(a) => a.unwrap_or_default(),
            Err(e) => return Ok(Err(BuildEnd::Failed(e))),
        };
        let a = app.clone();
        let (config, limits) = self
            .store
            .read(move |db| {
                Ok((
                    db.config(&a)?,
                    Limits {
                        memory_mb: db.setting_i64("build_memory_limit")?,
                        cpu_millis: db.setting_i64("build_cpu_limit")?,
                    },
                ))
            })
            .await?;
        let engine = self.runtime.engine().await?;
        let artifacts = Arc::new(Artifacts::from_settings(&self.store, &self.data_dir).await?);
        let ctx = Ctx {
            engine: engine.clone(),
            store: self.store.clone(),
            artifacts,
            app: app.clone(),
            build: build.clone(),
            repo: repo.to_path_buf(),
            quarantine,
            source: source.clone(),
            env: config.iter().map(|(k, v)| format!("{k}={v}")).collect(),
            out: out.clone(),
            work: work.to_path_buf(),
            limits,
            instance: self.store.instance_id().to_string(),
            tag: format!("skypanel-build/{}:{}", app.name, build.number),
        };
        let built = tokio::select! {
            r = provider.build(&ctx) => r?,
            _ = async { let _ = cancel.wait_for(|c| *c).await; } => {
                herokuish::remove_builder(&ctx).await;
                let _ = engine.untag(&ctx.tag).await;
                return Ok(Err(BuildEnd::Canceled));
            }
        };
        let built = match built {
            Ok(b) => b,
            Err(reason) => {
                let _ = engine.untag(&ctx.tag).await;
                return Ok(Err(BuildEnd::Failed(reason)));
            }
        };
        // How each process runs, and the release command.
        let mut run = store::Run {
            image: String::new(),
            slug: built.slug,
            runner: built.runner,
            ..Default::default()
        };
        let mut types: Vec<String> = Vec::new();
        if let Some(p) = &procfile {
            for (name, cmd) in &p.processes {
                run.commands
                    .insert(name.clone(), provider.command(name, cmd));
                types.push(name.clone());
            }
        }
        if provider.name() == "herokuish" && !run.commands.contains_key("web") && procfile.is_none()
        {
            run.commands
                .insert("web".into(), provider.command("web", ""));
        }
        let release_cmd = procfile
            .as_ref()
            .and_then(|p| p.release.clone())
            .or(app_json.predeploy.clone());
        run.release_command = release_cmd.as_deref().map(|c| provider.release_command(c));
        if *cancel.borrow() {
            let _ = engine.untag(&ctx.tag).await;
            return Ok(Err(BuildEnd::Canceled));
        }
        // Tag and release under a tag hold, so an image prune running for
        // another rollout cannot take the new tag first.
        let release = {
            let _hold = self.runtime.hold_tags(app.id);
            run.image = engine.tag_for_app(&ctx.tag, &app.name).await?;
            engine.untag(&ctx.tag).await?;
            let (a, by, id, checks) = (
                app.clone(),
                build.created_by.clone().unwrap_or_default(),
                build.id,
                app_json.checks.clone(),
            );
            let short = source.short().to_string();
            let run = run.clone();
            self.store
                .write(move |db| {
                    let app = db.app_by_id(a.id)?;
                    let mut formation = db.formation(&app)?;
                    if !types.is_empty() {
                        formation = formation_for(&formation, &types);
                        db.set_formation(&app, &formation)?;
                    }
                    if let Some(c) = &checks {
                        db.set_checks(&app, c)?;
                    }
                    let config = db.config(&app)?;
                    let r = crate::daemon::release_and_queue(
                        db,
                        &app,
                        &run,
                        &config,
                        &format!("Deploy {short}"),
                        &by,
                    )?;
                    db.set_build_release(id, r.id)?;
                    Ok(r)
                })
                .await?
        };
        self.jobs_wake.notify_one();
        out.step(&format!("Releasing v{}", release.version));
        // Follow the rollout until the release is live or failed.
        let mut progress = self.runtime.watch(release.id);
        let rid = release.id;
        loop {
            tokio::select! {
                line = progress.recv() => {
                    if let Some(l) = line { out.progress(&l) }
                }
                _ = tokio::time::sleep(Duration::from_millis(200)) => {}
            }
            let r = self.store.read(move |db| db.release_by_id(rid)).await?;
            let Some(r) = r else {
                return Ok(Err(BuildEnd::Failed(
                    "the release vanished (was the app destroyed?)".into(),
                )));
            };
            match r.status.as_str() {
                "live" => {
                    while let Ok(l) = progress.try_recv() {
                        out.progress(&l);
                    }
                    let domain = self.store.read(|db| db.setting("default_domain")).await?;
                    out.done(&format!(
                        "{} deployed: http://{}.{domain}",
                        app.name, app.name
                    ));
                    return Ok(Ok(()));
                }
                "failed" | "superseded" => {
                    while let Ok(l) = progress.try_recv() {
                        out.progress(&l);
                    }
                    let why = r.reason.unwrap_or_else(|| r.status.clone());
                    return Ok(Err(BuildEnd::Failed(format!(
                        "release v{} was not deployed: {why}; the live release keeps serving",
                        r.version
                    ))));
                }
                _ => {}
            }
        }
    }
}

/// What builds of a previous daemon left behind: scratch folders and one-off
/// containers of this installation (no build survives a restart). Runs
/// before the daemon serves.
pub async fn clean_start(store: &Store, runtime: &Runtime, data_dir: &Path) {
    let _ = tokio::fs::remove_dir_all(data_dir.join("tmp")).await;
    let Ok(Ok(engine)) = tokio::time::timeout(Duration::from_secs(5), runtime.engine()).await
    else {
        return;
    };
    match engine
        .containers(&[
            (docker::INSTANCE, store.instance_id()),
            (docker::ONEOFF, ""),
        ])
        .await
    {
        Ok(ids) => {
            for id in ids {
                let _ = engine.remove_container(&id).await;
            }
        }
        Err(e) => tracing::warn!(error = %e, "cannot list leftover build containers"),
    }
}

/// Every 10 minutes, deletes artifacts whose deletion failed earlier.
pub async fn housekeeping(store: Store, data_dir: PathBuf, mut stop: watch::Receiver<bool>) {
    loop {
        match store.read(|db| db.artifact_trash()).await {
            Ok(keys) if !keys.is_empty() => {
                if let Ok(artifacts) = Artifacts::from_settings(&store, &data_dir).await {
                    for key in keys {
                        if artifacts.delete(&key).await.is_ok() {
                            let _ = store.write(move |db| db.untrash_artifact(&key)).await;
                        }
                    }
                }
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "cannot read the artifact trash"),
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(600)) => {}
            _ = stop.changed() => return,
        }
    }
}

pub enum BuildEnd {
    Canceled,
    Failed(String),
}

/// The formation after a push whose Procfile names `types`: counts of
/// types still named are kept, a new `web` gets 1 and other new types 0
/// (scale them with `ps:scale`), types no longer named go.
pub fn formation_for(current: &store::Formation, types: &[String]) -> store::Formation {
    types
        .iter()
        .map(|t| {
            let n = current
                .get(t)
                .copied()
                .unwrap_or(if t == "web" { 1 } else { 0 });
            (t.clone(), n)
        })
        .collect::<BTreeMap<_, _>>()
}

/// A hex SHA-1, for the cache key of the seeds (`sha1(app:builder:stack)`).
pub fn sha1_hex(s: &str) -> String {
    ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, s.as_bytes())
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn src(files: &[&str]) -> Source {
        Source {
            commit: "0123456789abcdef".into(),
            root_files: files.iter().map(|f| f.to_string()).collect(),
            ..Default::default()
        }
    }

    #[test]
    fn builder_detection() {
        assert_eq!(
            choose("auto", &src(&["Dockerfile", "Procfile"]))
                .expect("d")
                .name(),
            "dockerfile"
        );
        assert_eq!(
            choose("auto", &src(&["package.json"])).expect("h").name(),
            "herokuish"
        );
        assert_eq!(
            choose("auto", &src(&["index.html"])).expect("h").name(),
            "herokuish"
        );
        assert_eq!(
            choose("herokuish", &src(&["Dockerfile"]))
                .expect("forced")
                .name(),
            "herokuish"
        );
        let none = choose("auto", &src(&["README.md"]))
            .err()
            .expect("nothing to build");
        assert!(
            none.contains("Dockerfile") && none.contains("requirements.txt"),
            "{none}"
        );
        assert!(choose("dockerfile", &src(&["index.html"])).is_err());
    }

    #[test]
    fn procfile_formation() {
        let cur = BTreeMap::from([("web".to_string(), 3), ("old".to_string(), 2)]);
        let f = formation_for(&cur, &["web".into(), "worker".into()]);
        assert_eq!(
            f,
            BTreeMap::from([("web".to_string(), 3), ("worker".to_string(), 0)])
        );
        let g = formation_for(&BTreeMap::new(), &["web".into()]);
        assert_eq!(g["web"], 1);
    }

    #[test]
    fn cache_key_is_sha1() {
        assert_eq!(sha1_hex("abc"), "a9993e364706816aba3e25717850c26c9cd0d89d");
    }
}
