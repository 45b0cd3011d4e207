//! Releases on Swarm (DESIGN decisions 3–5): a release's processes become one
//! service each, started beside the live release; each new web task is probed
//! on its host port, and only then does the release go live and the old one
//! get removed. A release that never gets healthy is removed and marked
//! failed; the live one keeps serving untouched.
//!
//! [`Runtime`] is the handle (store, engine, per-app locks, task sets, the
//! release progress hub); the work lives by job in `rollout` (the deploy
//! job), `backends` (which tasks take traffic, draining), `lifecycle` (scale,
//! restart, stop/start, destroy, ps), `reconcile` and `images` (tag holds and
//! pruning). `progress` carries a release's status and lines to whoever
//! waits; `queue` makes a release and its deploy job.

mod backends;
mod images;
mod lifecycle;
mod progress;
mod queue;
mod reconcile;
mod rollout;

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;

use crate::docker::{self, Engine, EngineCell};
use crate::error::Result;
use crate::events::Events;
use crate::store::{App, Store};

pub(crate) use backends::error_chain;
pub use backends::{Backend, probe};
pub use images::TagHold;
pub use lifecycle::Processes;
pub use queue::release_and_queue;
pub use reconcile::{RECONCILE_EVERY, reconcile_loop};

pub const DEFAULT_PORT: u16 = 5000;
/// How long a task leaves the backends before it is stopped, so requests
/// already sent to it finish.
pub const DRAIN: Duration = Duration::from_secs(2);
/// The label that tells apart service sets of one release (restarts).
pub const GENERATION: &str = "skypanel.generation";

/// What the runtime is built from; every part is made before it.
pub struct Parts {
    pub store: Store,
    pub data_dir: PathBuf,
    pub engine: EngineCell,
    pub events: Events,
    /// Told when the backends of some app may have changed (the router
    /// rebuilds its table).
    pub routes_changed: Arc<Notify>,
    pub settings: crate::settings::Current,
}

pub struct Runtime {
    store: Store,
    data_dir: PathBuf,
    engine: EngineCell,
    events: Events,
    routes_changed: Arc<Notify>,
    settings: crate::settings::Current,
    locks: Mutex<HashMap<i64, Arc<tokio::sync::Mutex<()>>>>,
    tasks: backends::TaskSets,
    tagging: images::Tagging,
    progress: progress::Progress,
}

/// A process's environment: the release's config, plus `PORT` (5000 unless
/// the config sets it).
fn process_env(config: &BTreeMap<String, String>) -> (Vec<String>, u16) {
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

/// The first 12 characters of a Docker id, as `docker` shows them.
pub(crate) fn short(id: &str) -> &str {
    id.get(..12).unwrap_or(id)
}

/// Six random hex digits, to name a restart's service set.
fn crypto_tag() -> String {
    crate::crypto::new_token()
        .map(|t| t[4..10].to_string())
        .unwrap_or_else(|_| format!("{:06x}", crate::store::now() % 0xffffff))
}

impl Runtime {
    pub fn new(parts: Parts) -> Arc<Runtime> {
        Arc::new(Runtime {
            store: parts.store,
            data_dir: parts.data_dir,
            engine: parts.engine,
            events: parts.events,
            routes_changed: parts.routes_changed,
            settings: parts.settings,
            locks: Mutex::default(),
            tasks: backends::TaskSets::default(),
            tagging: images::Tagging::default(),
            progress: progress::Progress::default(),
        })
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn events(&self) -> &Events {
        &self.events
    }

    /// The engine, connected on first use and reused after.
    pub async fn engine(&self) -> Result<Engine> {
        self.engine.get().await
    }

    /// Tells the router to rebuild its table.
    pub fn routes_changed(&self) {
        self.routes_changed.notify_one();
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

    async fn event(&self, level: &str, kind: &str, app: Option<&str>, message: String) {
        self.events
            .record(level, kind, app, message, serde_json::Value::Null)
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn process_env_adds_port_5000_unless_config_sets_it() {
        let config = BTreeMap::from([("GREETING".to_string(), "hi".to_string())]);
        let (env, port) = process_env(&config);
        assert_eq!(port, 5000);
        assert_eq!(
            env,
            vec!["GREETING=hi".to_string(), "PORT=5000".to_string()]
        );
        let config = BTreeMap::from([("PORT".to_string(), "8080".to_string())]);
        let (env, port) = process_env(&config);
        assert_eq!((env, port), (vec!["PORT=8080".to_string()], 8080));
        // A PORT that is no port keeps the default for probes, the app sees its own value.
        let config = BTreeMap::from([("PORT".to_string(), "http".to_string())]);
        assert_eq!(process_env(&config), (vec!["PORT=http".to_string()], 5000));
    }

    #[test]
    fn names_of_services_and_networks() {
        assert_eq!(service_name("shop", "web", 3), "sp-shop-web-v3");
        assert_eq!(org_network("0123456789abcdef", "acme"), "sp-01234567-acme");
        assert_eq!(org_network("abc", "acme"), "sp-abc-acme");
        assert_eq!(short("0123456789abcdef0123"), "0123456789ab");
        assert_eq!(short("abc"), "abc");
    }
}
