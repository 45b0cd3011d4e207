//! Wallets: the append-only ledger of each org and what its running apps
//! cost per hour.

use rusqlite::{OptionalExtension, params};

use super::Db;
use crate::error::{Error, Result};
use crate::units::Money;

#[derive(Clone, Debug)]
pub struct Entry {
    pub id: i64,
    pub at: i64,
    pub kind: String,
    pub amount: Money,
    /// The balance right after this entry.
    pub balance: Money,
    pub note: String,
    pub created_by: Option<String>,
}

/// Entry kinds an admin writes by hand.
pub const MANUAL: &[&str] = &["credit", "debit"];

impl Db<'_> {
    /// Appends an entry; `amount` is signed (credits positive).
    pub fn add_entry(
        &self,
        org_id: i64,
        kind: &str,
        amount: Money,
        note: &str,
        by: Option<&str>,
        now: i64,
    ) -> Result<i64> {
        self.conn
            .prepare_cached(
                "INSERT INTO ledger (org_id, at, kind, amount, note, created_by) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?
            .execute(params![org_id, now, kind, amount.0, note, by])?;
        Ok(self.conn.last_insert_rowid())
    }

    /// Every org with its member and app counts and balance, by name.
    pub fn orgs_with_balances(&self) -> Result<Vec<(super::OrgSummary, Money, bool)>> {
        let mut st = self.conn.prepare(
            "SELECT o.name, o.created_at,
                    (SELECT count(*) FROM memberships WHERE org_id = o.id),
                    (SELECT count(*) FROM apps WHERE org_id = o.id),
                    (SELECT COALESCE(SUM(amount), 0) FROM ledger WHERE org_id = o.id),
                    o.suspended_at IS NOT NULL
             FROM orgs o ORDER BY o.name",
        )?;
        let rows = st
            .query_map([], |r| {
                Ok((
                    super::OrgSummary {
                        name: r.get(0)?,
                        role: None,
                        created_at: r.get(1)?,
                        members: r.get(2)?,
                        apps: r.get(3)?,
                    },
                    Money(r.get(4)?),
                    r.get(5)?,
                ))
            })?
            .collect::<rusqlite::Result<_>>()?;
        Ok(rows)
    }

    pub fn balance(&self, org_id: i64) -> Result<Money> {
        Ok(Money(self.conn.query_row(
            "SELECT COALESCE(SUM(amount), 0) FROM ledger WHERE org_id = ?1",
            [org_id],
            |r| r.get(0),
        )?))
    }

    /// The org's latest `limit` entries, newest first, each with the balance after it.
    pub fn entries(&self, org_id: i64, limit: i64) -> Result<Vec<Entry>> {
        let mut st = self.conn.prepare(
            "SELECT id, at, kind, amount, note, created_by, \
                    SUM(amount) OVER (ORDER BY id ROWS UNBOUNDED PRECEDING) \
             FROM ledger WHERE org_id = ?1 ORDER BY id DESC LIMIT ?2",
        )?;
        let rows = st
            .query_map(params![org_id, limit], |r| {
                Ok(Entry {
                    id: r.get(0)?,
                    at: r.get(1)?,
                    kind: r.get(2)?,
                    amount: Money(r.get(3)?),
                    note: r.get(4)?,
                    created_by: r.get(5)?,
                    balance: Money(r.get(6)?),
                })
            })?
            .collect::<rusqlite::Result<_>>()?;
        Ok(rows)
    }

    /// What the org's apps cost per hour as they run now: the replicas of
    /// each started app with a live release, at its plan's hourly price.
    pub fn burn(&self, org_id: i64) -> Result<(Money, i64)> {
        let mut total = Money(0);
        let mut replicas = 0;
        for app in self.apps_visible(None, Some(org_id))? {
            if self.stopped(&app)? || self.live_release(app.id)?.is_none() {
                continue;
            }
            let n: i64 = self.formation(&app)?.values().map(|v| (*v).max(0)).sum();
            let price = self.plan_named(&app.plan)?.price_hourly;
            total = Money(total.0.saturating_add(price.times(n).0));
            replicas += n;
        }
        Ok((total, replicas))
    }
}

/// Checks a manual credit or debit: a positive amount and a printable note.
pub fn manual_amount(text: &str) -> Result<Money> {
    let m = Money::parse("amount", text)?;
    if m.0 <= 0 {
        return Err(Error::Invalid(format!(
            "amount \"{}\" must be more than 0: give a positive amount like 25.00 (billing:debit takes money away)",
            crate::validate::printable(text)
        )));
    }
    Ok(m)
}

pub fn note(text: &str) -> Result<String> {
    let t = text.trim();
    if t.chars().any(char::is_control) || t.chars().count() > 500 {
        return Err(Error::Invalid(
            "the note must be one line of at most 500 characters: shorten it".into(),
        ));
    }
    Ok(t.to_string())
}

