//! Every setting the daemon reads, typed, as one value: loaded from the
//! store at start and replaced whole (through a `watch` channel) when an
//! admin changes one, so the API, the router, the health monitor and the
//! builds read a field instead of a string key from the database. Secret
//! settings are not in it: they are read, unsealed, where they are used.

use std::sync::Arc;

use tokio::sync::watch;

use super::{Def, Kind, duration_secs, lookup};
use crate::error::{Error, Result};
use crate::store::Store;
use crate::units::Money;

/// A `Kind::Period` setting, in seconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Seconds(pub i64);

/// How a stored (already normalised) value becomes its field.
trait Typed: Sized {
    fn typed(def: &Def, v: &str) -> Result<Self>;
}

fn corrupt(def: &Def, v: &str) -> Error {
    Error::Internal(format!(
        "setting {} holds {v:?}, not {}: set it again with `skypanel admin settings:set {} VALUE`",
        def.key,
        def.kind.describe(),
        def.key
    ))
}

impl Typed for String {
    fn typed(_: &Def, v: &str) -> Result<Self> {
        Ok(v.to_string())
    }
}

impl Typed for i64 {
    fn typed(def: &Def, v: &str) -> Result<Self> {
        v.parse().map_err(|_| corrupt(def, v))
    }
}

impl Typed for bool {
    fn typed(def: &Def, v: &str) -> Result<Self> {
        match v {
            "true" => Ok(true),
            "false" => Ok(false),
            _ => Err(corrupt(def, v)),
        }
    }
}

impl Typed for Money {
    fn typed(def: &Def, v: &str) -> Result<Self> {
        Money::parse(def.key, v)
    }
}

impl Typed for Seconds {
    fn typed(def: &Def, v: &str) -> Result<Self> {
        match def.kind {
            Kind::Period { unit, .. } => duration_secs(v, unit)
                .map(Seconds)
                .ok_or_else(|| corrupt(def, v)),
            _ => Err(corrupt(def, v)),
        }
    }
}

/// The stored value as its type; a value that does not parse (a database
/// edited by hand, old data) is logged and its default used, so one bad
/// row neither stops the daemon nor the `settings:set` that would fix it.
fn typed_or_default<T: Typed>(def: &Def, v: &str) -> Result<T> {
    T::typed(def, v).or_else(|e| {
        tracing::warn!(key = def.key, error = %e, "using the default of a setting");
        T::typed(def, def.default)
    })
}

