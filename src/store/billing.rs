//! Wallets: the append-only ledger of each org and what its running apps
//! cost per hour.

use rusqlite::params;

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
        self.conn.execute(
            "INSERT INTO ledger (org_id, at, kind, amount, note, created_by) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![org_id, now, kind, amount.0, note, by],
        )?;
        Ok(self.conn.last_insert_rowid())
    }

    /// Every org with its member and app counts and balance, by name.
    pub fn orgs_with_balances(&self) -> Result<Vec<(super::OrgSummary, Money)>> {
        let mut st = self.conn.prepare(
            "SELECT o.name, o.created_at,
                    (SELECT count(*) FROM memberships WHERE org_id = o.id),
                    (SELECT count(*) FROM apps WHERE org_id = o.id),
                    (SELECT COALESCE(SUM(amount), 0) FROM ledger WHERE org_id = o.id)
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
