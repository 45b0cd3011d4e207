//! Apps and their config vars. Config values are sealed per app and key.

use std::collections::BTreeMap;

use rusqlite::{OptionalExtension, Row, params};

use super::{Db, unique_conflict};
use crate::error::{Error, Result};

#[derive(Clone, Debug, Default)]
pub struct App {
    pub id: i64,
    pub name: String,
    pub org_id: i64,
    pub org: String,
    pub plan: String,
    pub created_at: i64,
    pub created_by: Option<String>,
    pub config_vars: i64,
}

/// One change to an app's config: `Some` sets, `None` unsets.
pub type ConfigChange = BTreeMap<String, Option<String>>;

const SELECT: &str = "SELECT a.id, a.name, a.org_id, o.name, p.name, a.created_at, u.email,
           (SELECT count(*) FROM config_vars c WHERE c.app_id = a.id)
    FROM apps a JOIN orgs o ON o.id = a.org_id JOIN plans p ON p.id = a.plan_id
    LEFT JOIN users u ON u.id = a.created_by";

fn app(r: &Row) -> rusqlite::Result<App> {
    Ok(App {
        id: r.get(0)?,
        name: r.get(1)?,
        org_id: r.get(2)?,
        org: r.get(3)?,
        plan: r.get(4)?,
        created_at: r.get(5)?,
        created_by: r.get(6)?,
        config_vars: r.get(7)?,
    })
}

fn context(app_id: i64, key: &str) -> String {
    format!("config:{app_id}:{key}")
}

impl Db<'_> {
    /// Creates an app, enforcing `max_apps_per_org` in the same transaction.
    pub fn create_app(
        &self,
        name: &str,
        org_id: i64,
        plan_id: i64,
        user_id: i64,
        now: i64,
    ) -> Result<App> {
        crate::validate::app_name(name)?;
        let limit = self.setting_i64("max_apps_per_org")?;
        let count: i64 = self.conn.query_row(
            "SELECT count(*) FROM apps WHERE org_id = ?1",
            [org_id],
            |r| r.get(0),
        )?;
        if limit > 0 && count >= limit {
            return Err(Error::Conflict(format!(
                "this organization already has {count} apps, the most allowed (max_apps_per_org = {limit}): \
                 destroy an app or ask an admin to raise the limit"
            )));
        }
        self.conn
            .execute(
                "INSERT INTO apps (name, org_id, plan_id, created_by, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![name, org_id, plan_id, user_id, now],
            )
            .map_err(|e| unique_conflict(e, || format!("app name \"{name}\" is already taken: choose another name")))?;
        self.app_by_name(name)?
            .ok_or_else(|| Error::Internal("the new app vanished".into()))
    }

    pub fn app_by_name(&self, name: &str) -> Result<Option<App>> {
        Ok(self
            .conn
            .query_row(&format!("{SELECT} WHERE a.name = ?1"), [name], app)
            .optional()?)
    }

    /// Apps visible to a user (all apps for `None`), optionally of one org.
    pub fn apps_visible(&self, user_id: Option<i64>, org_id: Option<i64>) -> Result<Vec<App>> {
        let mut st = self.conn.prepare_cached(&format!(
            "{SELECT} WHERE (?1 IS NULL OR a.org_id IN (SELECT org_id FROM memberships WHERE user_id = ?1))
               AND (?2 IS NULL OR a.org_id = ?2)
             ORDER BY a.name"
        ))?;
        let rows = st
            .query_map(params![user_id, org_id], app)?
            .collect::<rusqlite::Result<_>>()?;
        Ok(rows)
    }

    pub fn destroy_app(&self, app: &App) -> Result<()> {
        self.conn
            .execute("DELETE FROM apps WHERE id = ?1", [app.id])?;
        Ok(())
    }

    pub fn config(&self, app: &App) -> Result<BTreeMap<String, String>> {
        let mut st = self
            .conn
            .prepare("SELECT key, value_enc FROM config_vars WHERE app_id = ?1")?;
        let rows = st
            .query_map([app.id], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, Vec<u8>>(1)?))
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        rows.into_iter()
            .map(|(k, sealed)| {
                let v = self.cipher.open_string(&context(app.id, &k), &sealed)?;
                Ok((k, v))
            })
            .collect()
    }

    /// Applies a change as a whole: every key and value is checked first, and
    /// unsetting a key that is not set is an error.
    pub fn update_config(&self, app: &App, change: &ConfigChange, now: i64) -> Result<()> {
        if change.is_empty() {
            return Err(Error::Invalid(
                "no config vars given: use KEY=VALUE to set or KEY to unset".into(),
            ));
        }
        let current = self.config(app)?;
        for (k, v) in change {
            crate::validate::config_key(k)?;
            match v {
                Some(v) => crate::validate::config_value(k, v)?,
                None if !current.contains_key(k) => {
                    return Err(Error::NotFound(format!(
                        "config var {k} is not set on {}: run `skypanel config -a {}` to list them",
                        app.name, app.name
                    )));
                }
                None => {}
            }
        }
        for (k, v) in change {
            match v {
                Some(v) => {
                    let sealed = self.cipher.seal(&context(app.id, k), v.as_bytes())?;
                    self.conn.execute(
                        "INSERT INTO config_vars (app_id, key, value_enc, updated_at) VALUES (?1, ?2, ?3, ?4)
                         ON CONFLICT (app_id, key) DO UPDATE SET value_enc = ?3, updated_at = ?4",
                        params![app.id, k, sealed, now],
                    )?;
                }
                None => {
                    self.conn.execute(
                        "DELETE FROM config_vars WHERE app_id = ?1 AND key = ?2",
                        params![app.id, k],
                    )?;
                }
            }
        }
        Ok(())
    }
}

impl Db<'_> {
    pub fn app_by_id(&self, id: i64) -> Result<App> {
        self.conn
            .query_row(&format!("{SELECT} WHERE a.id = ?1"), [id], app)
            .optional()?
            .ok_or_else(|| Error::NotFound(format!("app {id} no longer exists")))
    }
}

impl Db<'_> {
    /// Makes the app's config exactly `config` (used by rollbacks).
    pub fn replace_config(
        &self,
        app: &App,
        config: &BTreeMap<String, String>,
        now: i64,
    ) -> Result<()> {
        self.conn
            .execute("DELETE FROM config_vars WHERE app_id = ?1", [app.id])?;
        for (k, v) in config {
            let sealed = self.cipher.seal(&context(app.id, k), v.as_bytes())?;
            self.conn.execute(
                "INSERT INTO config_vars (app_id, key, value_enc, updated_at) VALUES (?1, ?2, ?3, ?4)",
                params![app.id, k, sealed, now],
            )?;
        }
        Ok(())
    }
}
