//! Hourly billing: the meter, the sweep, low-balance alerts, suspension and
//! resume.
//!
//! Every minute the meter counts each app's running tasks per process type
//! (one services and one tasks call) and stores them with the app's plan and
//! price (`usage_samples`). After each sample the sweep bills every closed
//! hour the samples cover: per org, in one transaction, a usage row per app
//! and plan and one ledger entry per app, skipping apps already billed for
//! that hour. Re-running a sweep, or a daemon killed in the middle of one,
//! therefore never bills an hour twice, and the cursor (`swept_until`) only
//! moves once the hour is done, so none is skipped. Minutes the daemon missed
//! are filled from the last sample (the Swarm kept the apps running), at most
//! `billing_max_catchup_hours` back.
//!
//! After an org is billed (or credited, or debited) its wallet is checked: a
//! runway below `billing_low_balance_hours` raises one `billing_low_balance`
//! per crossing; a balance at or below `billing_suspend_threshold` suspends
//! an org that has apps on a paid plan (free plans never suspend anyone).
//! Suspended apps count as stopped (`Db::stopped`), so rollouts, restarts
//! and reconcile keep them at zero; the router answers their domains with
//! the suspended page. A credit that lifts the balance above the threshold
//! resumes the org: each app scales back to its formation.

use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::api;
use crate::docker;
use crate::error::{Error, Result};
use crate::runtime::Runtime;
use crate::store::{self, Db, Store};
use crate::units::Money;

/// Where billing reads the time: the system clock, or (tests) a file that
/// holds unix seconds or a UTC time like `2026-11-24T10:00Z`.
#[derive(Clone, Debug, Default)]
pub struct Clock {
    file: Option<PathBuf>,
}

impl Clock {
    pub fn system() -> Clock {
        Clock { file: None }
    }

    pub fn from_file(path: PathBuf) -> Clock {
        Clock { file: Some(path) }
    }

    /// Whether a test drives the time (and `admin billing:run` the sweeps).
    pub fn is_test(&self) -> bool {
        self.file.is_some()
    }

    pub fn now(&self) -> i64 {
        let Some(path) = &self.file else {
            return store::now();
        };
        let text = std::fs::read_to_string(path).unwrap_or_default();
        let t = text.trim();
        match t.parse::<i64>() {
            Ok(n) => n,
            Err(_) => crate::units::parse_utc("clock", t).unwrap_or_else(|e| {
                tracing::warn!(file = %path.display(), error = %e, "unreadable clock file; using the system clock");
                store::now()
            }),
        }
    }
}

/// What one sweep did.
#[derive(Clone, Debug, Default)]
pub struct Swept {
    /// Hours billed (their starts).
    pub hours: Vec<i64>,
    pub apps: usize,
    pub billed: Money,
    pub swept_until: Option<i64>,
    /// How long billing the hours took (sampling and wallet checks aside).
    pub ms: f64,
    /// Of which dropping samples billed a day ago.
    pub prune_ms: f64,
    pub suspended: Vec<String>,
    pub resumed: Vec<String>,
}

pub struct Billing {
    pub clock: Clock,
    /// One sample or sweep at a time.
    turn: tokio::sync::Mutex<()>,
    /// Test hook: abort the process after billing this many orgs in a sweep
    /// (`SKYPANEL_TEST_SWEEP_ABORT_AFTER`), to prove a killed sweep resumes.
    abort_after: Option<usize>,
}

/// What a wallet check decided.
#[derive(Debug, Default, PartialEq)]
pub struct Decision {
    /// Some(true) suspend, Some(false) resume.
    pub suspend: Option<bool>,
    /// Some(true) raise the low-balance alert, Some(false) re-arm it.
    pub low: Option<bool>,
}

/// The wallet rules, pure. `burn` is per hour; `paid` says whether the org
/// has apps on a priced plan.
pub fn decide(
    balance: Money,
    threshold: Money,
    burn: Money,
    paid: bool,
    low_hours: i64,
    flags: &store::OrgBilling,
) -> Decision {
    let mut d = Decision::default();
    let broke = paid && balance <= threshold;
    match (flags.suspended_at.is_some(), broke) {
        (false, true) => d.suspend = Some(true),
        (true, false) => d.suspend = Some(false),
        _ => {}
    }
    if broke {
        return d;
    }
    // Runway below the limit: balance < burn × hours.
    let low =
        low_hours > 0 && burn.0 > 0 && (balance.0 as i128) < (burn.0 as i128) * (low_hours as i128);
    match (flags.low_balance_at.is_some(), low) {
        (false, true) => d.low = Some(true),
        (true, false) => d.low = Some(false),
        _ => {}
    }
    d
}

