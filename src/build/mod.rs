//! Builds: what a `git push` to an app's deploy branch runs, inside the
//! push (the repository's pre-receive hook calls back into the daemon and
//! relays what is printed here as `remote:` lines). A build picks a
//! [`Provider`] (one file per builder), makes an image, then makes a release
//! and waits for the same zero-downtime rollout as `deploy --image`. A
//! failure rejects the push and leaves the live release serving.

pub mod dockerfile;
pub mod herokuish;
pub mod procfile;
mod push;
mod run;

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
use crate::error::Result;
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

    pub(super) fn with_log(&self, file: std::fs::File) -> Out {
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
    /// The settings as the build started.
    pub settings: Arc<crate::settings::Snapshot>,
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
    pub settings: crate::settings::Current,
    apps: Mutex<HashMap<i64, Arc<tokio::sync::Mutex<()>>>>,
    running: Mutex<usize>,
    freed: Notify,
    pub(super) cancels: Mutex<HashMap<i64, watch::Sender<bool>>>,
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
pub(super) struct Slot<'a>(&'a Builds);

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
        settings: crate::settings::Current,
    ) -> Builds {
        Builds {
            store,
            runtime,
            data_dir,
            jobs_wake,
            settings,
            apps: Mutex::new(HashMap::new()),
            running: Mutex::new(0),
            freed: Notify::new(),
            cancels: Mutex::new(HashMap::new()),
        }
    }

    pub(super) fn app_lock(&self, app_id: i64) -> Arc<tokio::sync::Mutex<()>> {
        let mut m = self.apps.lock().unwrap_or_else(|p| p.into_inner());
        Arc::clone(m.entry(app_id).or_default())
    }

    pub(super) async fn slot(
        &self,
        until: tokio::time::Instant,
        out: &Out,
    ) -> Result<Option<Slot<'_>>> {
        let mut told = false;
        loop {
            let limit = self.settings.get().build_concurrency.max(1) as usize;
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