/// What the sweep bills for one app, plan and price in one hour.
#[derive(Clone, Debug, PartialEq)]
pub struct HourUsage {
    pub org_id: i64,
    pub app_id: i64,
    pub app: String,
    pub plan: String,
    pub price: Money,
    pub replica_minutes: i64,
    /// Σ replicas × price over the hour's minutes: the cost times 60.
    pub cost_x60: i64,
}

impl HourUsage {
    /// The cost in micro-units, rounded half up.
    pub fn cost(&self) -> Money {
        Money((self.cost_x60 + 30).div_euclid(60))
    }
}

/// A billed row, for `billing:usage` and statements.
#[derive(Clone, Debug)]
pub struct UsageRow {
    pub app: String,
    pub hour: i64,
    pub plan: String,
    pub price: Money,
    pub replica_minutes: i64,
    pub cost: Money,
}

/// An org's billing flags.
#[derive(Clone, Debug, Default)]
pub struct OrgBilling {
    pub suspended_at: Option<i64>,
    pub low_balance_at: Option<i64>,
}

/// The sweep's progress.
#[derive(Clone, Copy, Debug, Default)]
pub struct Progress {
    /// The newest minute sampled.
    pub last_minute: Option<i64>,
    /// Every hour before this (unix seconds) is billed.
    pub swept_until: Option<i64>,
}

