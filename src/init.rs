//! `skypanel admin init`: the one command that touches the database directly.
//! Creates the data dir, the encryption key file (unless the key comes from the
//! environment), the database with its schema, the default plans and settings,
//! the first admin with a token, and the admin's organization. Running it again
//! changes nothing that exists.

use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::api;
use crate::crypto::{Cipher, KEY_ENV};
use crate::error::{Error, Result};
use crate::store::{self, Store};

pub const DB_FILE: &str = "skypanel.db";
pub const KEY_FILE: &str = "encryption.key";

pub struct Options {
    pub data_dir: PathBuf,
    pub admin_email: String,
    pub org: String,
}

pub const PLATFORM_NETWORK: &str = "sp-platform";

/// Checks the Docker engine, initialises Swarm when it is inactive and creates
/// the platform network. Runs before anything is written, so an unreachable
/// engine leaves nothing half made.
pub async fn engine(advertise: Option<&str>) -> Result<crate::docker::SwarmInfo> {
    let engine = crate::docker::Engine::connect().await?;
    let swarm = engine.ensure_swarm(advertise).await?;
    engine
        .ensure_network(
            PLATFORM_NETWORK,
            std::collections::HashMap::from([("skypanel.platform".to_string(), "1".to_string())]),
        )
        .await?;
    Ok(swarm)
}

pub fn db_path(data_dir: &Path) -> PathBuf {
    data_dir.join(DB_FILE)
}

pub fn key_path(data_dir: &Path) -> PathBuf {
    data_dir.join(KEY_FILE)
}

/// Opens an initialised data dir (what the daemon does at start).
pub fn open(data_dir: &Path) -> Result<Store> {
    let db = db_path(data_dir);
    if !db.exists() {
        return Err(Error::Invalid(format!(
            "no SkyPanel database at {}: run `skypanel admin init --data-dir {}` first",
            db.display(),
            data_dir.display()
        )));
    }
    Store::open(&db, Cipher::load(&key_path(data_dir))?)
}

pub fn run(opts: &Options, swarm: Option<&crate::docker::SwarmInfo>) -> Result<api::InitReport> {
    crate::validate::email(&opts.admin_email)?;
    crate::validate::org_name(&opts.org)?;
    let dir = &opts.data_dir;
    if !dir.exists() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| {
                Error::Invalid(format!("cannot create the data dir {}: {e}", dir.display()))
            })?;
    }
    let key_file = key_path(dir);
    let (cipher, key_created) = Cipher::load_or_create(&key_file)?;
    let db = db_path(dir);
    let store = Store::open(&db, cipher)?;
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o600))
        .map_err(|e| Error::Internal(format!("cannot chmod {}: {e}", db.display())))?;
    let storage = dir.join("storage").display().to_string();
    let (email, org) = (opts.admin_email.to_ascii_lowercase(), opts.org.clone());
    store.write_sync(|db| {
        let now = store::now();
        let plans_seeded = db.seed_plans(now)?;
        let settings_seeded = db.seed_settings(&[("local_storage_path", storage)], now)?;
        if let Some(s) = swarm {
            let ip = s
                .manager_addr
                .split(':')
                .next()
                .unwrap_or_default()
                .to_string();
            for (key, value) in [
                ("swarm_initialized", "true".to_string()),
                ("swarm_manager_ip", ip),
                ("swarm_join_token_worker", s.worker_token.clone()),
                ("swarm_join_token_manager", s.manager_token.clone()),
            ] {
                let def = crate::settings::lookup(key)?;
                let value = crate::settings::normalize(def, &value)?;
                db.put_setting(def, &value, now)?;
            }
        }
        let (admin, token, org_created) = match db.first_admin()? {
            Some(a) => (a, None, None),
            None => {
                let a = db.create_user(&email, true, now)?;
                let (_, secret) = db.create_token(a.id, "admin init", now)?;
                let o = match db.org_by_name(&org)? {
                    Some(o) => o,
                    None => db.create_org(&org, a.id, now)?,
                };
                (a, Some(secret), Some(o.name))
            }
        };
        Ok(api::InitReport {
            data_dir: dir.display().to_string(),
            database: db_path(dir).display().to_string(),
            key: if std::env::var_os(KEY_ENV).is_some() {
                KEY_ENV.to_string()
            } else {
                key_file.display().to_string()
            },
            key_created,
            plans_seeded,
            settings_seeded,
            admin: admin.email,
            instance: store.instance_id().to_string(),
            swarm: swarm.map(|s| format!("manager {} (node {})", s.manager_addr, s.node_id)),
            org: org_created,
            token,
        })
    })
}