impl Billing {
    pub fn new(clock: Clock) -> Arc<Billing> {
        let abort_after = std::env::var("SKYPANEL_TEST_SWEEP_ABORT_AFTER")
            .ok()
            .and_then(|v| v.parse().ok());
        Arc::new(Billing {
            clock,
            turn: Default::default(),
            abort_after,
        })
    }

    /// Counts the running tasks of every app and process and stores them
    /// for the current minute. Also keeps suspended apps at zero. The
    /// caller holds `turn`.
    async fn sample_locked(&self, rt: &Arc<Runtime>) -> Result<()> {
        let minute = self.clock.now().div_euclid(60);
        let engine = rt.engine().await?;
        let instance = rt.store().instance_id().to_string();
        let services = engine.services(&[(docker::INSTANCE, &instance)]).await?;
        let owner: HashMap<String, (String, String)> = services
            .iter()
            .filter_map(|s| {
                Some((
                    s.id.clone(),
                    (
                        s.labels.get(docker::APP)?.clone(),
                        s.labels.get(docker::PROCESS)?.clone(),
                    ),
                ))
            })
            .collect();
        let ids: Vec<String> = owner.keys().cloned().collect();
        let mut running: HashMap<(String, String), i64> = HashMap::new();
        for t in engine.tasks_of(&ids).await? {
            // Tasks on their way out (scaled down, stopped) are not counted.
            if t.running()
                && let Some(o) = owner.get(&t.service_id)
            {
                *running.entry(o.clone()).or_default() += 1;
            }
        }
        let (seen, suspended) = rt
            .store()
            .write(move |db| {
                let apps = db.apps_visible(None, None)?;
                let by_name: HashMap<&str, &store::App> =
                    apps.iter().map(|a| (a.name.as_str(), a)).collect();
                let mut seen = Vec::new();
                let mut suspended = HashMap::new();
                for ((app, process), n) in &running {
                    let Some(a) = by_name.get(app.as_str()) else {
                        continue;
                    };
                    seen.push((a.id, process.clone(), *n));
                    if db.org_billing(a.org_id)?.suspended_at.is_some() {
                        suspended.insert(a.id, (*a).clone());
                    }
                }
                let gap = db.setting_i64("billing_max_catchup_hours")? * 60;
                let filled = db.record_samples(minute, &seen, gap)?;
                if filled > 0 {
                    tracing::info!(
                        minutes = filled,
                        "billing: filled minutes the daemon missed from the last sample"
                    );
                }
                Ok((seen.len(), suspended))
            })
            .await?;
        tracing::debug!(minute, processes = seen, "billing sample");
        for app in suspended.into_values() {
            // A rollout that raced the suspension: back to zero.
            if let Err(e) = rt.apply_stopped(&app).await {
                tracing::warn!(app = %app.name, error = %e, "cannot keep a suspended app at zero");
            }
        }
        Ok(())
    }

    /// Samples now, then bills every closed hour before `until` that the
    /// samples cover, then checks the wallets it billed.
    pub async fn run(&self, rt: &Arc<Runtime>, until: i64) -> Result<Swept> {
        let _turn = self.turn.lock().await;
        if let Err(e) = self.sample_locked(rt).await {
            tracing::warn!(error = %e, "billing: cannot sample the running tasks");
        }
        self.sweep_locked(rt, until).await
    }

    async fn sweep_locked(&self, rt: &Arc<Runtime>, until: i64) -> Result<Swept> {
        let store = rt.store().clone();
        let abort_after = self.abort_after;
        let started = Instant::now();
        let (mut out, touched) =
            tokio::task::spawn_blocking(move || sweep(&store, until, abort_after))
                .await
                .map_err(|e| Error::Internal(format!("the sweep stopped: {e}")))??;
        out.ms = started.elapsed().as_secs_f64() * 1000.0;
        if !out.hours.is_empty() {
            tracing::info!(
                hours = out.hours.len(),
                apps = out.apps,
                billed = %out.billed,
                ms = format_args!("{:.1}", out.ms),
                "billing: hours billed"
            );
        }
        for org in touched {
            match self.check_org(rt, org).await {
                Ok(Some((name, true))) => out.suspended.push(name),
                Ok(Some((name, false))) => out.resumed.push(name),
                Ok(None) => {}
                Err(e) => tracing::error!(org, error = %e, "billing: cannot check a wallet"),
            }
        }
        Ok(out)
    }

