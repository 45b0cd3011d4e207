//! The only module that runs SQL. One SQLite file (WAL, foreign keys on) holds
//! all state; migrations are embedded and applied when the store opens.
//!
//! `Store` is a cheap, cloneable handle. Work runs in closures that receive a
//! [`Db`] (the connection plus the cipher for sealed columns); `read` and
//! `write` run them on the blocking pool so async callers never stall, and
//! `write` wraps them in an IMMEDIATE transaction that commits only on `Ok`.

mod accounts;
mod apps;
mod billing;
mod builds;
mod certs;
mod domains;
pub mod jobs;
pub mod logs;
mod ops;
mod orgs;
mod plans;
mod releases;
mod settings;
mod webhooks;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, TransactionBehavior};

pub use accounts::{Token, User};
pub use apps::{App, ConfigChange};
pub use billing::{
    Entry, HourUsage, MANUAL, OrgBilling, Progress, UsageRow, manual_amount, note as ledger_note,
};
pub use builds::{BUILDERS, Build, BuildCache, BuildRef, BuildStatus};
pub use certs::{AcmeClock, AcmeWork, Cert, CertFacts, CertStatus, acme_backoff};
pub use domains::{Domain, RouteEntry};
pub use jobs::{Job, JobState, NewJob};
pub use ops::{BUILD_BUCKETS, Event, Figures, Node};
pub use orgs::{Member, Org, OrgSummary, Role};
pub use plans::{Plan, PlanSpec};
pub use releases::{Checks, Formation, NewRelease, Release, ReleaseStatus, Run};
pub use webhooks::{Delivery, DueDelivery, MAX_ATTEMPTS, Probe, Webhook, retry_after};

impl From<rusqlite::Error> for crate::error::Error {
    fn from(e: rusqlite::Error) -> Self {
        // rusqlite's messages name SQL and constraint, never bound values.
        crate::error::Error::Internal(format!("database error: {e}"))
    }
}

/// A status column read as its enum; a value the code does not know is an
/// error, not a silent default.
fn status_col<T>(r: &rusqlite::Row, i: usize, parse: fn(&str) -> Option<T>) -> rusqlite::Result<T> {
    let s: String = r.get(i)?;
    parse(&s).ok_or_else(|| {
        rusqlite::Error::FromSqlConversionFailure(
            i,
            rusqlite::types::Type::Text,
            format!("unknown status {s:?}").into(),
        )
    })
}

use crate::crypto::Cipher;
use crate::error::{Error, Result};

const MIGRATIONS: &[(&str, &str)] = &[
    ("0001_init", include_str!("migrations/0001_init.sql")),
    (
        "0002_releases",
        include_str!("migrations/0002_releases.sql"),
    ),
    (
        "0003_nodes_events",
        include_str!("migrations/0003_nodes_events.sql"),
    ),
    ("0004_builds", include_str!("migrations/0004_builds.sql")),
    ("0005_domains", include_str!("migrations/0005_domains.sql")),
    ("0006_certs", include_str!("migrations/0006_certs.sql")),
    (
        "0007_webhooks_health",
        include_str!("migrations/0007_webhooks_health.sql"),
    ),
    ("0008_wallets", include_str!("migrations/0008_wallets.sql")),
    ("0009_usage", include_str!("migrations/0009_usage.sql")),
];

const KEY_CHECK: &str = "key_check";

#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

struct Inner {
    conn: Mutex<Connection>,
    cipher: Cipher,
    path: PathBuf,
    instance: String,
}

/// A connection (or open transaction) and the cipher, handed to store functions.
pub struct Db<'a> {
    conn: &'a Connection,
    cipher: &'a Cipher,
}

impl Store {
    /// Opens (creating when missing) the database, applies migrations and
    /// checks that `cipher` is the key the database was created with.
    pub fn open(path: &Path, cipher: Cipher) -> Result<Store> {
        let mut conn = Connection::open(path).map_err(|e| {
            Error::Internal(format!("cannot open the database {}: {e}", path.display()))
        })?;
        conn.busy_timeout(Duration::from_secs(10))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        migrate(&mut conn)?;
        check_key(&conn, &cipher, path)?;
        let instance = instance_id(&conn)?;
        Ok(Store {
            inner: Arc::new(Inner {
                conn: Mutex::new(conn),
                cipher,
                path: path.to_path_buf(),
                instance,
            }),
        })
    }

    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// A random id of this installation, put on every Docker object it makes,
    /// so several installations (or test runs) can share one Swarm.
    pub fn instance_id(&self) -> &str {
        &self.inner.instance
    }

    /// Runs `f` on the connection, outside any explicit transaction.
    pub fn read_sync<T>(&self, f: impl FnOnce(&Db) -> Result<T>) -> Result<T> {
        let conn = self
            .inner
            .conn
            .lock()
            .map_err(|_| Error::Internal("database lock poisoned".into()))?;
        f(&Db {
            conn: &conn,
            cipher: &self.inner.cipher,
        })
    }

    /// Runs `f` in an IMMEDIATE transaction: committed when `f` returns `Ok`,
    /// rolled back otherwise, so a refused request changes nothing.
    pub fn write_sync<T>(&self, f: impl FnOnce(&Db) -> Result<T>) -> Result<T> {
        let mut conn = self
            .inner
            .conn
            .lock()
            .map_err(|_| Error::Internal("database lock poisoned".into()))?;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let out = f(&Db {
            conn: &tx,
            cipher: &self.inner.cipher,
        })?;
        tx.commit()?;
        Ok(out)
    }