impl Db<'_> {
    pub fn org_name(&self, org_id: i64) -> Result<String> {
        Ok(self
            .conn
            .query_row("SELECT name FROM orgs WHERE id = ?1", [org_id], |r| {
                r.get(0)
            })?)
    }

    pub fn billing_progress(&self) -> Result<Progress> {
        Ok(self.conn.query_row(
            "SELECT last_minute, swept_until FROM billing_state WHERE id = 1",
            [],
            |r| {
                Ok(Progress {
                    last_minute: r.get(0)?,
                    swept_until: r.get(1)?,
                })
            },
        )?)
    }

    pub fn set_swept_until(&self, t: i64) -> Result<()> {
        self.conn.execute(
            "UPDATE billing_state SET swept_until = max(COALESCE(swept_until, 0), ?1) WHERE id = 1",
            [t],
        )?;
        Ok(())
    }

    /// Records the replicas seen running in `minute` (app id, process,
    /// replicas). Minutes since the previous sample, at most `max_gap` of
    /// them, are first filled with what that sample saw: the Swarm keeps apps
    /// running while the daemon is away. Returns the minutes filled. A minute
    /// already sampled (or older than the newest) only adds what it lacks.
    pub fn record_samples(
        &self,
        minute: i64,
        seen: &[(i64, String, i64)],
        max_gap: i64,
    ) -> Result<i64> {
        let last = self.billing_progress()?.last_minute;
        let mut filled = 0;
        if let Some(last) = last {
            let from = (last + 1).max(minute - max_gap);
            if from < minute {
                self.conn.execute(
                    "INSERT OR IGNORE INTO usage_samples (minute, meter_id, replicas)
                     WITH RECURSIVE m(x) AS (SELECT ?1 UNION ALL SELECT x + 1 FROM m WHERE x + 1 < ?2)
                     SELECT m.x, s.meter_id, s.replicas FROM m, usage_samples s WHERE s.minute = ?3",
                    params![from, minute, last],
                )?;
                filled = minute - from;
            }
        }
        let mut app_st = self.conn.prepare_cached(
            "SELECT a.org_id, a.name, p.name, p.price_hourly_micros FROM apps a JOIN plans p ON p.id = a.plan_id WHERE a.id = ?1",
        )?;
        let mut meter_ins = self.conn.prepare_cached(
            "INSERT INTO meters (org_id, app_id, app, process, plan, price) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
             ON CONFLICT DO NOTHING",
        )?;
        let mut meter_get = self.conn.prepare_cached(
            "SELECT id FROM meters WHERE org_id = ?1 AND app_id = ?2 AND app = ?3 AND process = ?4 AND plan = ?5 AND price = ?6",
        )?;
        let mut sample = self.conn.prepare_cached(
            "INSERT OR IGNORE INTO usage_samples (minute, meter_id, replicas) VALUES (?1, ?2, ?3)",
        )?;
        for (app_id, process, replicas) in seen {
            if *replicas <= 0 {
                continue;
            }
            let Some((org, app, plan, price)) = app_st
                .query_row([app_id], |r| {
                    Ok((
                        r.get::<_, i64>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, String>(2)?,
                        r.get::<_, i64>(3)?,
                    ))
                })
                .optional()?
            else {
                continue;
            };
            let key = params![org, app_id, app, process, plan, price];
            meter_ins.execute(key)?;
            let meter: i64 = meter_get.query_row(key, |r| r.get(0))?;
            sample.execute(params![minute, meter, replicas])?;
        }
        self.conn.execute(
            "UPDATE billing_state SET last_minute = max(COALESCE(last_minute, ?1), ?1) WHERE id = 1",
            [minute],
        )?;
        Ok(filled)
    }

    /// The oldest sampled minute at or after `from` (to start a first sweep).
    pub fn first_sample_minute(&self) -> Result<Option<i64>> {
        Ok(self
            .conn
            .query_row("SELECT min(minute) FROM usage_samples", [], |r| r.get(0))?)
    }

    /// What the samples of the hour starting at `hour` add up to, per org,
    /// app, plan and price (orgs that still exist), ordered by org.
    pub fn hour_usage(&self, hour: i64) -> Result<Vec<HourUsage>> {
        let m = hour.div_euclid(60);
        // Add up the hour per meter first, then name the meters (10,000
        // lookups instead of one per sample); meters that differ only by
        // process are added together. Ordered by org, then app.
        let mut st = self.conn.prepare_cached(
            "SELECT m.org_id, m.app_id, m.app, m.plan, m.price, SUM(s.rm), SUM(s.rm) * m.price
             FROM (SELECT meter_id, SUM(replicas) AS rm FROM usage_samples
                   WHERE minute >= ?1 AND minute < ?2 GROUP BY meter_id) s
             JOIN meters m ON m.id = s.meter_id
             WHERE m.org_id IN (SELECT id FROM orgs)
             GROUP BY m.org_id, m.app_id, m.app, m.plan, m.price
             ORDER BY m.org_id, m.app_id, m.app, m.plan, m.price",
        )?;
        let rows = st
            .query_map(params![m, m + 60], |r| {
                Ok(HourUsage {
                    org_id: r.get(0)?,
                    app_id: r.get(1)?,
                    app: r.get(2)?,
                    plan: r.get(3)?,
                    price: Money(r.get(4)?),
                    replica_minutes: r.get(5)?,
                    cost_x60: r.get(6)?,
                })
            })?
            .collect::<rusqlite::Result<_>>()?;
        Ok(rows)
    }

    /// Bills one org's hour: for each app not billed for `hour` yet, its
    /// usage rows and one ledger entry (when it cost anything). Run inside
    /// one transaction, so an hour of an app is billed whole or not at all.
    /// Returns the apps billed and what they cost.
    pub fn bill_hour(&self, hour: i64, rows: &[HourUsage]) -> Result<(usize, Money)> {
        let mut apps = 0;
        let mut total = Money(0);
        for group in
            rows.chunk_by(|a, b| (a.org_id, a.app_id, &a.app) == (b.org_id, b.app_id, &b.app))
        {
            let (org, app_id, app) = (group[0].org_id, group[0].app_id, &group[0].app);
            let done: bool = self
                .conn
                .prepare_cached(
                    "SELECT EXISTS (SELECT 1 FROM usage WHERE org_id = ?1 AND app_id = ?2 AND app = ?3 AND hour = ?4)",
                )?
                .query_row(params![org, app_id, app, hour], |r| r.get(0))?;
            if done {
                continue;
            }
            let cost = Money(group.iter().map(|u| u.cost().0).sum());
            let minutes: i64 = group.iter().map(|u| u.replica_minutes).sum();
            let ledger = if cost.0 > 0 {
                let plans: Vec<&str> = group.iter().map(|u| u.plan.as_str()).collect();
                Some(self.add_entry(
                    org,
                    "usage",
                    Money(-cost.0),
                    &format!(
                        "{app} {}: {minutes} replica-minutes on {}",
                        hour_label(hour),
                        plans.join(", ")
                    ),
                    None,
                    hour,
                )?)
            } else {
                None
            };
            let mut ins = self.conn.prepare_cached(
                "INSERT INTO usage (org_id, app_id, app, hour, plan, price, replica_minutes, cost, ledger_id)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            )?;
            for u in group {
                ins.execute(params![
                    org,
                    app_id,
                    app,
                    hour,
                    u.plan,
                    u.price.0,
                    u.replica_minutes,
                    u.cost().0,
                    ledger
                ])?;
            }
            apps += 1;
            total = Money(total.0 + cost.0);
        }
        Ok((apps, total))
    }

    /// Removes samples of minutes before `minute` (already billed).
    pub fn prune_samples(&self, minute: i64) -> Result<usize> {
        Ok(self
            .conn
            .execute("DELETE FROM usage_samples WHERE minute < ?1", [minute])?)
    }

    /// Replica-minutes and cost sampled since `from_minute` and not billed yet.
    pub fn unbilled(&self, org_id: i64, from_minute: i64) -> Result<(i64, Money)> {
        let (rm, x60): (i64, i64) = self.conn.query_row(
            "SELECT COALESCE(SUM(s.replicas), 0), COALESCE(SUM(s.replicas * m.price), 0)
             FROM meters m JOIN usage_samples s ON s.meter_id = m.id
             WHERE m.org_id = ?1 AND s.minute >= ?2",
            params![org_id, from_minute],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        Ok((rm, Money((x60 + 30).div_euclid(60))))
    }

    /// The org's billed usage of hours in [from, to).
    pub fn usage_rows(&self, org_id: i64, from: i64, to: i64) -> Result<Vec<UsageRow>> {
        let mut st = self.conn.prepare(
            "SELECT app, hour, plan, price, replica_minutes, cost FROM usage
             WHERE org_id = ?1 AND hour >= ?2 AND hour < ?3 ORDER BY hour, app, plan",
        )?;
        let rows = st
            .query_map(params![org_id, from, to], |r| {
                Ok(UsageRow {
                    app: r.get(0)?,
                    hour: r.get(1)?,
                    plan: r.get(2)?,
                    price: Money(r.get(3)?),
                    replica_minutes: r.get(4)?,
                    cost: Money(r.get(5)?),
                })
            })?
            .collect::<rusqlite::Result<_>>()?;
        Ok(rows)
    }

    /// The balance from the entries dated before `t`.
    pub fn balance_before(&self, org_id: i64, t: i64) -> Result<Money> {
        Ok(Money(self.conn.query_row(
            "SELECT COALESCE(SUM(amount), 0) FROM ledger WHERE org_id = ?1 AND at < ?2",
            params![org_id, t],
            |r| r.get(0),
        )?))
    }

    /// Entries dated in [from, to), oldest first (balance left unset).
    pub fn entries_between(&self, org_id: i64, from: i64, to: i64) -> Result<Vec<Entry>> {
        let mut st = self.conn.prepare(
            "SELECT id, at, kind, amount, note, created_by FROM ledger
             WHERE org_id = ?1 AND at >= ?2 AND at < ?3 ORDER BY at, id",
        )?;
        let rows = st
            .query_map(params![org_id, from, to], |r| {
                Ok(Entry {
                    id: r.get(0)?,
                    at: r.get(1)?,
                    kind: r.get(2)?,
                    amount: Money(r.get(3)?),
                    note: r.get(4)?,
                    created_by: r.get(5)?,
                    balance: Money(0),
                })
            })?
            .collect::<rusqlite::Result<_>>()?;
        Ok(rows)
    }

    pub fn org_billing(&self, org_id: i64) -> Result<OrgBilling> {
        Ok(self.conn.query_row(
            "SELECT suspended_at, low_balance_at FROM orgs WHERE id = ?1",
            [org_id],
            |r| {
                Ok(OrgBilling {
                    suspended_at: r.get(0)?,
                    low_balance_at: r.get(1)?,
                })
            },
        )?)
    }

    /// Sets or clears the suspension; true when it changed.
    pub fn set_suspended(&self, org_id: i64, at: Option<i64>) -> Result<bool> {
        Ok(self.conn.execute(
            "UPDATE orgs SET suspended_at = ?2 WHERE id = ?1 AND (suspended_at IS NULL) != (?2 IS NULL)",
            params![org_id, at],
        )? > 0)
    }

    /// Sets or clears the low-balance mark; true when it changed.
    pub fn set_low_balance(&self, org_id: i64, at: Option<i64>) -> Result<bool> {
        Ok(self.conn.execute(
            "UPDATE orgs SET low_balance_at = ?2 WHERE id = ?1 AND (low_balance_at IS NULL) != (?2 IS NULL)",
            params![org_id, at],
        )? > 0)
    }

    /// Whether any of the org's apps is on a plan with a price.
    pub fn has_paid_apps(&self, org_id: i64) -> Result<bool> {
        Ok(self.conn.query_row(
            "SELECT EXISTS (SELECT 1 FROM apps a JOIN plans p ON p.id = a.plan_id
                            WHERE a.org_id = ?1 AND p.price_hourly_micros > 0)",
            [org_id],
            |r| r.get(0),
        )?)
    }

    /// Ids of orgs that are suspended.
    pub fn suspended_orgs(&self) -> Result<Vec<i64>> {
        let mut st = self
            .conn
            .prepare("SELECT id FROM orgs WHERE suspended_at IS NOT NULL ORDER BY id")?;
        let rows = st
            .query_map([], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        Ok(rows)
    }
}

/// `2026-11-24 10:00–11:00 UTC`.
fn hour_label(hour: i64) -> String {
    let (y, mo, d, h, _) = crate::units::civil(hour);
    format!("{y:04}-{mo:02}-{d:02} {h:02}:00–{:02}:00 UTC", (h + 1) % 24)
}