    /// Applies the wallet rules to one org: suspends, resumes, alerts.
    /// Returns the org's name and whether it was suspended (true) or
    /// resumed (false), when either happened.
    pub async fn check_org(
        &self,
        rt: &Arc<Runtime>,
        org_id: i64,
    ) -> Result<Option<(String, bool)>> {
        let now = store::now();
        let (org, decision, balance, runway, apps) = rt
            .store()
            .write(move |db| {
                let org = db.org_name(org_id)?;
                let balance = db.balance(org_id)?;
                let threshold = Money::parse(
                    "billing_suspend_threshold",
                    &db.setting("billing_suspend_threshold")?,
                )?;
                let (burn, _) = db.burn(org_id)?;
                let d = decide(
                    balance,
                    threshold,
                    burn,
                    db.has_paid_apps(org_id)?,
                    db.setting_i64("billing_low_balance_hours")?,
                    &db.org_billing(org_id)?,
                );
                let runway = (burn.0 > 0).then(|| balance.0 as f64 / burn.0 as f64);
                let wallet = Wallet {
                    balance,
                    threshold,
                    burn,
                    runway,
                };
                record_decision(db, org_id, &org, &d, &wallet, now)?;
                let apps = if d.suspend.is_some() {
                    db.apps_visible(None, Some(org_id))?
                } else {
                    Vec::new()
                };
                Ok((org, d, balance, runway, apps))
            })
            .await?;
        if decision.low.is_some() || decision.suspend.is_some() {
            rt.events().queued();
        }
        let Some(suspend) = decision.suspend else {
            return Ok(None);
        };
        tracing::warn!(%org, suspend, balance = %balance, runway = ?runway, "billing: organization {}", if suspend { "suspended" } else { "resumed" });
        for app in &apps {
            if let Err(e) = rt.apply_stopped(app).await {
                tracing::error!(app = %app.name, error = %e, "billing: cannot scale the app");
            }
        }
        rt.routes_changed();
        Ok(Some((org, suspend)))
    }
}

/// What a sweep or a wallet change found, for the events it raises.
struct Wallet {
    balance: Money,
    threshold: Money,
    burn: Money,
    /// Hours the balance lasts at the current burn (none when nothing burns).
    runway: Option<f64>,
}

/// Stores a wallet decision (suspension, resume, the low-balance flag) and
/// raises its events, in the caller's transaction.
fn record_decision(
    db: &Db,
    org_id: i64,
    org: &str,
    d: &Decision,
    w: &Wallet,
    now: i64,
) -> Result<()> {
    let (balance, threshold, burn, runway) = (w.balance, w.threshold, w.burn, w.runway);
    let currency = db.setting("billing_currency")?;
    let money = |m: Money| format!("{} {currency}", m.format(6));
    match d.suspend {
        Some(true) => {
            db.set_suspended(org_id, Some(now))?;
            crate::webhooks::raise(
                db,
                Some((org_id, org)),
                &crate::webhooks::Raised {
                    level: "warning",
                    kind: "billing_suspended",
                    app: None,
                    node: None,
                    message: &format!(
                        "organization {org} is suspended: its balance {} is at or below {}; its apps are scaled to zero until it is credited",
                        money(balance),
                        money(threshold)
                    ),
                },
                api::event_data(&api::BillingSuspended {
                    balance: balance.format(6),
                    threshold: threshold.format(6),
                    currency: currency.clone(),
                }),
                now,
            )?;
        }
        Some(false) => {
            db.set_suspended(org_id, None)?;
            crate::webhooks::raise(
                db,
                Some((org_id, org)),
                &crate::webhooks::Raised {
                    level: "info",
                    kind: "billing_resumed",
                    app: None,
                    node: None,
                    message: &format!(
                        "organization {org} is active again (balance {}); its apps scale back to their formations",
                        money(balance)
                    ),
                },
                api::event_data(&api::BillingResumed {
                    balance: balance.format(6),
                    currency: currency.clone(),
                }),
                now,
            )?;
        }
        None => {}
    }
    match d.low {
        Some(true) => {
            db.set_low_balance(org_id, Some(now))?;
            let hours = db.setting_i64("billing_low_balance_hours")?;
            crate::webhooks::raise(
                db,
                Some((org_id, org)),
                &crate::webhooks::Raised {
                    level: "warning",
                    kind: "billing_low_balance",
                    app: None,
                    node: None,
                    message: &format!(
                        "organization {org} has {} left, {:.1} hours at {} per hour (alert below {hours} hours)",
                        money(balance),
                        runway.unwrap_or(0.0).max(0.0),
                        money(burn)
                    ),
                },
                api::event_data(&api::BillingLowBalance {
                    balance: balance.format(6),
                    burn_hourly: burn.format(6),
                    runway_hours: runway,
                    currency: currency.clone(),
                }),
                now,
            )?;
        }
        Some(false) => {
            db.set_low_balance(org_id, None)?;
        }
        None => {}
    }
    Ok(())
}

