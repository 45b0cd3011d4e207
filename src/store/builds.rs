//! Builds (one per push to an app's deploy branch), the app's build
//! settings, and the buildpack caches kept in the artifact store.

use rusqlite::{OptionalExtension, Row, params};

use super::{App, Db};
pub use crate::api::BuildStatus;
use crate::error::{Error, Result, invalid};

#[derive(Clone, Debug)]
pub struct Build {
    pub id: i64,
    pub app_id: i64,
    pub number: i64,
    pub builder: String,
    pub commit: String,
    pub ref_name: String,
    pub status: BuildStatus,
    pub reason: Option<String>,
    /// The release version the build made, once it made one.
    pub release: Option<i64>,
    pub log_key: Option<String>,
    pub created_by: Option<String>,
    pub started_at: i64,
    pub finished_at: Option<i64>,
}

#[derive(Clone, Debug)]
pub struct BuildCache {
    pub id: i64,
    pub app_id: i64,
    pub key: String,
    pub artifact: String,
    pub size_bytes: i64,
    pub last_used_at: i64,
}

/// How an app is built: `auto`, `dockerfile` or `herokuish`.
pub const BUILDERS: &[&str] = &["auto", "dockerfile", "herokuish"];

const COLS: &str = "b.id, b.app_id, b.number, b.builder, b.commit_sha, b.ref_name, b.status, b.reason,
                    (SELECT version FROM releases r WHERE r.id = b.release_id), b.log_key, b.created_by,
                    b.started_at, b.finished_at";

fn build(r: &Row) -> rusqlite::Result<Build> {
    Ok(Build {
        id: r.get(0)?,
        app_id: r.get(1)?,
        number: r.get(2)?,
        builder: r.get(3)?,
        commit: r.get(4)?,
        ref_name: r.get(5)?,
        status: super::status_col(r, 6, BuildStatus::parse)?,
        reason: r.get(7)?,
        release: r.get(8)?,
        log_key: r.get(9)?,
        created_by: r.get(10)?,
        started_at: r.get(11)?,
        finished_at: r.get(12)?,
    })
}

fn cache(r: &Row) -> rusqlite::Result<BuildCache> {
    Ok(BuildCache {
        id: r.get(0)?,
        app_id: r.get(1)?,
        key: r.get(2)?,
        artifact: r.get(3)?,
        size_bytes: r.get(4)?,
        last_used_at: r.get(5)?,
    })
}

const CACHE_COLS: &str = "id, app_id, cache_key, artifact, size_bytes, last_used_at";

