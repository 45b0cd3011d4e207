//! Nodes and events.

use rusqlite::{OptionalExtension, Row, params};

use super::{App, Db};
use crate::error::Result;

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Node {
    pub id: String,
    pub hostname: String,
    pub role: String,
    pub status: String,
    pub availability: String,
    pub addr: String,
    pub engine: String,
    pub cpus_nano: i64,
    pub memory_bytes: i64,
    pub reserved_nano: i64,
    pub reserved_bytes: i64,
    pub tasks: i64,
    pub first_seen: i64,
    pub last_heartbeat: i64,
}

#[derive(Clone, Debug)]
pub struct Event {
    pub id: i64,
    pub at: i64,
    pub level: String,
    pub kind: String,
    pub app: Option<String>,
    pub node: Option<String>,
    pub message: String,
}

const NODE_COLS: &str =
    "id, hostname, role, status, availability, addr, engine, cpus_nano, memory_bytes,
    reserved_nano, reserved_bytes, tasks, first_seen, last_heartbeat";

fn node(r: &Row) -> rusqlite::Result<Node> {
    Ok(Node {
        id: r.get(0)?,
        hostname: r.get(1)?,
        role: r.get(2)?,
        status: r.get(3)?,
        availability: r.get(4)?,
        addr: r.get(5)?,
        engine: r.get(6)?,
        cpus_nano: r.get(7)?,
        memory_bytes: r.get(8)?,
        reserved_nano: r.get(9)?,
        reserved_bytes: r.get(10)?,
        tasks: r.get(11)?,
        first_seen: r.get(12)?,
        last_heartbeat: r.get(13)?,
    })
}

impl Db<'_> {
    pub fn nodes(&self) -> Result<Vec<Node>> {
        let mut st = self.conn.prepare(&format!(
            "SELECT {NODE_COLS} FROM nodes ORDER BY role DESC, hostname"
        ))?;
        let rows = st.query_map([], node)?.collect::<rusqlite::Result<_>>()?;
        Ok(rows)
    }

    /// A node by id, id prefix (12+ characters) or hostname.
    pub fn node(&self, key: &str) -> Result<Option<Node>> {
        Ok(self
            .conn
            .query_row(
                &format!(
                    "SELECT {NODE_COLS} FROM nodes WHERE id = ?1 OR hostname = ?1 OR (length(?1) >= 12 AND id LIKE ?1 || '%')
                     ORDER BY id = ?1 DESC LIMIT 1"
                ),
                [key],
                node,
            )
            .optional()?)
    }

    /// Stores what the monitor saw; returns the previous record.
    pub fn upsert_node(&self, n: &Node) -> Result<Option<Node>> {
        let before = self
            .conn
            .query_row(
                &format!("SELECT {NODE_COLS} FROM nodes WHERE id = ?1"),
                [&n.id],
                node,
            )
            .optional()?;
        self.conn.execute(
            &format!(
                "INSERT INTO nodes ({NODE_COLS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)
                 ON CONFLICT (id) DO UPDATE SET hostname = ?2, role = ?3, status = ?4, availability = ?5, addr = ?6,
                   engine = ?7, cpus_nano = ?8, memory_bytes = ?9, reserved_nano = ?10, reserved_bytes = ?11,
                   tasks = ?12, last_heartbeat = ?14"
            ),
            params![
                n.id, n.hostname, n.role, n.status, n.availability, n.addr, n.engine, n.cpus_nano, n.memory_bytes,
                n.reserved_nano, n.reserved_bytes, n.tasks, n.first_seen, n.last_heartbeat
            ],
        )?;
        Ok(before)
    }

    pub fn delete_node(&self, id: &str) -> Result<()> {
        self.conn.execute("DELETE FROM nodes WHERE id = ?1", [id])?;
        Ok(())
    }

    pub fn add_event(
        &self,
        level: &str,
        kind: &str,
        app: Option<&str>,
        node: Option<&str>,
        message: &str,
        now: i64,
    ) -> Result<i64> {
        self.conn.execute(
            "INSERT INTO events (at, level, kind, app, node, message) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![now, level, kind, app, node, message],
        )?;
        Ok(self.conn.last_insert_rowid())
    }

    pub fn events(&self, limit: i64) -> Result<Vec<Event>> {
        let mut st = self.conn.prepare(
            "SELECT id, at, level, kind, app, node, message FROM events ORDER BY id DESC LIMIT ?1",
        )?;
        let rows = st
            .query_map([limit], |r| {
                Ok(Event {
                    id: r.get(0)?,
                    at: r.get(1)?,
                    level: r.get(2)?,
                    kind: r.get(3)?,
                    app: r.get(4)?,
                    node: r.get(5)?,
                    message: r.get(6)?,
                })
            })?
            .collect::<rusqlite::Result<_>>()?;
        Ok(rows)
    }

    /// Whether the app should run no tasks: stopped by its users, or its
    /// org is suspended (billing).
    pub fn stopped(&self, app: &App) -> Result<bool> {
        Ok(self.conn.query_row(
            "SELECT a.stopped OR o.suspended_at IS NOT NULL FROM apps a JOIN orgs o ON o.id = a.org_id WHERE a.id = ?1",
            [app.id],
            |r| r.get(0),
        )?)
    }

    /// Whether the app's users stopped it (`ps:stop`).
    pub fn user_stopped(&self, app: &App) -> Result<bool> {
        Ok(self
            .conn
            .query_row("SELECT stopped FROM apps WHERE id = ?1", [app.id], |r| {
                r.get(0)
            })?)
    }

    pub fn set_stopped(&self, app: &App, stopped: bool) -> Result<()> {
        self.conn.execute(
            "UPDATE apps SET stopped = ?1 WHERE id = ?2",
            params![stopped, app.id],
        )?;
        Ok(())
    }

    /// Jobs left `running` by a daemon that is gone: at start, none of them can
    /// still be running, so they are queued again at once (their attempt counts).
    pub fn release_dead_leases(&self, now: i64) -> Result<usize> {
        Ok(self.conn.execute(
            "UPDATE jobs SET status = 'queued', lease_until = NULL, locked_by = NULL, run_at = ?1, updated_at = ?1
             WHERE status = 'running' AND attempts < max_attempts",
            [now],
        )? + self.conn.execute(
            "UPDATE jobs SET status = 'failed', lease_until = NULL, updated_at = ?1,
                    last_error = 'the daemon stopped during the last attempt'
             WHERE status = 'running'",
            [now],
        )?)
    }
}

