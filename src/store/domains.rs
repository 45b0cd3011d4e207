//! Custom domains and maintenance mode: what the router routes by.

use rusqlite::params;

use super::{App, Db, unique_conflict};
use crate::error::{Error, Result, invalid};

#[derive(Clone, Debug)]
pub struct Domain {
    pub hostname: String,
    pub app: String,
    pub created_at: i64,
}

/// One app as the router sees it.
#[derive(Clone, Debug)]
pub struct RouteEntry {
    pub app_id: i64,
    pub app: String,
    pub maintenance: bool,
    /// The app's org is suspended (billing).
    pub suspended: bool,
    pub https_redirect: bool,
    /// The version of the live release, if any.
    pub live: Option<i64>,
    pub domains: Vec<String>,
}

impl Db<'_> {
    pub fn domains(&self, app: &App) -> Result<Vec<Domain>> {
        let mut st = self.conn.prepare(
            "SELECT d.hostname, a.name, d.created_at FROM domains d JOIN apps a ON a.id = d.app_id
             WHERE d.app_id = ?1 ORDER BY d.hostname",
        )?;
        let rows = st
            .query_map([app.id], |r| {
                Ok(Domain {
                    hostname: r.get(0)?,
                    app: r.get(1)?,
                    created_at: r.get(2)?,
                })
            })?
            .collect::<rusqlite::Result<_>>()?;
        Ok(rows)
    }

    /// Adds a custom domain. It must be a valid lowercase hostname, not
    /// taken by another app, and not another app's default hostname.
    pub fn add_domain(&self, app: &App, hostname: &str, now: i64) -> Result<Domain> {
        if !crate::validate::domain(hostname) || !hostname.contains('.') {
            return Err(invalid(format!(
                "\"{}\" is not a domain name: give a lowercase hostname like shop.example.com",
                crate::validate::printable(hostname)
            )));
        }
        let default = self.setting("default_domain")?;
        if let Some(label) = hostname.strip_suffix(&format!(".{default}")) {
            if !label.contains('.') && label != app.name && self.app_by_name(label)?.is_some() {
                return Err(Error::Conflict(format!(
                    "{hostname} is the default hostname of another app: choose another domain"
                )));
            }
        }
        if hostname == format!("{}.{default}", app.name) {
            return Err(Error::Conflict(format!(
                "{hostname} is already {}'s default hostname: nothing to add",
                app.name
            )));
        }
        self.conn
            .execute(
                "INSERT INTO domains (app_id, hostname, created_at) VALUES (?1, ?2, ?3)",
                params![app.id, hostname, now],
            )
            .map_err(|e| {
                unique_conflict(e, || {
                    format!(
                        "{hostname} already belongs to an app: a domain can point at one app only"
                    )
                })
            })?;
        Ok(Domain {
            hostname: hostname.to_string(),
            app: app.name.clone(),
            created_at: now,
        })
    }

    pub fn remove_domain(&self, app: &App, hostname: &str) -> Result<()> {
        let n = self.conn.execute(
            "DELETE FROM domains WHERE app_id = ?1 AND hostname = ?2",
            params![app.id, hostname],
        )?;
        if n == 0 {
            return Err(Error::NotFound(format!(
                "{} has no domain \"{}\": run `skypanel domains -a {}`",
                app.name,
                crate::validate::printable(hostname),
                app.name
            )));
        }
        Ok(())
    }

    pub fn maintenance(&self, app: &App) -> Result<bool> {
        Ok(self.conn.query_row(
            "SELECT maintenance FROM apps WHERE id = ?1",
            [app.id],
            |r| r.get(0),
        )?)
    }

    pub fn set_maintenance(&self, app: &App, on: bool) -> Result<()> {
        self.conn.execute(
            "UPDATE apps SET maintenance = ?1 WHERE id = ?2",
            params![on, app.id],
        )?;
        Ok(())
    }

    /// Every app with its live version, maintenance flag and domains.
    pub fn route_entries(&self) -> Result<Vec<RouteEntry>> {
        let mut st = self.conn.prepare(
            "SELECT a.id, a.name, a.maintenance, a.https_redirect,
                    (SELECT version FROM releases r WHERE r.app_id = a.id AND r.status = 'live'),
                    o.suspended_at IS NOT NULL
             FROM apps a JOIN orgs o ON o.id = a.org_id ORDER BY a.id",
        )?;
        let mut entries: Vec<RouteEntry> = st
            .query_map([], |r| {
                Ok(RouteEntry {
                    app_id: r.get(0)?,
                    app: r.get(1)?,
                    maintenance: r.get(2)?,
                    https_redirect: r.get(3)?,
                    live: r.get(4)?,
                    suspended: r.get(5)?,
                    domains: Vec::new(),
                })
            })?
            .collect::<rusqlite::Result<_>>()?;
        let mut st = self
            .conn
            .prepare("SELECT app_id, hostname FROM domains ORDER BY app_id")?;
        let pairs: Vec<(i64, String)> = st
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<rusqlite::Result<_>>()?;
        let index: std::collections::HashMap<i64, usize> = entries
            .iter()
            .enumerate()
            .map(|(i, e)| (e.app_id, i))
            .collect();
        for (app_id, host) in pairs {
            if let Some(i) = index.get(&app_id) {
                entries[*i].domains.push(host);
            }
        }
        Ok(entries)
    }
}
