//! The plan catalog (the seeds' `PaasPlanService`).

use rusqlite::{OptionalExtension, Row, params};

use super::{Db, unique_conflict};
use crate::error::{Error, Result};
use crate::units::Money;

#[derive(Clone, Debug)]
pub struct Plan {
    pub id: i64,
    pub name: String,
    pub cpu_millis: i64,
    pub memory_mb: i64,
    pub max_replicas: i64,
    pub price_hourly: Money,
    pub features: Vec<String>,
    pub created_at: i64,
}

/// What `plans:create` (all fields) and `plans:update` (some) may set, already parsed.
#[derive(Clone, Debug, Default)]
pub struct PlanSpec {
    pub cpu_millis: Option<i64>,
    pub memory_mb: Option<i64>,
    pub max_replicas: Option<i64>,
    pub price_hourly: Option<Money>,
    pub features: Option<Vec<String>>,
}

pub const MAX_REPLICAS_LIMIT: i64 = 100;

fn plan(r: &Row) -> rusqlite::Result<Plan> {
    let features: String = r.get(6)?;
    Ok(Plan {
        id: r.get(0)?,
        name: r.get(1)?,
        cpu_millis: r.get(2)?,
        memory_mb: r.get(3)?,
        max_replicas: r.get(4)?,
        price_hourly: Money(r.get(5)?),
        features: serde_json::from_str(&features).unwrap_or_default(),
        created_at: r.get(7)?,
    })
}

const COLS: &str =
    "id, name, cpu_millis, memory_mb, max_replicas, price_hourly_micros, features, created_at";

fn check(spec: &PlanSpec) -> Result<()> {
    if let Some(n) = spec.max_replicas
        && !(1..=MAX_REPLICAS_LIMIT).contains(&n)
    {
        return Err(Error::Invalid(format!(
            "max replicas {n} is invalid: give a whole number from 1 to {MAX_REPLICAS_LIMIT}"
        )));
    }
    if let Some(p) = spec.price_hourly
        && p.0 < 0
    {
        return Err(Error::Invalid(format!(
            "hourly price {p} is negative: give 0 for a free plan or a positive amount like 0.0070"
        )));
    }
    for f in spec.features.iter().flatten() {
        let ok = !f.is_empty()
            && f.len() <= 40
            && f.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
        if !ok {
            return Err(Error::Invalid(format!(
                "feature \"{}\" is invalid: use lowercase letters, digits, dashes and underscores (max 40)",
                crate::validate::printable(f)
            )));
        }
    }
    Ok(())
}

impl Db<'_> {
    pub fn plans(&self) -> Result<Vec<Plan>> {
        let mut st = self.conn.prepare(&format!(
            "SELECT {COLS} FROM plans ORDER BY price_hourly_micros, name"
        ))?;
        let rows = st.query_map([], plan)?.collect::<rusqlite::Result<_>>()?;
        Ok(rows)
    }

    pub fn plan_by_name(&self, name: &str) -> Result<Option<Plan>> {
        Ok(self
            .conn
            .query_row(
                &format!("SELECT {COLS} FROM plans WHERE name = ?1"),
                [name],
                plan,
            )
            .optional()?)
    }

    pub fn plan_named(&self, name: &str) -> Result<Plan> {
        self.plan_by_name(name)?.ok_or_else(|| {
            Error::NotFound(format!(
                "no plan named \"{}\": run `skypanel plans` to list them",
                crate::validate::printable(name)
            ))
        })
    }

    pub fn create_plan(&self, name: &str, spec: &PlanSpec, now: i64) -> Result<Plan> {
        crate::validate::plan_name(name)?;
        check(spec)?;
        let missing = |what: &str| Error::Invalid(format!("a new plan needs {what}"));
        let features = spec.features.clone().unwrap_or_default();
        self.conn
            .execute(
                "INSERT INTO plans (name, cpu_millis, memory_mb, max_replicas, price_hourly_micros, features,
                                    created_at, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7)",
                params![
                    name,
                    spec.cpu_millis.ok_or_else(|| missing("--cpu"))?,
                    spec.memory_mb.ok_or_else(|| missing("--memory"))?,
                    spec.max_replicas.ok_or_else(|| missing("--max-replicas"))?,
                    spec.price_hourly.ok_or_else(|| missing("--price-hourly"))?.0,
                    serde_json::to_string(&features).map_err(|e| Error::Internal(e.to_string()))?,
                    now
                ],
            )
            .map_err(|e| unique_conflict(e, || format!("plan {name} already exists: use `admin plans:update`")))?;
        self.plan_named(name)
    }

    pub fn update_plan(&self, name: &str, spec: &PlanSpec, now: i64) -> Result<Plan> {
        let p = self.plan_named(name)?;
        check(spec)?;
        let features = match &spec.features {
            Some(f) => serde_json::to_string(f).map_err(|e| Error::Internal(e.to_string()))?,
            None => {
                serde_json::to_string(&p.features).map_err(|e| Error::Internal(e.to_string()))?
            }
        };
        self.conn.execute(
            "UPDATE plans SET cpu_millis = ?1, memory_mb = ?2, max_replicas = ?3, price_hourly_micros = ?4,
                              features = ?5, updated_at = ?6 WHERE id = ?7",
            params![
                spec.cpu_millis.unwrap_or(p.cpu_millis),
                spec.memory_mb.unwrap_or(p.memory_mb),
                spec.max_replicas.unwrap_or(p.max_replicas),
                spec.price_hourly.unwrap_or(p.price_hourly).0,
                features,
                now,
                p.id
            ],
        )?;
        self.plan_named(name)
    }

    pub fn remove_plan(&self, name: &str) -> Result<()> {
        let p = self.plan_named(name)?;
        let used: i64 = self.conn.query_row(
            "SELECT count(*) FROM apps WHERE plan_id = ?1",
            [p.id],
            |r| r.get(0),
        )?;
        if used > 0 {
            return Err(Error::Conflict(format!(
                "plan {name} is used by {used} app(s): move them to another plan first"
            )));
        }
        if self.setting("default_plan")? == name {
            return Err(Error::Conflict(format!(
                "plan {name} is the default plan: choose another with \
                 `skypanel admin settings:set default_plan PLAN` first"
            )));
        }
        self.conn
            .execute("DELETE FROM plans WHERE id = ?1", [p.id])?;
        Ok(())
    }

    /// Inserts the default catalog when there are no plans at all.
    pub fn seed_plans(&self, now: i64) -> Result<bool> {
        let n: i64 = self
            .conn
            .query_row("SELECT count(*) FROM plans", [], |r| r.get(0))?;
        if n > 0 {
            return Ok(false);
        }
        let seed = |name: &str, cpu, mem, max, price: i64, features: &[&str]| {
            let spec = PlanSpec {
                cpu_millis: Some(cpu),
                memory_mb: Some(mem),
                max_replicas: Some(max),
                price_hourly: Some(Money(price)),
                features: Some(features.iter().map(|s| s.to_string()).collect()),
            };
            self.create_plan(name, &spec, now)
        };
        seed("hobby", 250, 256, 2, 7_000, &["custom_domains", "ssl"])?;
        seed(
            "standard",
            1000,
            1024,
            5,
            35_000,
            &["custom_domains", "ssl", "metrics"],
        )?;
        seed(
            "performance",
            2000,
            4096,
            20,
            140_000,
            &["custom_domains", "ssl", "metrics", "priority_builds"],
        )?;
        Ok(true)
    }
}