/// Build duration histogram bounds (seconds) for `/metrics`.
pub const BUILD_BUCKETS: &[i64] = &[10, 30, 60, 120, 300, 600, 1200, 1800];

/// What `/metrics` shows from the database.
#[derive(Clone, Debug, Default)]
pub struct Figures {
    /// (status, count): running, stopped, idle (never deployed).
    pub apps: Vec<(String, i64)>,
    /// (result, count) from the events: succeeded, failed.
    pub deployments: Vec<(String, i64)>,
    /// Cumulative counts per [`BUILD_BUCKETS`] bound, then sum and count, of finished builds.
    pub build_buckets: Vec<i64>,
    pub build_sum: i64,
    pub build_count: i64,
    /// (status, count) of jobs.
    pub jobs: Vec<(String, i64)>,
    pub nodes: Vec<Node>,
    /// (state, count) of webhook deliveries.
    pub deliveries: Vec<(String, i64)>,
}

fn pairs(db: &Db, sql: &str) -> Result<Vec<(String, i64)>> {
    let mut st = db.conn.prepare(sql)?;
    let rows = st
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    Ok(rows)
}

impl Db<'_> {
    pub fn figures(&self) -> Result<Figures> {
        let apps = pairs(
            self,
            "SELECT CASE WHEN a.stopped THEN 'stopped' \
                    WHEN EXISTS (SELECT 1 FROM releases r WHERE r.app_id = a.id AND r.status = 'live') THEN 'running' \
                    ELSE 'idle' END AS s, COUNT(*) FROM apps a GROUP BY s",
        )?;
        let deployments = pairs(
            self,
            "SELECT CASE kind WHEN 'deploy' THEN 'succeeded' ELSE 'failed' END, COUNT(*) \
             FROM events WHERE kind IN ('deploy', 'deploy_failed') GROUP BY kind",
        )?;
        let mut durations: Vec<i64> = {
            let mut st = self.conn.prepare(
                "SELECT finished_at - started_at FROM builds WHERE finished_at IS NOT NULL",
            )?;
            st.query_map([], |r| r.get(0))?
                .collect::<rusqlite::Result<_>>()?
        };
        durations.sort_unstable();
        let build_buckets = BUILD_BUCKETS
            .iter()
            .map(|b| durations.partition_point(|d| d <= b) as i64)
            .collect();
        let jobs = pairs(self, "SELECT status, COUNT(*) FROM jobs GROUP BY status")?;
        Ok(Figures {
            apps,
            deployments,
            build_buckets,
            build_sum: durations.iter().sum(),
            build_count: durations.len() as i64,
            jobs,
            nodes: self.nodes()?,
            deliveries: self.delivery_counts()?,
        })
    }
}