macro_rules! snapshot {
    ($($key:ident: $ty:ty),* $(,)?) => {
        /// Every non-secret setting, typed (see the registry for what each is).
        #[derive(Clone, Debug)]
        pub struct Snapshot {
            $(pub $key: $ty),*
        }

        impl Snapshot {
            /// The keys it holds: every setting of the registry but the secret ones.
            pub const KEYS: &[&str] = &[$(stringify!($key)),*];

            /// Reads every setting through `get` (the stored value, or the default).
            pub fn read(get: &mut dyn FnMut(&'static str) -> Result<String>) -> Result<Snapshot> {
                Ok(Snapshot {
                    $($key: {
                        let def = lookup(stringify!($key))?;
                        typed_or_default(def, &get(def.key)?)?
                    }),*
                })
            }
        }
    };
}

snapshot! {
    storage_type: String,
    local_storage_path: String,
    s3_endpoint: String,
    s3_region: String,
    s3_bucket: String,
    s3_access_key_id: String,
    loki_endpoint: String,
    loki_retention_days: Seconds,
    log_max_mb_per_app: i64,
    buildpack_default_stack: String,
    buildpack_cache_enabled: bool,
    buildpack_cache_ttl_hours: i64,
    buildpack_cache_max_size_mb: i64,
    buildpack_cache_total_max_mb: i64,
    buildpack_builder_image: String,
    buildpack_runner_image: String,
    build_concurrency: i64,
    build_queue_timeout: i64,
    build_memory_limit: i64,
    build_cpu_limit: i64,
    swarm_initialized: bool,
    swarm_manager_ip: String,
    acme_email: String,
    default_domain: String,
    panel_domain: String,
    acme_enabled: bool,
    acme_directory_url: String,
    acme_ca_file: String,
    acme_renew_days: i64,
    router_backend_timeout_s: i64,
    router_idle_timeout_s: i64,
    router_request_timeout_s: i64,
    max_apps_per_org: i64,
    max_deployments_per_hour: i64,
    release_images_keep: i64,
    billing_currency: String,
    billing_suspend_threshold: Money,
    billing_low_balance_hours: i64,
    billing_max_catchup_hours: i64,
    health_check_interval_s: i64,
    health_check_failures: i64,
    node_monitor_interval_s: i64,
    alert_webhook_url: String,
    default_plan: String,
}

/// The daemon's current settings: a `watch` channel of snapshots. Readers
/// take [`Current::get`] (a cheap `Arc` clone) or wait on
/// [`Current::subscribe`]; the settings handlers call [`Current::reload`]
/// after each change.
#[derive(Clone)]
pub struct Current {
    tx: Arc<watch::Sender<Arc<Snapshot>>>,
    /// Reloads one at a time, so the last to finish read the last write.
    reloading: Arc<tokio::sync::Mutex<()>>,
}

impl Current {
    pub fn new(snapshot: Snapshot) -> Current {
        Current {
            tx: Arc::new(watch::channel(Arc::new(snapshot)).0),
            reloading: Arc::default(),
        }
    }

    pub async fn load(store: &Store) -> Result<Current> {
        Ok(Current::new(read_store(store).await?))
    }

    pub fn get(&self) -> Arc<Snapshot> {
        Arc::clone(&self.tx.borrow())
    }

    pub fn subscribe(&self) -> watch::Receiver<Arc<Snapshot>> {
        self.tx.subscribe()
    }

    /// Reads the store again and hands the new snapshot to every reader.
    pub async fn reload(&self, store: &Store) -> Result<()> {
        let _one = self.reloading.lock().await;
        let s = read_store(store).await?;
        self.tx.send_replace(Arc::new(s));
        Ok(())
    }
}

async fn read_store(store: &Store) -> Result<Snapshot> {
    store
        .read(|db| Snapshot::read(&mut |k| db.setting(k)))
        .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::DEFS;

    #[test]
    fn the_snapshot_holds_every_setting_but_the_secret_ones() {
        let mut want: Vec<&str> = DEFS.iter().filter(|d| !d.secret).map(|d| d.key).collect();
        let mut have = Snapshot::KEYS.to_vec();
        want.sort();
        have.sort();
        assert_eq!(have, want, "add a new setting to the snapshot too");
    }

    #[test]
    fn defaults_are_typed_and_a_corrupt_value_falls_back_to_its_default() {
        let s = Snapshot::read(&mut |k| Ok(lookup(k)?.default.to_string())).expect("defaults");
        assert_eq!(s.health_check_failures, 3);
        assert!(!s.acme_enabled);
        assert_eq!(s.billing_suspend_threshold, Money(0));
        let s = Snapshot::read(&mut |k| {
            Ok(match k {
                "build_concurrency" => "many".to_string(),
                "health_check_failures" => "5".to_string(),
                _ => lookup(k)?.default.to_string(),
            })
        })
        .expect("a bad value does not stop the rest");
        let def = lookup("build_concurrency").expect("def");
        let default: i64 = def.default.parse().expect("a number");
        assert_eq!((s.build_concurrency, s.health_check_failures), (default, 5));
        let e = i64::typed(def, "many").expect_err("bad");
        assert!(
            e.to_string().contains("settings:set build_concurrency"),
            "{e}"
        );
    }

    #[tokio::test]
    async fn a_reload_hands_readers_the_new_value() {
        let (_dir, store) = crate::store::test_store();
        let current = Current::load(&store).await.expect("load");
        let mut rx = current.subscribe();
        assert_eq!(
            current.get().default_domain,
            lookup("default_domain").expect("def").default
        );
        store
            .write_sync(|db| db.put_setting(lookup("default_domain")?, "apps.example.com", 1))
            .expect("set");
        current.reload(&store).await.expect("reload");
        assert!(rx.has_changed().expect("open"));
        assert_eq!(rx.borrow_and_update().default_domain, "apps.example.com");
        assert_eq!(current.get().default_domain, "apps.example.com");
    }
}
