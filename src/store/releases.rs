//! Releases: each is an image, a sealed snapshot of the app's config and the
//! process formation. At most one release of an app is `live`.

use std::collections::BTreeMap;

use rusqlite::{OptionalExtension, Row, params};

use super::{App, Db};
pub use crate::api::ReleaseStatus;
use crate::error::{Error, Result};

pub type Formation = BTreeMap<String, i64>;

/// How a release's processes run: the image, the command of each process
/// type that does not run the image's own, the release command run once
/// before the release takes traffic, and for buildpack releases the slug
/// (artifact key) and runner image, to rebuild the image if it was pruned.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Run {
    pub image: String,
    pub commands: BTreeMap<String, Vec<String>>,
    pub release_command: Option<Vec<String>>,
    pub slug: Option<String>,
    pub runner: Option<String>,
}

impl Run {
    pub fn image(image: &str) -> Run {
        Run {
            image: image.to_string(),
            ..Run::default()
        }
    }
}

#[derive(Clone, Debug, Default)]
pub struct Release {
    pub id: i64,
    pub app_id: i64,
    pub version: i64,
    /// The image (`run.image`) and how its processes run.
    pub run: Run,
    pub formation: Formation,
    pub status: ReleaseStatus,
    pub description: String,
    pub reason: Option<String>,
    pub created_by: Option<String>,
    pub created_at: i64,
    pub finished_at: Option<i64>,
}

/// What a new release is made of.
#[derive(Clone, Debug)]
pub struct NewRelease {
    pub run: Run,
    pub config: BTreeMap<String, String>,
    pub formation: Formation,
    pub description: String,
    /// Who made it (an email).
    pub by: String,
}

/// An app's deploy checks (app.json `healthchecks.web` later sets them too).
#[derive(Clone, Debug, PartialEq)]
pub struct Checks {
    pub enabled: bool,
    pub path: String,
    pub attempts: i64,
    pub timeout: i64,
    pub wait: i64,
}

const COLS: &str = "id, app_id, version, image, formation, status, description, reason, created_by, created_at, finished_at,
                    commands, release_command, slug, runner";

fn release(r: &Row) -> rusqlite::Result<Release> {
    let formation: String = r.get(4)?;
    let commands: String = r.get(11)?;
    let release_command: Option<String> = r.get(12)?;
    let run = Run {
        image: r.get(3)?,
        commands: serde_json::from_str(&commands).unwrap_or_default(),
        release_command: release_command.and_then(|c| serde_json::from_str(&c).ok()),
        slug: r.get(13)?,
        runner: r.get(14)?,
    };
    Ok(Release {
        id: r.get(0)?,
        app_id: r.get(1)?,
        version: r.get(2)?,
        run,
        formation: serde_json::from_str(&formation).unwrap_or_default(),
        status: super::status_col(r, 5, ReleaseStatus::parse)?,
        description: r.get(6)?,
        reason: r.get(7)?,
        created_by: r.get(8)?,
        created_at: r.get(9)?,
        finished_at: r.get(10)?,
    })
}

fn config_context(release_id: i64) -> String {
    format!("release:{release_id}:config")
}

fn json<T: serde::Serialize>(v: &T) -> Result<String> {
    serde_json::to_string(v).map_err(|e| Error::Internal(e.to_string()))
}