impl Db<'_> {
    /// `(builder, deploy_branch)` of an app.
    pub fn build_settings(&self, app: &App) -> Result<(String, Option<String>)> {
        Ok(self.conn.query_row(
            "SELECT builder, deploy_branch FROM apps WHERE id = ?1",
            [app.id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?)
    }

    pub fn set_builder(&self, app: &App, builder: &str) -> Result<()> {
        if !BUILDERS.contains(&builder) {
            return Err(invalid(format!(
                "unknown builder \"{}\": use one of {}",
                crate::validate::printable(builder),
                BUILDERS.join(", ")
            )));
        }
        self.conn.execute(
            "UPDATE apps SET builder = ?1 WHERE id = ?2",
            params![builder, app.id],
        )?;
        Ok(())
    }

    /// `None` goes back to the default (main or master).
    pub fn set_deploy_branch(&self, app: &App, branch: Option<&str>) -> Result<()> {
        if let Some(b) = branch {
            crate::validate::branch_name(b)?;
        }
        self.conn.execute(
            "UPDATE apps SET deploy_branch = ?1 WHERE id = ?2",
            params![branch, app.id],
        )?;
        Ok(())
    }

    pub fn create_build(
        &self,
        app: &App,
        builder: &str,
        commit: &str,
        ref_name: &str,
        by: &str,
        now: i64,
    ) -> Result<Build> {
        let number: i64 = self.conn.query_row(
            "SELECT coalesce(max(number), 0) + 1 FROM builds WHERE app_id = ?1",
            [app.id],
            |r| r.get(0),
        )?;
        self.conn.execute(
            "INSERT INTO builds (app_id, number, builder, commit_sha, ref_name, status, created_by, started_at)
             VALUES (?1, ?2, ?3, ?4, ?5, 'building', ?6, ?7)",
            params![app.id, number, builder, commit, ref_name, by, now],
        )?;
        self.build_by_id(self.conn.last_insert_rowid())?
            .ok_or_else(|| Error::Internal("the new build vanished".into()))
    }

    pub fn build_by_id(&self, id: i64) -> Result<Option<Build>> {
        Ok(self
            .conn
            .query_row(
                &format!("SELECT {COLS} FROM builds b WHERE b.id = ?1"),
                [id],
                build,
            )
            .optional()?)
    }

    /// The detected builder is known only after the build started.
    pub fn set_build_builder(&self, id: i64, builder: &str) -> Result<()> {
        self.conn.execute(
            "UPDATE builds SET builder = ?1 WHERE id = ?2",
            params![builder, id],
        )?;
        Ok(())
    }

    pub fn set_build_release(&self, id: i64, release_id: i64) -> Result<()> {
        self.conn.execute(
            "UPDATE builds SET release_id = ?1 WHERE id = ?2",
            params![release_id, id],
        )?;
        Ok(())
    }

    pub fn finish_build(
        &self,
        id: i64,
        status: BuildStatus,
        reason: Option<&str>,
        log_key: Option<&str>,
        now: i64,
    ) -> Result<()> {
        self.conn.execute(
            "UPDATE builds SET status = ?1, reason = ?2, log_key = coalesce(?3, log_key), finished_at = ?4
             WHERE id = ?5",
            params![status.as_str(), reason, log_key, now, id],
        )?;
        Ok(())
    }

    pub fn builds(&self, app: &App) -> Result<Vec<Build>> {
        let mut st = self.conn.prepare(&format!(
            "SELECT {COLS} FROM builds b WHERE b.app_id = ?1 ORDER BY b.number DESC"
        ))?;
        let rows = st
            .query_map([app.id], build)?
            .collect::<rusqlite::Result<_>>()?;
        Ok(rows)
    }

    /// Build `#N` (`number`), or the build that made release vN, or the latest.
    pub fn find_build(&self, app: &App, which: BuildRef) -> Result<Build> {
        let (sql, arg, what) = match which {
            BuildRef::Latest => (
                format!(
                    "SELECT {COLS} FROM builds b WHERE b.app_id = ?1 AND ?2 = 0 ORDER BY b.number DESC LIMIT 1"
                ),
                0,
                "no builds yet: push with `git push skypanel main`".to_string(),
            ),
            BuildRef::Number(n) => (
                format!("SELECT {COLS} FROM builds b WHERE b.app_id = ?1 AND b.number = ?2"),
                n,
                format!("no build #{n}: run `skypanel builds -a {}`", app.name),
            ),
            BuildRef::Release(v) => (
                format!(
                    "SELECT {COLS} FROM builds b JOIN releases r ON r.id = b.release_id
                     WHERE b.app_id = ?1 AND r.version = ?2"
                ),
                v,
                format!(
                    "no build made release v{v}: run `skypanel builds -a {}`",
                    app.name
                ),
            ),
        };
        self.conn
            .query_row(&sql, params![app.id, arg], build)
            .optional()?
            .ok_or_else(|| Error::NotFound(format!("{}: {what}", app.name)))
    }

    /// Builds left `building` by a daemon that stopped; they are failed.
    pub fn abandon_builds(&self, now: i64) -> Result<usize> {
        Ok(self.conn.execute(
            "UPDATE builds SET status = 'failed', reason = 'the daemon stopped during the build', finished_at = ?1
             WHERE status = 'building'",
            [now],
        )?)
    }

    pub fn build_cache(&self, app: &App, key: &str) -> Result<Option<BuildCache>> {
        Ok(self
            .conn
            .query_row(
                &format!(
                    "SELECT {CACHE_COLS} FROM build_caches WHERE app_id = ?1 AND cache_key = ?2"
                ),
                params![app.id, key],
                cache,
            )
            .optional()?)
    }

    pub fn touch_build_cache(&self, id: i64, now: i64) -> Result<()> {
        self.conn.execute(
            "UPDATE build_caches SET last_used_at = ?1 WHERE id = ?2",
            params![now, id],
        )?;
        Ok(())
    }

    /// Records a saved cache; returns the artifact it replaced, to delete.
    pub fn put_build_cache(
        &self,
        app: &App,
        key: &str,
        artifact: &str,
        size: i64,
        now: i64,
    ) -> Result<Option<String>> {
        let old = self.build_cache(app, key)?.map(|c| c.artifact);
        self.conn.execute(
            "INSERT INTO build_caches (app_id, cache_key, artifact, size_bytes, created_at, last_used_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?5)
             ON CONFLICT (app_id, cache_key) DO UPDATE SET artifact = ?3, size_bytes = ?4, created_at = ?5,
                                                           last_used_at = ?5",
            params![app.id, key, artifact, size, now],
        )?;
        Ok(old.filter(|o| o != artifact))
    }

    /// Every cache, least recently used first.
    pub fn build_caches_lru(&self) -> Result<Vec<BuildCache>> {
        let mut st = self.conn.prepare(&format!(
            "SELECT {CACHE_COLS} FROM build_caches ORDER BY last_used_at, id"
        ))?;
        let rows = st.query_map([], cache)?.collect::<rusqlite::Result<_>>()?;
        Ok(rows)
    }

    pub fn app_build_caches(&self, app: &App) -> Result<Vec<BuildCache>> {
        let mut st = self.conn.prepare(&format!(
            "SELECT {CACHE_COLS} FROM build_caches WHERE app_id = ?1 ORDER BY id"
        ))?;
        let rows = st
            .query_map([app.id], cache)?
            .collect::<rusqlite::Result<_>>()?;
        Ok(rows)
    }

    pub fn delete_build_cache(&self, id: i64) -> Result<()> {
        self.conn
            .execute("DELETE FROM build_caches WHERE id = ?1", [id])?;
        Ok(())
    }

    /// Every artifact key an app owns (slugs, caches, build logs), for
    /// deletion with the app.
    pub fn app_artifacts(&self, app: &App) -> Result<Vec<String>> {
        let mut st = self.conn.prepare(
            "SELECT artifact FROM build_caches WHERE app_id = ?1
             UNION SELECT log_key FROM builds WHERE app_id = ?1 AND log_key IS NOT NULL
             UNION SELECT slug FROM releases WHERE app_id = ?1 AND slug IS NOT NULL",
        )?;
        let rows = st
            .query_map([app.id], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        Ok(rows)
    }

    pub fn trash_artifact(&self, key: &str, now: i64) -> Result<()> {
        self.conn.execute(
            "INSERT OR IGNORE INTO artifact_trash (artifact, queued_at) VALUES (?1, ?2)",
            params![key, now],
        )?;
        Ok(())
    }

    pub fn artifact_trash(&self) -> Result<Vec<String>> {
        let mut st = self
            .conn
            .prepare("SELECT artifact FROM artifact_trash ORDER BY queued_at LIMIT 1000")?;
        let rows = st
            .query_map([], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        Ok(rows)
    }

    pub fn untrash_artifact(&self, key: &str) -> Result<()> {
        self.conn
            .execute("DELETE FROM artifact_trash WHERE artifact = ?1", [key])?;
        Ok(())
    }
}

/// Which build `builds:output` means.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum BuildRef {
    Latest,
    Number(i64),
    Release(i64),
}

impl BuildRef {
    /// `3` or `#3` is build number 3, `v3` the build that made release v3.
    pub fn parse(s: &str) -> Result<BuildRef> {
        let bad = || {
            invalid(format!(
                "\"{}\" names no build: give a build number like 3 (or #3), or a release like v3",
                crate::validate::printable(s)
            ))
        };
        let s = s.trim();
        if s.is_empty() {
            return Ok(BuildRef::Latest);
        }
        let (release, digits) = match s.strip_prefix(['v', 'V']) {
            Some(d) => (true, d),
            None => (false, s.strip_prefix('#').unwrap_or(s)),
        };
        let n: i64 = digits.parse().map_err(|_| bad())?;
        if n < 1 {
            return Err(bad());
        }
        Ok(if release {
            BuildRef::Release(n)
        } else {
            BuildRef::Number(n)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::BuildRef;

    #[test]
    fn build_references() {
        assert_eq!(BuildRef::parse("").expect("latest"), BuildRef::Latest);
        assert_eq!(BuildRef::parse("3").expect("n"), BuildRef::Number(3));
        assert_eq!(BuildRef::parse("#12").expect("n"), BuildRef::Number(12));
        assert_eq!(BuildRef::parse("v3").expect("v"), BuildRef::Release(3));
        for bad in ["v", "x1", "0", "-2", "v0", "1.5"] {
            assert!(BuildRef::parse(bad).is_err(), "{bad}");
        }
    }
}
