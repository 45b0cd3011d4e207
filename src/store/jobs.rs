//! The `jobs` table: the daemon's durable work queue (DESIGN decision 2).
//!
//! A worker claims the oldest ready job inside an IMMEDIATE transaction and
//! holds a lease on it. A job whose lease runs out (its worker died) is claimed
//! again; a failed attempt is retried after an exponential backoff; a job that
//! has used all its attempts is marked `failed` with its last error. Times are
//! passed in, so tests drive the clock.

use rusqlite::{OptionalExtension, Row, params};

use super::Db;
use crate::error::{Error, Result};

#[derive(Clone, Debug)]
pub struct NewJob {
    pub kind: String,
    pub payload: serde_json::Value,
    pub max_attempts: u32,
    pub run_at: i64,
    /// At most one job per key exists; enqueueing a duplicate returns the first.
    pub dedupe_key: Option<String>,
}

impl NewJob {
    pub fn new(kind: &str, payload: serde_json::Value, now: i64) -> NewJob {
        NewJob {
            kind: kind.to_string(),
            payload,
            max_attempts: 3,
            run_at: now,
            dedupe_key: None,
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Job {
    pub id: i64,
    pub kind: String,
    pub payload: serde_json::Value,
    pub status: String,
    /// Attempts started so far, this one included.
    pub attempts: u32,
    pub max_attempts: u32,
    pub run_at: i64,
    pub lease_until: Option<i64>,
    pub locked_by: Option<String>,
    pub last_error: Option<String>,
}

/// Where a job stands after a failed attempt.
#[derive(Debug, PartialEq, Eq)]
pub enum JobState {
    Retrying { run_at: i64 },
    Failed,
}

const COLS: &str =
    "id, kind, payload, status, attempts, max_attempts, run_at, lease_until, locked_by, last_error";

fn job(r: &Row) -> rusqlite::Result<Job> {
    let payload: String = r.get(2)?;
    Ok(Job {
        id: r.get(0)?,
        kind: r.get(1)?,
        payload: serde_json::from_str(&payload).unwrap_or(serde_json::Value::Null),
        status: r.get(3)?,
        attempts: r.get(4)?,
        max_attempts: r.get(5)?,
        run_at: r.get(6)?,
        lease_until: r.get(7)?,
        locked_by: r.get(8)?,
        last_error: r.get(9)?,
    })
}

/// Seconds to wait before attempt `attempts + 1`: 2, 4, 8 … capped at 5 minutes.
pub fn backoff(attempts: u32) -> i64 {
    2i64.saturating_pow(attempts.clamp(1, 30)).min(300)
}

impl Db<'_> {
    pub fn enqueue(&self, j: &NewJob, now: i64) -> Result<i64> {
        if j.max_attempts == 0 {
            return Err(Error::Internal("a job needs at least one attempt".into()));
        }
        let inserted = self.conn.execute(
            "INSERT INTO jobs (kind, payload, status, max_attempts, run_at, dedupe_key, created_at, updated_at)
             VALUES (?1, ?2, 'queued', ?3, ?4, ?5, ?6, ?6)
             ON CONFLICT (dedupe_key) DO NOTHING",
            params![j.kind, j.payload.to_string(), j.max_attempts, j.run_at, j.dedupe_key, now],
        )?;
        if inserted == 0 {
            return Ok(self.conn.query_row(
                "SELECT id FROM jobs WHERE dedupe_key = ?1",
                [&j.dedupe_key],
                |r| r.get(0),
            )?);
        }
        Ok(self.conn.last_insert_rowid())
    }

    pub fn job(&self, id: i64) -> Result<Option<Job>> {
        Ok(self
            .conn
            .query_row(&format!("SELECT {COLS} FROM jobs WHERE id = ?1"), [id], job)
            .optional()?)
    }

    /// Claims the next ready job of one of `kinds` for `worker` until `now + lease`.
    /// Must run inside an IMMEDIATE transaction (`Store::write`). Jobs whose lease
    /// expired on their last attempt are marked failed on the way.
    pub fn claim(&self, kinds: &[&str], worker: &str, now: i64, lease: i64) -> Result<Option<Job>> {
        if kinds.is_empty() {
            return Ok(None);
        }
        let kinds_json =
            serde_json::to_string(kinds).map_err(|e| Error::Internal(e.to_string()))?;
        loop {
            let next = self
                .conn
                .query_row(
                    &format!(
                        "SELECT {COLS} FROM jobs
                         WHERE kind IN (SELECT value FROM json_each(?1))
                           AND ((status = 'queued' AND run_at <= ?2) OR (status = 'running' AND lease_until <= ?2))
                         ORDER BY run_at, id LIMIT 1"
                    ),
                    params![kinds_json, now],
                    job,
                )
                .optional()?;
            let Some(j) = next else { return Ok(None) };
            if j.status == "running" && j.attempts >= j.max_attempts {
                let err = format!(
                    "the worker running attempt {} of {} stopped without finishing (lease expired)",
                    j.attempts, j.max_attempts
                );
                self.conn.execute(
                    "UPDATE jobs SET status = 'failed', last_error = ?1, lease_until = NULL, updated_at = ?2 WHERE id = ?3",
                    params![err, now, j.id],
                )?;
                continue;
            }
            self.conn.execute(
                "UPDATE jobs SET status = 'running', attempts = attempts + 1, lease_until = ?1, locked_by = ?2,
                                 updated_at = ?3 WHERE id = ?4",
                params![now + lease, worker, now, j.id],
            )?;
            return self.job(j.id);
        }
    }

    fn held(&self, id: i64, worker: &str) -> Result<()> {
        let ok: Option<i64> = self
            .conn
            .query_row(
                "SELECT id FROM jobs WHERE id = ?1 AND status = 'running' AND locked_by = ?2",
                params![id, worker],
                |r| r.get(0),
            )
            .optional()?;
        ok.map(|_| ())
            .ok_or_else(|| Error::Conflict(format!("job {id} is no longer held by {worker}")))
    }

    pub fn extend_lease(&self, id: i64, worker: &str, now: i64, lease: i64) -> Result<()> {
        self.held(id, worker)?;
        self.conn.execute(
            "UPDATE jobs SET lease_until = ?1, updated_at = ?2 WHERE id = ?3",
            params![now + lease, now, id],
        )?;
        Ok(())
    }

    pub fn complete(&self, id: i64, worker: &str, now: i64) -> Result<()> {
        self.held(id, worker)?;
        self.conn.execute(
            "UPDATE jobs SET status = 'succeeded', lease_until = NULL, last_error = NULL, updated_at = ?1 WHERE id = ?2",
            params![now, id],
        )?;
        Ok(())
    }

    /// Records a failed attempt: retried after a backoff, or failed for good.
    pub fn fail(&self, id: i64, worker: &str, error: &str, now: i64) -> Result<JobState> {
        self.held(id, worker)?;
        let j = self
            .job(id)?
            .ok_or_else(|| Error::Internal(format!("job {id} vanished")))?;
        if j.attempts >= j.max_attempts {
            self.conn.execute(
                "UPDATE jobs SET status = 'failed', last_error = ?1, lease_until = NULL, updated_at = ?2 WHERE id = ?3",
                params![error, now, id],
            )?;
            return Ok(JobState::Failed);
        }
        let run_at = now + backoff(j.attempts);
        self.conn.execute(
            "UPDATE jobs SET status = 'queued', last_error = ?1, lease_until = NULL, locked_by = NULL, run_at = ?2,
                             updated_at = ?3 WHERE id = ?4",
            params![error, run_at, now, id],
        )?;
        Ok(JobState::Retrying { run_at })
    }

    /// Jobs waiting or running, for metrics and tests.
    pub fn jobs_pending(&self) -> Result<i64> {
        Ok(self.conn.query_row(
            "SELECT count(*) FROM jobs WHERE status IN ('queued', 'running')",
            [],
            |r| r.get(0),
        )?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::test_store;
    use serde_json::json;

    #[test]
    fn expired_lease_is_claimed_again() {
        let (_d, store) = test_store();
        let id = store
            .write_sync(|db| db.enqueue(&NewJob::new("build", json!({"app": "shop"}), 100), 100))
            .expect("enqueue");
        let a = store
            .write_sync(|db| db.claim(&["build"], "w1", 100, 30))
            .expect("claim")
            .expect("a job");
        assert_eq!(
            (a.id, a.attempts, a.locked_by.as_deref()),
            (id, 1, Some("w1"))
        );
        // Held: nobody else gets it before the lease ends.
        assert!(
            store
                .write_sync(|db| db.claim(&["build"], "w2", 129, 30))
                .expect("claim")
                .is_none()
        );
        // w1 died; the lease ran out.
        let b = store
            .write_sync(|db| db.claim(&["build"], "w2", 130, 30))
            .expect("claim")
            .expect("reclaimed");
        assert_eq!(
            (b.id, b.attempts, b.locked_by.as_deref()),
            (id, 2, Some("w2"))
        );
        // The dead worker can no longer finish it.
        assert!(store.write_sync(|db| db.complete(id, "w1", 131)).is_err());
        store
            .write_sync(|db| db.complete(id, "w2", 131))
            .expect("complete");
        assert_eq!(
            store
                .read_sync(|db| db.job(id))
                .expect("job")
                .expect("row")
                .status,
            "succeeded"
        );
    }

    #[test]
    fn attempts_exhausted_marks_failed_with_error() {
        let (_d, store) = test_store();
        let mut nj = NewJob::new("deploy", json!({}), 0);
        nj.max_attempts = 2;
        let id = store.write_sync(|db| db.enqueue(&nj, 0)).expect("enqueue");
        store
            .write_sync(|db| db.claim(&["deploy"], "w", 0, 60))
            .expect("claim")
            .expect("job");
        let st = store
            .write_sync(|db| db.fail(id, "w", "image missing", 10))
            .expect("fail");
        assert_eq!(
            st,
            JobState::Retrying {
                run_at: 10 + backoff(1)
            }
        );
        // Not ready before the backoff ends.
        assert!(
            store
                .write_sync(|db| db.claim(&["deploy"], "w", 11, 60))
                .expect("claim")
                .is_none()
        );
        let j = store
            .write_sync(|db| db.claim(&["deploy"], "w", 10 + backoff(1), 60))
            .expect("claim")
            .expect("job");
        assert_eq!(j.attempts, 2);
        let st = store
            .write_sync(|db| db.fail(id, "w", "image still missing", 20))
            .expect("fail");
        assert_eq!(st, JobState::Failed);
        let j = store.read_sync(|db| db.job(id)).expect("job").expect("row");
        assert_eq!(
            (j.status.as_str(), j.last_error.as_deref()),
            ("failed", Some("image still missing"))
        );
        assert!(
            store
                .write_sync(|db| db.claim(&["deploy"], "w", 10_000, 60))
                .expect("claim")
                .is_none()
        );
    }

    #[test]
    fn lease_expiry_on_last_attempt_fails_the_job() {
        let (_d, store) = test_store();
        let mut nj = NewJob::new("deploy", json!({}), 0);
        nj.max_attempts = 1;
        let id = store.write_sync(|db| db.enqueue(&nj, 0)).expect("enqueue");
        store
            .write_sync(|db| db.claim(&["deploy"], "w", 0, 5))
            .expect("claim")
            .expect("job");
        assert!(
            store
                .write_sync(|db| db.claim(&["deploy"], "w2", 100, 5))
                .expect("claim")
                .is_none()
        );
        let j = store.read_sync(|db| db.job(id)).expect("job").expect("row");
        assert_eq!(j.status, "failed");
        assert!(j.last_error.unwrap_or_default().contains("lease expired"));
    }

    #[test]
    fn kinds_order_and_dedupe() {
        let (_d, store) = test_store();
        store
            .write_sync(|db| {
                let mut a = NewJob::new("billing", json!({"hour": 1}), 0);
                a.dedupe_key = Some("billing:1".into());
                let first = db.enqueue(&a, 0)?;
                assert_eq!(
                    db.enqueue(&a, 1)?,
                    first,
                    "a duplicate key returns the first job"
                );
                db.enqueue(&NewJob::new("build", json!({}), 0), 0)?;
                assert_eq!(db.claim(&["other"], "w", 5, 10)?, None);
                assert_eq!(
                    db.claim(&["build"], "w", 5, 10)?.map(|j| j.kind).as_deref(),
                    Some("build")
                );
                assert_eq!(db.jobs_pending()?, 2);
                Ok(())
            })
            .expect("tx");
    }
}