impl Db<'_> {
    pub fn formation(&self, app: &App) -> Result<Formation> {
        let f: String =
            self.conn
                .query_row("SELECT formation FROM apps WHERE id = ?1", [app.id], |r| {
                    r.get(0)
                })?;
        Ok(serde_json::from_str(&f).unwrap_or_default())
    }

    pub fn set_formation(&self, app: &App, f: &Formation) -> Result<()> {
        self.conn.execute(
            "UPDATE apps SET formation = ?1 WHERE id = ?2",
            params![json(f)?, app.id],
        )?;
        Ok(())
    }

    pub fn checks(&self, app: &App) -> Result<Checks> {
        Ok(self.conn.query_row(
            "SELECT checks_enabled, check_path, check_attempts, check_timeout, check_wait FROM apps WHERE id = ?1",
            [app.id],
            |r| Ok(Checks { enabled: r.get(0)?, path: r.get(1)?, attempts: r.get(2)?, timeout: r.get(3)?, wait: r.get(4)? }),
        )?)
    }

    pub fn set_checks(&self, app: &App, c: &Checks) -> Result<()> {
        self.conn.execute(
            "UPDATE apps SET checks_enabled = ?1, check_path = ?2, check_attempts = ?3, check_timeout = ?4,
                             check_wait = ?5 WHERE id = ?6",
            params![c.enabled, c.path, c.attempts, c.timeout, c.wait, app.id],
        )?;
        Ok(())
    }

    /// Creates vN+1 with its config sealed in it, status `pending`.
    pub fn create_release(&self, app: &App, new: &NewRelease, now: i64) -> Result<Release> {
        let version: i64 = self.conn.query_row(
            "SELECT coalesce(max(version), 0) + 1 FROM releases WHERE app_id = ?1",
            [app.id],
            |r| r.get(0),
        )?;
        self.conn.execute(
            "INSERT INTO releases (app_id, version, image, config_enc, formation, status, description, created_by,
                                   created_at, commands, release_command, slug, runner)
             VALUES (?1, ?2, ?3, x'', ?4, 'pending', ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
            params![
                app.id,
                version,
                new.run.image,
                json(&new.formation)?,
                new.description,
                new.by,
                now,
                json(&new.run.commands)?,
                new.run.release_command.as_ref().map(json).transpose()?,
                new.run.slug,
                new.run.runner
            ],
        )?;
        let id = self.conn.last_insert_rowid();
        let sealed = self
            .cipher
            .seal(&config_context(id), json(&new.config)?.as_bytes())?;
        self.conn.execute(
            "UPDATE releases SET config_enc = ?1 WHERE id = ?2",
            params![sealed, id],
        )?;
        self.release_by_id(id)?
            .ok_or_else(|| Error::Internal("the new release vanished".into()))
    }

    pub fn release_by_id(&self, id: i64) -> Result<Option<Release>> {
        Ok(self
            .conn
            .query_row(
                &format!("SELECT {COLS} FROM releases WHERE id = ?1"),
                [id],
                release,
            )
            .optional()?)
    }

    pub fn release(&self, app: &App, version: i64) -> Result<Release> {
        self.conn
            .query_row(
                &format!("SELECT {COLS} FROM releases WHERE app_id = ?1 AND version = ?2"),
                params![app.id, version],
                release,
            )
            .optional()?
            .ok_or_else(|| {
                Error::NotFound(format!(
                    "{} has no release v{version}: run `skypanel releases -a {}`",
                    app.name, app.name
                ))
            })
    }

    pub fn releases(&self, app: &App) -> Result<Vec<Release>> {
        let mut st = self.conn.prepare(&format!(
            "SELECT {COLS} FROM releases WHERE app_id = ?1 ORDER BY version DESC"
        ))?;
        let rows = st
            .query_map([app.id], release)?
            .collect::<rusqlite::Result<_>>()?;
        Ok(rows)
    }

    pub fn live_release(&self, app_id: i64) -> Result<Option<Release>> {
        Ok(self
            .conn
            .query_row(
                &format!("SELECT {COLS} FROM releases WHERE app_id = ?1 AND status = 'live'"),
                [app_id],
                release,
            )
            .optional()?)
    }

    /// Releases still being rolled out (for recovery after a crash).
    pub fn unfinished_releases(&self) -> Result<Vec<Release>> {
        let mut st = self.conn.prepare(&format!(
            "SELECT {COLS} FROM releases WHERE status IN ('pending', 'deploying') ORDER BY id"
        ))?;
        let rows = st
            .query_map([], release)?
            .collect::<rusqlite::Result<_>>()?;
        Ok(rows)
    }

    pub fn release_config(&self, r: &Release) -> Result<BTreeMap<String, String>> {
        let sealed: Vec<u8> = self.conn.query_row(
            "SELECT config_enc FROM releases WHERE id = ?1",
            [r.id],
            |x| x.get(0),
        )?;
        let text = self.cipher.open_string(&config_context(r.id), &sealed)?;
        serde_json::from_str(&text)
            .map_err(|e| Error::Internal(format!("release v{} config: {e}", r.version)))
    }

    pub fn mark_release(
        &self,
        id: i64,
        status: ReleaseStatus,
        reason: Option<&str>,
        now: i64,
    ) -> Result<()> {
        let finished = status.settled().then_some(now);
        self.conn.execute(
            "UPDATE releases SET status = ?1, reason = coalesce(?2, reason), finished_at = coalesce(?3, finished_at)
             WHERE id = ?4",
            params![status.as_str(), reason, finished, id],
        )?;
        Ok(())
    }

    /// Points a release at a rebuilt image (its old one was pruned).
    pub fn set_release_image(&self, id: i64, image: &str) -> Result<()> {
        self.conn.execute(
            "UPDATE releases SET image = ?1 WHERE id = ?2",
            params![image, id],
        )?;
        Ok(())
    }

    /// `max_deployments_per_hour`: refuses when the app's org started that
    /// many deployments (image deploys and pushes) in the last hour.
    pub fn check_deploy_limit(&self, app: &App, now: i64) -> Result<()> {
        let limit = self.setting_i64("max_deployments_per_hour")?;
        let used = self.deployments_since(app.org_id, now - 3600)?;
        if limit > 0 && used >= limit {
            return Err(Error::Conflict(format!(
                "organization {} started {used} deployments in the last hour, the most max_deployments_per_hour \
                 ({limit}) allows: wait and try again, or ask an admin to raise the limit",
                app.org
            )));
        }
        Ok(())
    }

    /// Releases created since `since` by image deploys, plus builds, in an org.
    fn deployments_since(&self, org_id: i64, since: i64) -> Result<i64> {
        Ok(self.conn.query_row(
            "SELECT (SELECT count(*) FROM releases r JOIN apps a ON a.id = r.app_id
                      WHERE a.org_id = ?1 AND r.created_at >= ?2 AND r.description LIKE 'Deploy %'
                        AND NOT EXISTS (SELECT 1 FROM builds x WHERE x.release_id = r.id))
                  + (SELECT count(*) FROM builds b JOIN apps a ON a.id = b.app_id
                      WHERE a.org_id = ?1 AND b.started_at >= ?2)",
            params![org_id, since],
            |r| r.get(0),
        )?)
    }

    /// Makes `r` the live release; the one live before it is superseded.
    pub fn promote_release(&self, r: &Release, now: i64) -> Result<Option<Release>> {
        let previous = self.live_release(r.app_id)?;
        if let Some(p) = &previous {
            self.mark_release(p.id, ReleaseStatus::Superseded, None, now)?;
        }
        self.mark_release(r.id, ReleaseStatus::Live, None, now)?;
        Ok(previous)
    }
}