    pub async fn read<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Db) -> Result<T> + Send + 'static,
    {
        let store = self.clone();
        blocking(move || store.read_sync(f)).await
    }

    pub async fn write<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Db) -> Result<T> + Send + 'static,
    {
        let store = self.clone();
        blocking(move || store.write_sync(f)).await
    }
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Error::Internal(format!("a database task failed: {e}")))?
}

impl Db<'_> {
    /// `SELECT 1`, for the health check.
    pub fn ping(&self) -> Result<()> {
        self.conn.query_row("SELECT 1", [], |_| Ok(()))?;
        Ok(())
    }
}

fn migrate(conn: &mut Connection) -> Result<()> {
    let current: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    let current = usize::try_from(current).unwrap_or(usize::MAX);
    if current > MIGRATIONS.len() {
        return Err(Error::Internal(format!(
            "the database is at schema version {current}, newer than this skypanel knows ({}): \
             install the newer skypanel binary",
            MIGRATIONS.len()
        )));
    }
    for (i, (name, sql)) in MIGRATIONS.iter().enumerate().skip(current) {
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.execute_batch(sql)
            .map_err(|e| Error::Internal(format!("migration {name} failed: {e}")))?;
        tx.pragma_update(None, "user_version", (i + 1) as i64)?;
        tx.commit()?;
        tracing::info!(migration = name, "applied database migration");
    }
    Ok(())
}

fn check_key(conn: &Connection, cipher: &Cipher, path: &Path) -> Result<()> {
    let stored: Option<Vec<u8>> = conn
        .query_row("SELECT value FROM meta WHERE key = ?1", [KEY_CHECK], |r| {
            r.get(0)
        })
        .optional()?;
    match stored {
        Some(sealed) => cipher.open("meta:key_check", &sealed).map(|_| ()).map_err(|_| {
            Error::Invalid(format!(
                "the encryption key does not match the database {}: use the key it was created with \
                 ({} or the key file in the data dir)",
                path.display(),
                crate::crypto::KEY_ENV
            ))
        }),
        None => {
            let sealed = cipher.seal("meta:key_check", b"skypanel")?;
            conn.execute("INSERT INTO meta (key, value) VALUES (?1, ?2)", rusqlite::params![KEY_CHECK, sealed])?;
            Ok(())
        }
    }
}

fn instance_id(conn: &Connection) -> Result<String> {
    let found: Option<Vec<u8>> = conn
        .query_row(
            "SELECT value FROM meta WHERE key = 'instance_id'",
            [],
            |r| r.get(0),
        )
        .optional()?;
    if let Some(v) = found {
        return Ok(String::from_utf8_lossy(&v).into_owned());
    }
    let id = crate::crypto::new_token()?[4..16].to_string();
    conn.execute(
        "INSERT INTO meta (key, value) VALUES ('instance_id', ?1)",
        [id.as_bytes()],
    )?;
    Ok(id)
}

/// Seconds since the Unix epoch.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Maps a UNIQUE violation to a `Conflict` with the caller's message.
fn unique_conflict(e: rusqlite::Error, msg: impl FnOnce() -> String) -> Error {
    match &e {
        rusqlite::Error::SqliteFailure(f, _)
            if f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
                || f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY =>
        {
            Error::Conflict(msg())
        }
        _ => e.into(),
    }
}

#[cfg(test)]
pub(crate) fn test_store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().expect("tempdir");
    let cipher = Cipher::from_bytes(&[3u8; 32]).expect("key");
    let store = Store::open(&dir.path().join("test.db"), cipher).expect("open");
    (dir, store)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reopen_with_another_key_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("k.db");
        drop(Store::open(&path, Cipher::from_bytes(&[1u8; 32]).expect("key")).expect("first open"));
        let err = match Store::open(&path, Cipher::from_bytes(&[2u8; 32]).expect("key")) {
            Err(e) => e.to_string(),
            Ok(_) => panic!("a wrong key must be refused"),
        };
        assert!(err.contains("does not match"), "{err}");
        assert!(Store::open(&path, Cipher::from_bytes(&[1u8; 32]).expect("key")).is_ok());
    }

    #[test]
    fn failed_write_changes_nothing() {
        let (_d, store) = test_store();
        let r: Result<()> = store.write_sync(|db| {
            db.create_user("a@example.com", false, 1)?;
            Err(Error::Invalid("stop".into()))
        });
        assert!(r.is_err());
        assert!(
            store
                .read_sync(|db| db.user_by_email("a@example.com"))
                .expect("read")
                .is_none()
        );
    }
}

#[cfg(test)]
mod migration_tests {
    #[test]
    fn every_migration_file_is_listed() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/store/migrations");
        let mut files: Vec<String> = std::fs::read_dir(&dir)
            .expect("migrations dir")
            .filter_map(|e| {
                e.ok()?
                    .file_name()
                    .to_str()?
                    .strip_suffix(".sql")
                    .map(str::to_string)
            })
            .collect();
        files.sort();
        let listed: Vec<String> = super::MIGRATIONS
            .iter()
            .map(|(n, _)| n.to_string())
            .collect();
        assert_eq!(
            files, listed,
            "every file in src/store/migrations must be in MIGRATIONS, in order"
        );
    }
}