/// Rows (apps and plans) billed per transaction, about.
const BATCH: usize = 500;

/// Bills the closed hours before `until` that the samples cover. Returns
/// what it did and the orgs it billed.
fn sweep(store: &Store, until: i64, abort_after: Option<usize>) -> Result<(Swept, BTreeSet<i64>)> {
    let mut out = Swept::default();
    let mut touched = BTreeSet::new();
    let (progress, first) =
        store.read_sync(|db| Ok((db.billing_progress()?, db.first_sample_minute()?)))?;
    out.swept_until = progress.swept_until;
    let Some(last) = progress.last_minute else {
        return Ok((out, touched));
    };
    let end = until.min((last + 1) * 60).div_euclid(3600) * 3600;
    let Some(mut hour) = progress
        .swept_until
        .or(first.map(|m| (m * 60).div_euclid(3600) * 3600))
    else {
        return Ok((out, touched));
    };
    let mut orgs_billed = 0;
    while hour < end {
        let t = Instant::now();
        let rows = store.read_sync(|db| db.hour_usage(hour))?;
        tracing::debug!(
            hour,
            meters = rows.len(),
            ms = t.elapsed().as_millis() as u64,
            "billing: hour added up"
        );
        // Whole orgs per transaction, about BATCH apps each (one org each
        // under the test hook, so the abort falls between two commits).
        let orgs: Vec<&[store::HourUsage]> = rows.chunk_by(|a, b| a.org_id == b.org_id).collect();
        let mut k = 0;
        while k < orgs.len() {
            let mut n = 0;
            let mut l = k;
            while l < orgs.len() && (l == k || (n < BATCH && abort_after.is_none())) {
                n += orgs[l].len();
                l += 1;
            }
            let batch = &orgs[k..l];
            k = l;
            let billed = store.write_sync(|db| {
                batch
                    .iter()
                    .map(|chunk| Ok((chunk[0].org_id, db.bill_hour(hour, chunk)?)))
                    .collect::<Result<Vec<_>>>()
            })?;
            for (org, (apps, cost)) in billed {
                if apps == 0 {
                    continue;
                }
                out.apps += apps;
                out.billed = Money(out.billed.0 + cost.0);
                touched.insert(org);
                orgs_billed += 1;
                if abort_after.is_some_and(|n| orgs_billed >= n) {
                    tracing::error!("SKYPANEL_TEST_SWEEP_ABORT_AFTER reached: aborting mid-sweep");
                    std::process::abort();
                }
            }
        }
        tracing::debug!(
            hour,
            ms = t.elapsed().as_millis() as u64,
            "billing: hour billed"
        );
        store.write_sync(|db| db.set_swept_until(hour + 3600))?;
        out.hours.push(hour);
        out.swept_until = Some(hour + 3600);
        hour += 3600;
    }
    if !out.hours.is_empty() {
        // Billed samples are kept a day, then dropped.
        let t = Instant::now();
        store.write_sync(|db| db.prune_samples((hour - 86_400).div_euclid(60)))?;
        out.prune_ms = t.elapsed().as_secs_f64() * 1000.0;
    }
    Ok((out, touched))
}

