//! Org webhooks, their deliveries (one row per event and endpoint, with its
//! attempts), and the health monitor's probe telemetry.

use rusqlite::{OptionalExtension, params};

use super::Db;
use crate::error::{Error, Result};

#[derive(Clone, Debug)]
pub struct Webhook {
    pub id: i64,
    pub org_id: i64,
    pub url: String,
    pub events: Vec<String>,
    pub created_by: String,
    pub created_at: i64,
}

#[derive(Clone, Debug)]
pub struct Delivery {
    pub id: i64,
    pub webhook_id: i64,
    pub event: String,
    pub payload: String,
    pub state: String,
    pub attempts: i64,
    pub next_at: i64,
    pub last_status: Option<i64>,
    pub last_error: Option<String>,
    pub last_at: Option<i64>,
    pub created_at: i64,
}

/// A delivery that is due, with what sending it needs.
#[derive(Clone, Debug)]
pub struct DueDelivery {
    pub delivery: Delivery,
    pub url: String,
    pub secret: String,
}

#[derive(Clone, Debug)]
pub struct Probe {
    pub at: i64,
    pub release: i64,
    pub task: String,
    pub slot: i64,
    pub ok: bool,
    pub latency_ms: i64,
    pub detail: String,
    pub action: String,
}

/// Probes kept per app; older ones go as new ones come.
pub const PROBES_KEPT: i64 = 1000;

/// Delivery attempts before a delivery is given up.
pub const MAX_ATTEMPTS: i64 = 12;

/// Seconds to wait after the `attempts`-th failed attempt: 2 s doubling, at most an hour.
pub fn retry_after(attempts: i64) -> i64 {
    (2i64 << (attempts - 1).clamp(0, 20)).min(3600)
}

fn secret_context(id: i64) -> String {
    format!("webhook:{id}")
}

const DELIVERY: &str = "SELECT id, webhook_id, event, payload, state, attempts, next_at, \
     last_status, last_error, last_at, created_at FROM webhook_deliveries";

fn delivery(r: &rusqlite::Row) -> rusqlite::Result<Delivery> {
    Ok(Delivery {
        id: r.get(0)?,
        webhook_id: r.get(1)?,
        event: r.get(2)?,
        payload: r.get(3)?,
        state: r.get(4)?,
        attempts: r.get(5)?,
        next_at: r.get(6)?,
        last_status: r.get(7)?,
        last_error: r.get(8)?,
        last_at: r.get(9)?,
        created_at: r.get(10)?,
    })
}

fn webhook(r: &rusqlite::Row) -> rusqlite::Result<Webhook> {
    let events: String = r.get(3)?;
    Ok(Webhook {
        id: r.get(0)?,
        org_id: r.get(1)?,
        url: r.get(2)?,
        events: events.split(',').map(str::to_string).collect(),
        created_by: r.get(4)?,
        created_at: r.get(5)?,
    })
}

