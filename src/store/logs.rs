//! The log store: app and platform log lines in their own SQLite file
//! (`logs.db` beside the main database), so heavy log traffic never holds the
//! main database's lock and the two can be backed up or dropped apart.
//!
//! Lines are indexed by app and time. Per app the store keeps a running total
//! of line bytes, so the size cap needs no scan. Per Swarm task it keeps a
//! cursor: the newest line's time, so a restarted daemon resumes each task's
//! log where it stopped, and whether the task's log was read to its end.

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

use crate::error::{Error, Result};

const SCHEMA: &[&str] = &["
CREATE TABLE lines (
    id       INTEGER PRIMARY KEY,
    app      TEXT NOT NULL,
    ts       INTEGER NOT NULL,           -- nanoseconds since the epoch
    source   TEXT NOT NULL,              -- app | skypanel
    process  TEXT NOT NULL,              -- web.1, worker.2 | deploy, router, health
    release  INTEGER,
    line     TEXT NOT NULL
);
CREATE INDEX lines_app_ts ON lines(app, ts);
CREATE TABLE app_bytes (
    app   TEXT PRIMARY KEY,
    bytes INTEGER NOT NULL
);
CREATE TABLE cursors (
    task  TEXT PRIMARY KEY,
    ts    INTEGER NOT NULL,
    done  INTEGER NOT NULL DEFAULT 0,
    seen  INTEGER NOT NULL               -- seconds; forgotten after the retention window
);
-- Positions of readers that must not miss a line (the Loki sink, by endpoint).
CREATE TABLE positions (
    name TEXT PRIMARY KEY,
    id   INTEGER NOT NULL
);
"];

/// One line as stored.
#[derive(Clone, Debug, PartialEq)]
pub struct LogLine {
    pub id: i64,
    pub app: String,
    pub ts: i64,
    pub source: String,
    pub process: String,
    pub release: Option<i64>,
    pub line: String,
}

/// A line to store; `task` (app lines) moves that task's cursor.
#[derive(Clone, Debug)]
pub struct NewLine {
    pub app: String,
    pub ts: i64,
    pub source: &'static str,
    pub process: String,
    pub release: Option<i64>,
    pub line: String,
    pub task: Option<String>,
}

/// Which lines `query` returns: the newest `limit` that match, oldest first.
#[derive(Clone, Debug, Default)]
pub struct LogQuery {
    pub app: String,
    pub limit: i64,
    /// Lines at or after this time (ns).
    pub since: Option<i64>,
    /// A process type (`web`: every web.N) or a platform process (`router`).
    pub process: Option<String>,
    pub source: Option<String>,
    pub release: Option<i64>,
    /// Only lines with an id up to this (a tail's history ends where its live part starts).
    pub max_id: Option<i64>,
}

/// What one retention run removed.
#[derive(Debug, Default, PartialEq)]
pub struct Pruned {
    pub by_age: u64,
    pub by_size: u64,
}

fn line_row(r: &rusqlite::Row) -> rusqlite::Result<LogLine> {
    Ok(LogLine {
        id: r.get(0)?,
        app: r.get(1)?,
        ts: r.get(2)?,
        source: r.get(3)?,
        process: r.get(4)?,
        release: r.get(5)?,
        line: r.get(6)?,
    })
}

pub struct LogDb {
    conn: Connection,
}

impl LogDb {
    pub fn open(path: &Path) -> Result<LogDb> {
        let mut conn = Connection::open(path).map_err(|e| {
            Error::Internal(format!("cannot open the log store {}: {e}", path.display()))
        })?;
        conn.busy_timeout(Duration::from_secs(10))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        let current: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
        let current = usize::try_from(current).unwrap_or(usize::MAX);
        if current > SCHEMA.len() {
            return Err(Error::Internal(format!(
                "the log store {} is at schema version {current}, newer than this skypanel knows: \
                 install the newer skypanel binary",
                path.display()
            )));
        }
        for (i, sql) in SCHEMA.iter().enumerate().skip(current) {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            tx.execute_batch(sql)?;
            tx.pragma_update(None, "user_version", (i + 1) as i64)?;
            tx.commit()?;
        }
        Ok(LogDb { conn })
    }

    /// Stores `lines` in one transaction and returns their ids, in order.
    pub fn insert(&mut self, lines: &[NewLine]) -> Result<Vec<i64>> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut ids = Vec::with_capacity(lines.len());
        let mut bytes: HashMap<&str, i64> = HashMap::new();
        let mut cursors: HashMap<&str, i64> = HashMap::new();
        {
            let mut ins = tx.prepare_cached(
                "INSERT INTO lines (app, ts, source, process, release, line) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?;
            for l in lines {
                ins.execute(params![l.app, l.ts, l.source, l.process, l.release, l.line])?;
                ids.push(tx.last_insert_rowid());
                *bytes.entry(&l.app).or_default() += l.line.len() as i64;
                if let Some(t) = &l.task {
                    let c = cursors.entry(t).or_insert(l.ts);
                    *c = (*c).max(l.ts);
                }
            }
            let mut add = tx.prepare_cached(
                "INSERT INTO app_bytes (app, bytes) VALUES (?1, ?2)
                 ON CONFLICT(app) DO UPDATE SET bytes = bytes + excluded.bytes",
            )?;
            for (app, n) in bytes {
                add.execute(params![app, n])?;
            }
            let mut cur = tx.prepare_cached(
                "INSERT INTO cursors (task, ts, seen) VALUES (?1, ?2, ?3)
                 ON CONFLICT(task) DO UPDATE SET ts = max(ts, excluded.ts), seen = excluded.seen",
            )?;
            for (task, ts) in cursors {
                cur.execute(params![task, ts, super::now()])?;
            }
        }
        tx.commit()?;
        Ok(ids)
    }

    /// The newest `q.limit` matching lines, oldest first.
    pub fn query(&self, q: &LogQuery) -> Result<Vec<LogLine>> {
        let mut sql = String::from(
            "SELECT id, app, ts, source, process, release, line FROM lines WHERE app = ?1",
        );
        let mut args: Vec<rusqlite::types::Value> = vec![q.app.clone().into()];
        let mut arg = |sql: &mut String, cond: &str, v: rusqlite::types::Value| {
            args.push(v);
            sql.push_str(&cond.replace('?', &format!("?{}", args.len())));
        };
        if let Some(s) = q.since {
            arg(&mut sql, " AND ts >= ?", s.into());
        }
        if let Some(p) = &q.process {
            if p.contains('.') {
                arg(&mut sql, " AND process = ?", p.clone().into());
            } else {
                arg(&mut sql, " AND (process = ?", p.clone().into());
                arg(&mut sql, " OR process LIKE ?)", format!("{p}.%").into());
            }
        }
        if let Some(s) = &q.source {
            arg(&mut sql, " AND source = ?", s.clone().into());
        }
        if let Some(r) = q.release {
            arg(&mut sql, " AND release = ?", r.into());
        }
        if let Some(m) = q.max_id {
            arg(&mut sql, " AND id <= ?", m.into());
        }
        arg(
            &mut sql,
            " ORDER BY ts DESC, id DESC LIMIT ?",
            q.limit.max(0).into(),
        );
        let mut st = self.conn.prepare(&sql)?;
        let mut out = st
            .query_map(rusqlite::params_from_iter(args), line_row)?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        out.reverse();
        Ok(out)
    }

    /// Up to `limit` lines stored after id `after`, in id order.
    pub fn lines_after(&self, after: i64, limit: i64) -> Result<Vec<LogLine>> {
        let mut st = self.conn.prepare_cached(
            "SELECT id, app, ts, source, process, release, line FROM lines WHERE id > ?1 ORDER BY id LIMIT ?2",
        )?;
        let out = st
            .query_map(params![after, limit], line_row)?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(out)
    }

    pub fn position(&self, name: &str) -> Result<Option<i64>> {
        Ok(self
            .conn
            .query_row("SELECT id FROM positions WHERE name = ?1", [name], |r| {
                r.get(0)
            })
            .optional()?)
    }

    pub fn set_position(&self, name: &str, id: i64) -> Result<()> {
        self.conn.execute(
            "INSERT INTO positions (name, id) VALUES (?1, ?2) ON CONFLICT(name) DO UPDATE SET id = excluded.id",
            params![name, id],
        )?;
        Ok(())
    }

    /// The newest line id (0 when empty).
    pub fn last_id(&self) -> Result<i64> {
        Ok(self
            .conn
            .query_row("SELECT coalesce(max(id), 0) FROM lines", [], |r| r.get(0))?)
    }

    /// Every task cursor: task → (newest line time, read to its end).
    pub fn cursors(&self) -> Result<HashMap<String, (i64, bool)>> {
        let mut st = self.conn.prepare("SELECT task, ts, done FROM cursors")?;
        let out = st
            .query_map([], |r| {
                Ok((r.get(0)?, (r.get(1)?, r.get::<_, i64>(2)? != 0)))
            })?
            .collect::<rusqlite::Result<HashMap<_, _>>>()?;
        Ok(out)
    }

    /// Records that `task`'s log was read to its end.
    pub fn task_done(&mut self, task: &str) -> Result<()> {
        self.conn.execute(
            "INSERT INTO cursors (task, ts, done, seen) VALUES (?1, 0, 1, ?2)
             ON CONFLICT(task) DO UPDATE SET done = 1, seen = excluded.seen",
            params![task, super::now()],
        )?;
        Ok(())
    }

    /// Bytes of line text stored per app.
    pub fn app_bytes(&self) -> Result<HashMap<String, i64>> {
        let mut st = self.conn.prepare("SELECT app, bytes FROM app_bytes")?;
        let out = st
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<rusqlite::Result<HashMap<_, _>>>()?;
        Ok(out)
    }

    /// Removes every line of `app` (the app was destroyed).
    pub fn delete_app(&mut self, app: &str) -> Result<u64> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let n = tx.execute("DELETE FROM lines WHERE app = ?1", [app])?;
        tx.execute("DELETE FROM app_bytes WHERE app = ?1", [app])?;
        tx.commit()?;
        Ok(n as u64)
    }

    /// Retention: lines older than `before` (ns) go, then per app the oldest
    /// lines until the app is within `max_bytes`. Cursors of tasks not seen
    /// for `cursor_secs` are forgotten.
    pub fn prune(&mut self, before: i64, max_bytes: i64, cursor_secs: i64) -> Result<Pruned> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let apps: Vec<String> = tx
            .prepare("SELECT app FROM app_bytes")?
            .query_map([], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        let mut out = Pruned::default();
        for app in apps {
            let (n, freed): (i64, i64) = tx.query_row(
                "SELECT count(*), coalesce(sum(length(CAST(line AS BLOB))), 0) FROM lines WHERE app = ?1 AND ts < ?2",
                params![app, before],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )?;
            if n > 0 {
                tx.execute(
                    "DELETE FROM lines WHERE app = ?1 AND ts < ?2",
                    params![app, before],
                )?;
                tx.execute(
                    "UPDATE app_bytes SET bytes = max(bytes - ?2, 0) WHERE app = ?1",
                    params![app, freed],
                )?;
                out.by_age += n as u64;
            }
            let bytes: i64 =
                tx.query_row("SELECT bytes FROM app_bytes WHERE app = ?1", [&app], |r| {
                    r.get(0)
                })?;
            if bytes > max_bytes {
                // Walk from the newest line back until the cap is reached;
                // everything older than that goes.
                let mut kept = 0i64;
                let mut cut: Option<(i64, i64)> = None;
                {
                    let mut st = tx.prepare(
                        "SELECT ts, id, length(CAST(line AS BLOB)) FROM lines WHERE app = ?1 ORDER BY ts DESC, id DESC",
                    )?;
                    let mut rows = st.query([&app])?;
                    while let Some(r) = rows.next()? {
                        let len: i64 = r.get(2)?;
                        if kept + len > max_bytes {
                            cut = Some((r.get(0)?, r.get(1)?));
                            break;
                        }
                        kept += len;
                    }
                }
                if let Some((ts, id)) = cut {
                    let n = tx.execute(
                        "DELETE FROM lines WHERE app = ?1 AND (ts < ?2 OR (ts = ?2 AND id <= ?3))",
                        params![app, ts, id],
                    )?;
                    out.by_size += n as u64;
                }
                tx.execute(
                    "UPDATE app_bytes SET bytes = ?2 WHERE app = ?1",
                    params![app, kept],
                )?;
            }
            let empty: Option<i64> = tx
                .query_row("SELECT 1 FROM lines WHERE app = ?1 LIMIT 1", [&app], |r| {
                    r.get(0)
                })
                .optional()?;
            if empty.is_none() {
                tx.execute("DELETE FROM app_bytes WHERE app = ?1", [&app])?;
            }
        }
        tx.execute(
            "DELETE FROM cursors WHERE seen < ?1",
            [super::now() - cursor_secs],
        )?;
        tx.commit()?;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(app: &str, ts: i64, process: &str, text: &str) -> NewLine {
        NewLine {
            app: app.into(),
            ts,
            source: "app",
            process: process.into(),
            release: Some(1),
            line: text.into(),
            task: Some(format!("task-{process}")),
        }
    }

    #[test]
    fn query_filters_and_orders_by_time() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut db = LogDb::open(&dir.path().join("logs.db")).expect("open");
        let ids = db
            .insert(&[
                line("shop", 30, "web.1", "third"),
                line("shop", 10, "web.2", "first"),
                line("shop", 20, "worker.1", "second"),
                line("blog", 15, "web.1", "other app"),
            ])
            .expect("insert");
        assert_eq!(ids.len(), 4);
        let q = |db: &LogDb, f: &dyn Fn(&mut LogQuery)| {
            let mut q = LogQuery {
                app: "shop".into(),
                limit: 100,
                ..Default::default()
            };
            f(&mut q);
            db.query(&q)
                .expect("query")
                .into_iter()
                .map(|l| l.line)
                .collect::<Vec<_>>()
        };
        assert_eq!(q(&db, &|_| {}), ["first", "second", "third"]);
        assert_eq!(q(&db, &|q| q.limit = 2), ["second", "third"]);
        assert_eq!(
            q(&db, &|q| q.process = Some("web".into())),
            ["first", "third"]
        );
        assert_eq!(q(&db, &|q| q.process = Some("web.2".into())), ["first"]);
        assert_eq!(q(&db, &|q| q.since = Some(20)), ["second", "third"]);
        assert_eq!(q(&db, &|q| q.release = Some(2)), Vec::<String>::new());
        assert_eq!(q(&db, &|q| q.max_id = Some(ids[1])), ["first", "third"]);
        let cursors = db.cursors().expect("cursors");
        assert_eq!(cursors.get("task-web.1"), Some(&(30, false)));
        db.task_done("task-web.1").expect("done");
        assert_eq!(
            db.cursors().expect("cursors").get("task-web.1"),
            Some(&(30, true))
        );
        assert_eq!(db.app_bytes().expect("bytes").get("shop"), Some(&16));
        assert_eq!(db.delete_app("shop").expect("delete"), 3);
        assert!(!db.app_bytes().expect("bytes").contains_key("shop"));
        assert_eq!(q(&db, &|_| {}), Vec::<String>::new());
    }

    #[test]
    fn prune_by_age_then_by_size_oldest_first() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut db = LogDb::open(&dir.path().join("logs.db")).expect("open");
        let lines: Vec<NewLine> = (0..10)
            .map(|i| line("shop", i * 10, "web.1", &format!("line-{i:03}")))
            .collect();
        db.insert(&lines).expect("insert");
        // 8 bytes a line: age removes ts < 30 (3 lines), size keeps 4 lines (32 bytes).
        let p = db.prune(30, 35, 3600).expect("prune");
        assert_eq!(
            p,
            Pruned {
                by_age: 3,
                by_size: 3
            }
        );
        let left: Vec<String> = db
            .query(&LogQuery {
                app: "shop".into(),
                limit: 100,
                ..Default::default()
            })
            .expect("query")
            .into_iter()
            .map(|l| l.line)
            .collect();
        assert_eq!(left, ["line-006", "line-007", "line-008", "line-009"]);
        assert_eq!(db.app_bytes().expect("bytes").get("shop"), Some(&32));
        // Within limits: nothing more goes.
        assert_eq!(db.prune(30, 35, 3600).expect("prune"), Pruned::default());
        // Everything old: the app's byte count goes with its last line.
        db.prune(i64::MAX, 35, 3600).expect("prune");
        assert!(db.app_bytes().expect("bytes").is_empty());
        // Reopening keeps the schema.
        drop(db);
        LogDb::open(&dir.path().join("logs.db")).expect("reopen");
    }
}