/// Refuses work that would start or grow apps of a suspended org.
pub fn ensure_active(db: &Db, org_id: i64) -> Result<()> {
    if db.org_billing(org_id)?.suspended_at.is_none() {
        return Ok(());
    }
    let org = db.org_name(org_id)?;
    let currency = db.setting("billing_currency")?;
    Err(Error::Suspended(format!(
        "organization {org} is suspended: its balance {} {currency} is at or below the suspension threshold {} {currency}. \
         Ask an admin to add credit (`skypanel admin billing:credit -o {org} AMOUNT`); the apps start again by themselves once the balance is above the threshold",
        db.balance(org_id)?.format(6),
        Money::parse("threshold", &db.setting("billing_suspend_threshold")?)?.format(6),
    )))
}

/// Samples every minute and sweeps closed hours, until `stop`. With a test
/// clock it samples and sweeps once at start (the catch-up) and then leaves
/// it to `admin billing:run`.
pub async fn run_loop(
    billing: Arc<Billing>,
    rt: Arc<Runtime>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    loop {
        let now = billing.clock.now();
        if let Err(e) = billing.run(&rt, now).await {
            tracing::warn!(error = %e, "billing: the sweep failed; retrying next minute");
        }
        if billing.clock.is_test() {
            return;
        }
        // The next minute's first second (plus one, so the minute is open).
        let wait = 61 - store::now().rem_euclid(60);
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(wait as u64)) => {}
            _ = stop.changed() => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::OrgBilling;

    fn m(s: &str) -> Money {
        Money::parse("m", s).expect("money")
    }

    #[test]
    fn wallet_rules_suspend_resume_and_alert_once_per_crossing() {
        let none = OrgBilling::default();
        let suspended = OrgBilling {
            suspended_at: Some(1),
            low_balance_at: Some(1),
        };
        let low = OrgBilling {
            suspended_at: None,
            low_balance_at: Some(1),
        };
        // Balance at the threshold with a paid app: suspend.
        assert_eq!(
            decide(m("0"), m("0"), m("0.01"), true, 24, &none).suspend,
            Some(true)
        );
        // Only free plans: never suspended, whatever the balance.
        assert_eq!(
            decide(m("-5"), m("0"), m("0"), false, 24, &none),
            Decision::default()
        );
        // A credit above the threshold resumes; at the threshold it does not.
        assert_eq!(
            decide(m("0.01"), m("0"), m("0"), true, 24, &suspended).suspend,
            Some(false)
        );
        assert_eq!(
            decide(m("0"), m("0"), m("0"), true, 24, &suspended).suspend,
            None
        );
        // Runway 10 h < 24 h: alert once; again only after it re-armed.
        assert_eq!(
            decide(m("1"), m("0"), m("0.1"), true, 24, &none).low,
            Some(true)
        );
        assert_eq!(decide(m("1"), m("0"), m("0.1"), true, 24, &low).low, None);
        assert_eq!(
            decide(m("10"), m("0"), m("0.1"), true, 24, &low).low,
            Some(false)
        );
        // Exactly 24 h of runway is not below 24 h; 0 hours disables alerts.
        assert_eq!(
            decide(m("2.4"), m("0"), m("0.1"), true, 24, &none).low,
            None
        );
        assert_eq!(decide(m("1"), m("0"), m("0.1"), true, 0, &none).low, None);
        // A negative threshold lets the balance go below zero first.
        assert_eq!(
            decide(m("-1"), m("-5"), m("0"), true, 24, &none).suspend,
            None
        );
    }

    #[test]
    fn usage_cost_is_pro_rated_by_the_minute_and_rounded_half_up() {
        let u = |rm: i64, price: &str| store::HourUsage {
            org_id: 1,
            app_id: 1,
            app: "a".into(),
            plan: "p".into(),
            price: m(price),
            replica_minutes: rm,
            cost_x60: rm * m(price).0,
        };
        // 30 minutes × 2 replicas of 0.0070/h is 0.0070.
        assert_eq!(u(60, "0.0070").cost(), m("0.0070"));
        // One replica-minute of 0.000001/h rounds to 0; 30 of them to 0.000001.
        assert_eq!(u(1, "0.000001").cost(), Money(0));
        assert_eq!(u(30, "0.000001").cost(), Money(1));
    }
}