impl Db<'_> {
    pub fn add_webhook(
        &self,
        org_id: i64,
        url: &str,
        events: &[String],
        secret: &str,
        created_by: &str,
        now: i64,
    ) -> Result<Webhook> {
        self.conn.execute(
            "INSERT INTO webhooks (org_id, url, events, secret, created_by, created_at) \
             VALUES (?1, ?2, ?3, x'', ?4, ?5)",
            params![org_id, url, events.join(","), created_by, now],
        )?;
        let id = self.conn.last_insert_rowid();
        let sealed = self.cipher.seal(&secret_context(id), secret.as_bytes())?;
        self.conn.execute(
            "UPDATE webhooks SET secret = ?1 WHERE id = ?2",
            params![sealed, id],
        )?;
        Ok(Webhook {
            id,
            org_id,
            url: url.to_string(),
            events: events.to_vec(),
            created_by: created_by.to_string(),
            created_at: now,
        })
    }

    pub fn webhooks(&self, org_id: i64) -> Result<Vec<Webhook>> {
        let mut st = self.conn.prepare(
            "SELECT id, org_id, url, events, created_by, created_at FROM webhooks \
             WHERE org_id = ?1 ORDER BY id",
        )?;
        let rows = st
            .query_map([org_id], webhook)?
            .collect::<rusqlite::Result<_>>()?;
        Ok(rows)
    }

    pub fn remove_webhook(&self, org_id: i64, org_name: &str, id: i64) -> Result<()> {
        let n = self.conn.execute(
            "DELETE FROM webhooks WHERE id = ?1 AND org_id = ?2",
            params![id, org_id],
        )?;
        if n == 0 {
            return Err(Error::NotFound(format!(
                "webhook {id} not found in {org_name}: run `skypanel orgs:webhooks -o {org_name}` to list them"
            )));
        }
        Ok(())
    }

    /// Queues `payload` for every endpoint of `org_id` (every org when
    /// `None`) that asked for `category`. Returns how many were queued.
    pub fn enqueue_webhooks(
        &self,
        org_id: Option<i64>,
        category: &str,
        event: &str,
        payload: &serde_json::Value,
        now: i64,
    ) -> Result<usize> {
        let mut st = self
            .conn
            .prepare("SELECT id, events FROM webhooks WHERE (?1 IS NULL OR org_id = ?1)")?;
        let hooks: Vec<(i64, String)> = st
            .query_map([org_id], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<rusqlite::Result<_>>()?;
        let mut n = 0;
        for (id, events) in hooks {
            if !events.split(',').any(|e| e == category) {
                continue;
            }
            self.conn.execute(
                "INSERT INTO webhook_deliveries (webhook_id, event, payload, state, next_at, created_at) \
                 VALUES (?1, ?2, '', 'pending', ?3, ?3)",
                params![id, event, now],
            )?;
            let did = self.conn.last_insert_rowid();
            let mut p = payload.clone();
            p["delivery"] = did.into();
            self.conn.execute(
                "UPDATE webhook_deliveries SET payload = ?1 WHERE id = ?2",
                params![p.to_string(), did],
            )?;
            n += 1;
        }
        Ok(n)
    }

    /// Pending deliveries due at `now`, oldest first, with their endpoint.
    pub fn due_deliveries(&self, now: i64, limit: i64) -> Result<Vec<DueDelivery>> {
        let mut st = self.conn.prepare(
            "SELECT d.id, d.webhook_id, d.event, d.payload, d.state, d.attempts, d.next_at, \
             d.last_status, d.last_error, d.last_at, d.created_at, w.url, w.secret \
             FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id \
             WHERE d.state = 'pending' AND d.next_at <= ?1 ORDER BY d.next_at, d.id LIMIT ?2",
        )?;
        let rows: Vec<(Delivery, String, Vec<u8>)> = st
            .query_map(params![now, limit], |r| {
                Ok((delivery(r)?, r.get(11)?, r.get(12)?))
            })?
            .collect::<rusqlite::Result<_>>()?;
        rows.into_iter()
            .map(|(d, url, sealed)| {
                let secret = self
                    .cipher
                    .open_string(&secret_context(d.webhook_id), &sealed)?;
                Ok(DueDelivery {
                    delivery: d,
                    url,
                    secret,
                })
            })
            .collect()
    }

    /// When the next pending delivery falls due.
    pub fn next_delivery_at(&self) -> Result<Option<i64>> {
        Ok(self.conn.query_row(
            "SELECT MIN(next_at) FROM webhook_deliveries WHERE state = 'pending'",
            [],
            |r| r.get(0),
        )?)
    }

    /// Records one attempt: delivered, retried later, or given up.
    pub fn delivery_attempted(
        &self,
        id: i64,
        ok: bool,
        status: Option<u16>,
        error: Option<&str>,
        now: i64,
    ) -> Result<()> {
        let attempts: i64 = self
            .conn
            .query_row(
                "SELECT attempts FROM webhook_deliveries WHERE id = ?1",
                [id],
                |r| r.get(0),
            )
            .optional()?
            .unwrap_or(0)
            + 1;
        let (state, next) = if ok {
            ("delivered", now)
        } else if attempts >= MAX_ATTEMPTS {
            ("failed", now)
        } else {
            ("pending", now + retry_after(attempts))
        };
        self.conn.execute(
            "UPDATE webhook_deliveries SET state = ?2, attempts = ?3, next_at = ?4, \
             last_status = ?5, last_error = ?6, last_at = ?7 WHERE id = ?1",
            params![id, state, attempts, next, status, error, now],
        )?;
        Ok(())
    }

    /// The org's latest deliveries, newest first.
    pub fn deliveries(&self, org_id: i64, limit: i64) -> Result<Vec<Delivery>> {
        let mut st = self.conn.prepare(&format!(
            "{DELIVERY} WHERE webhook_id IN (SELECT id FROM webhooks WHERE org_id = ?1) \
             ORDER BY id DESC LIMIT ?2"
        ))?;
        let rows = st
            .query_map(params![org_id, limit], delivery)?
            .collect::<rusqlite::Result<_>>()?;
        Ok(rows)
    }

    /// Deliveries waiting and given up, for `/metrics`.
    pub fn delivery_counts(&self) -> Result<Vec<(String, i64)>> {
        let mut st = self
            .conn
            .prepare("SELECT state, COUNT(*) FROM webhook_deliveries GROUP BY state")?;
        let rows = st
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<rusqlite::Result<_>>()?;
        Ok(rows)
    }

    /// Stores probes of one app and keeps only its latest [`PROBES_KEPT`].
    pub fn add_probes(&self, app_id: i64, probes: &[Probe]) -> Result<()> {
        let mut st = self.conn.prepare_cached(
            "INSERT INTO health_probes (app_id, at, release, task, slot, ok, latency_ms, detail, action) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        )?;
        for p in probes {
            st.execute(params![
                app_id,
                p.at,
                p.release,
                p.task,
                p.slot,
                p.ok,
                p.latency_ms,
                p.detail,
                p.action
            ])?;
        }
        self.conn.execute(
            "DELETE FROM health_probes WHERE app_id = ?1 AND id <= \
             (SELECT id FROM health_probes WHERE app_id = ?1 ORDER BY id DESC LIMIT 1 OFFSET ?2)",
            params![app_id, PROBES_KEPT],
        )?;
        Ok(())
    }

    /// The app's latest probes, newest first.
    pub fn probes(&self, app_id: i64, limit: i64) -> Result<Vec<Probe>> {
        let mut st = self.conn.prepare(
            "SELECT at, release, task, slot, ok, latency_ms, detail, action FROM health_probes \
             WHERE app_id = ?1 ORDER BY id DESC LIMIT ?2",
        )?;
        let rows = st
            .query_map(params![app_id, limit], |r| {
                Ok(Probe {
                    at: r.get(0)?,
                    release: r.get(1)?,
                    task: r.get(2)?,
                    slot: r.get(3)?,
                    ok: r.get(4)?,
                    latency_ms: r.get(5)?,
                    detail: r.get(6)?,
                    action: r.get(7)?,
                })
            })?
            .collect::<rusqlite::Result<_>>()?;
        Ok(rows)
    }
}
