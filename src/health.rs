//! The health monitor: every `health_check_interval_s` each live web task
//! that has taken traffic is probed with its app's checks. After
//! `health_check_failures` failures in a row the task is replaced (see
//! [`Runtime::replace_task`]) and a `task_replaced` event goes out (log,
//! events, webhooks). Every probe is kept as telemetry for `checks:history`.
//!
//! A whole release failing is not replaced in a loop: when every web task of
//! an app fails again after a round of replacements, the monitor raises one
//! `health_alert` and holds off (the interval doubling per strike, at most an
//! hour) before it tries once more; `health_recovered` follows when the app
//! passes again.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::api;
use futures_util::StreamExt;
use tokio::sync::{Notify, watch};

use crate::docker::TaskInfo;
use crate::error::Result;
use crate::runtime::{Runtime, probe, short};
use crate::store::{self, App, Checks, Probe, Release, Store};

#[derive(Default)]
pub struct Health {
    state: Mutex<Inner>,
    figures: Mutex<BTreeMap<String, Figures>>,
    /// Wakes the monitor (a health setting changed).
    pub wake: Notify,
}

#[derive(Default)]
struct Inner {
    /// Consecutive failed probes per task.
    fails: HashMap<String, i64>,
    apps: HashMap<i64, AppState>,
}

#[derive(Default)]
struct AppState {
    /// Rounds in which every web task was due for replacement.
    strikes: u32,
    hold_until: Option<Instant>,
    alerted: bool,
}

/// Probe counts per app, for `/metrics`.
#[derive(Clone, Copy, Default)]
pub struct Figures {
    pub ok: u64,
    pub failed: u64,
    pub replaced: u64,
}

/// What one round decided for one app's due tasks.
#[derive(Debug, PartialEq)]
enum Decision {
    Replace,
    Hold,
    Alert,
}

impl Health {
    pub fn new() -> Arc<Health> {
        Arc::new(Health::default())
    }

    pub fn figures(&self) -> BTreeMap<String, Figures> {
        self.figures
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn count(&self, app: &str, f: impl FnOnce(&mut Figures)) {
        let mut m = self.figures.lock().unwrap_or_else(|p| p.into_inner());
        f(m.entry(app.to_string()).or_default())
    }

    /// Updates the failure counts with this round's results and decides
    /// what to do with the tasks that reached `limit`.
    fn decide(
        &self,
        app_id: i64,
        results: &[(String, bool)],
        limit: i64,
        interval: Duration,
        now: Instant,
    ) -> (Vec<String>, Option<Decision>, bool) {
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let mut due = Vec::new();
        for (task, ok) in results {
            if *ok {
                st.fails.remove(task);
            } else {
                let n = st.fails.entry(task.clone()).or_insert(0);
                *n += 1;
                if *n >= limit {
                    due.push(task.clone());
                }
            }
        }
        let all_ok = results.iter().all(|(_, ok)| *ok);
        let a = st.apps.entry(app_id).or_default();
        if all_ok {
            let recovered = a.alerted;
            *a = AppState::default();
            return (due, None, recovered);
        }
        if due.is_empty() {
            return (due, None, false);
        }
        let whole = due.len() == results.len();
        let decision = if !whole {
            Decision::Replace
        } else if a.strikes == 0 {
            a.strikes = 1;
            Decision::Replace
        } else {
            match a.hold_until {
                Some(t) if now < t => Decision::Hold,
                Some(_) => {
                    a.strikes += 1;
                    a.hold_until = None;
                    Decision::Replace
                }
                None => {
                    let secs = interval.as_secs().max(1) << a.strikes.min(12);
                    a.hold_until = Some(now + Duration::from_secs(secs.min(3600)));
                    if a.alerted {
                        Decision::Hold
                    } else {
                        a.alerted = true;
                        Decision::Alert
                    }
                }
            }
        };
        if decision == Decision::Replace {
            for t in &due {
                st.fails.remove(t);
            }
        }
        (due, Some(decision), false)
    }

    fn hold_left(&self, app_id: i64) -> Duration {
        let st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        st.apps
            .get(&app_id)
            .and_then(|a| a.hold_until)
            .map(|t| t.saturating_duration_since(Instant::now()))
            .unwrap_or_default()
    }

    /// Forgets tasks that no longer run, so the maps stay small.
    fn keep_only(&self, live: &std::collections::HashSet<String>, apps: &[i64]) {
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        st.fails.retain(|t, _| live.contains(t));
        st.apps.retain(|a, _| apps.contains(a));
    }
}

/// Probes every live app once.
pub async fn round(
    health: &Health,
    rt: &Runtime,
    store: &Store,
    settings: &crate::settings::Snapshot,
) -> Result<()> {
    let (interval, limit) = (
        settings.health_check_interval_s,
        settings.health_check_failures,
    );
    let apps = store
        .read(|db| {
            let mut apps = Vec::new();
            for app in db.apps_visible(None, None)? {
                if db.stopped(&app)? {
                    continue;
                }
                let Some(live) = db.live_release(app.id)? else {
                    continue;
                };
                let checks = db.checks(&app)?;
                apps.push((app, live, checks));
            }
            Ok(apps)
        })
        .await?;
    let interval = Duration::from_secs(interval.max(1) as u64);
    let ids: Vec<i64> = apps.iter().map(|(a, ..)| a.id).collect();
    let seen: Vec<Vec<String>> = futures_util::stream::iter(apps)
        .map(|(app, live, checks)| check_app(health, rt, store, app, live, checks, limit, interval))
        .buffer_unordered(16)
        .collect()
        .await;
    health.keep_only(&seen.into_iter().flatten().collect(), &ids);
    Ok(())
}

/// Probes one app's web tasks and acts on the results; returns the tasks seen.
#[allow(clippy::too_many_arguments)]
async fn check_app(
    health: &Health,
    rt: &Runtime,
    store: &Store,
    app: App,
    live: Release,
    checks: Checks,
    limit: i64,
    interval: Duration,
) -> Vec<String> {
    let processes = match rt.processes(&app, &live).await {
        Ok(p) => p,
        Err(e) => {
            tracing::warn!(app = %app.name, error = %e, "health: cannot list tasks");
            return Vec::new();
        }
    };
    let tasks: Vec<(TaskInfo, String, u16)> = processes
        .into_iter()
        .filter(|(p, ..)| p == "web")
        .flat_map(|(_, _, tasks)| tasks)
        .filter_map(|(t, addr)| {
            let port = t.port?;
            rt.in_service(&t).then_some((t, addr, port))
        })
        .collect();
    if tasks.is_empty() {
        return Vec::new();
    }
    let at = store::now();
    let results: Vec<(std::result::Result<(), String>, i64)> =
        futures_util::future::join_all(tasks.iter().map(|(_, addr, port)| async {
            let t0 = Instant::now();
            let r = probe(addr, *port, &checks).await;
            (r, t0.elapsed().as_millis() as i64)
        }))
        .await;
    let oks: Vec<(String, bool)> = tasks
        .iter()
        .zip(&results)
        .map(|((t, ..), (r, _))| (t.id.clone(), r.is_ok()))
        .collect();
    let (due, decision, recovered) = health.decide(app.id, &oks, limit, interval, Instant::now());
    let mut probes = Vec::new();
    for ((t, ..), (r, ms)) in tasks.iter().zip(&results) {
        health.count(
            &app.name,
            |f| {
                if r.is_ok() { f.ok += 1 } else { f.failed += 1 }
            },
        );
        let action = match (&decision, due.contains(&t.id)) {
            (Some(Decision::Replace), true) => "replaced",
            (Some(Decision::Hold), true) => "held",
            (Some(Decision::Alert), true) => "alert",
            _ => "none",
        };
        probes.push(Probe {
            at,
            release: live.version,
            task: t.id.clone(),
            slot: t.slot,
            ok: r.is_ok(),
            latency_ms: *ms,
            detail: r.clone().err().unwrap_or_else(|| "ok".into()),
            action: action.into(),
        });
    }
    let app_id = app.id;
    let rows = probes.clone();
    if let Err(e) = store.write(move |db| db.add_probes(app_id, &rows)).await {
        tracing::warn!(app = %app.name, error = %e, "health: cannot store probes");
    }
    let outcome = Outcome {
        decision,
        due,
        recovered,
        probes,
    };
    act(health, rt, &app, &live, &tasks, &outcome, limit).await;
    tasks.into_iter().map(|(t, ..)| t.id).collect()
}

/// What one round decided for an app.
struct Outcome {
    decision: Option<Decision>,
    /// The tasks the decision is about.
    due: Vec<String>,
    recovered: bool,
    probes: Vec<Probe>,
}

/// Replaces tasks, raises the alert or the recovery, as decided.
async fn act(
    health: &Health,
    rt: &Runtime,
    app: &App,
    live: &Release,
    tasks: &[(TaskInfo, String, u16)],
    outcome: &Outcome,
    limit: i64,
) {
    let reason = |id: &str| {
        outcome
            .probes
            .iter()
            .find(|p| p.task == id)
            .map(|p| p.detail.clone())
            .unwrap_or_default()
    };
    match outcome.decision {
        Some(Decision::Replace) => {
            for (t, ..) in tasks.iter().filter(|(t, ..)| outcome.due.contains(&t.id)) {
                let why = reason(&t.id);
                let done = match rt.replace_task(t).await {
                    Ok(how) => how,
                    Err(e) => format!("replacing it failed: {e}"),
                };
                health.count(&app.name, |f| f.replaced += 1);
                rt.events().record(
                    "warning",
                    "task_replaced",
                    Some(&app.name),
                    format!(
                        "task web.{} ({}) of {} v{} failed {limit} health checks in a row ({why}): {done}",
                        t.slot,
                        short(&t.id),
                        app.name,
                        live.version
                    ),
                    api::event_data(&api::TaskReplaced {
                        task: t.id.clone(),
                        process: "web".into(),
                        slot: t.slot,
                        release: live.version,
                        reason: why,
                    }),
                )
                .await;
            }
        }
        Some(Decision::Alert) => {
            let why = outcome.due.first().map(|t| reason(t)).unwrap_or_default();
            let hold = health.hold_left(app.id).as_secs();
            rt.events().record(
                "error",
                "health_alert",
                Some(&app.name),
                format!(
                    "every web task of {} v{} fails its health checks again after being replaced ({why}); \
                     not replacing them for {hold}s: look at `skypanel logs -a {}` and `skypanel checks:history -a {}`",
                    app.name, live.version, app.name, app.name
                ),
                api::event_data(&api::HealthAlert {
                    release: live.version,
                    reason: why,
                    hold_seconds: hold,
                }),
            )
            .await;
        }
        Some(Decision::Hold) | None => {}
    }
    if outcome.recovered {
        rt.events()
            .record(
                "info",
                "health_recovered",
                Some(&app.name),
                format!(
                    "every web task of {} v{} passes its health checks again",
                    app.name, live.version
                ),
                api::event_data(&api::ReleaseEvent {
                    release: live.version,
                }),
            )
            .await;
    }
}

/// Runs a round every `health_check_interval_s` until `stop`.
pub async fn run(
    health: Arc<Health>,
    rt: Arc<Runtime>,
    store: Store,
    settings: crate::settings::Current,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        let secs = settings.get().health_check_interval_s;
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(secs.max(1) as u64)) => {}
            _ = health.wake.notified() => {}
            _ = stop.changed() => return,
        }
        if *stop.borrow() {
            return;
        }
        if let Err(e) = round(&health, &rt, &store, &settings.get()).await {
            tracing::warn!(error = %e, "health round failed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(tasks: &[(&str, bool)]) -> Vec<(String, bool)> {
        tasks.iter().map(|(t, ok)| (t.to_string(), *ok)).collect()
    }

    #[test]
    fn one_failing_task_is_replaced_after_the_limit() {
        let h = Health::default();
        let i = Duration::from_secs(60);
        let now = Instant::now();
        for _ in 0..2 {
            let (due, d, _) = h.decide(1, &r(&[("a", true), ("b", false)]), 3, i, now);
            assert!(due.is_empty() && d.is_none());
        }
        let (due, d, _) = h.decide(1, &r(&[("a", true), ("b", false)]), 3, i, now);
        assert_eq!((due, d), (vec!["b".to_string()], Some(Decision::Replace)));
        // A pass in between starts the count again.
        h.decide(1, &r(&[("a", false)]), 2, i, now);
        h.decide(1, &r(&[("a", true)]), 2, i, now);
        let (due, _, _) = h.decide(1, &r(&[("a", false)]), 2, i, now);
        assert!(due.is_empty());
    }

    #[test]
    fn a_whole_release_failing_is_replaced_once_then_held_with_one_alert() {
        let h = Health::default();
        let i = Duration::from_secs(10);
        let t0 = Instant::now();
        let (_, d, _) = h.decide(1, &r(&[("a", false)]), 1, i, t0);
        assert_eq!(d, Some(Decision::Replace));
        // The replacement fails too: alert once, then hold.
        let (_, d, _) = h.decide(1, &r(&[("a2", false)]), 1, i, t0);
        assert_eq!(d, Some(Decision::Alert));
        let (_, d, _) = h.decide(1, &r(&[("a2", false)]), 1, i, t0 + Duration::from_secs(5));
        assert_eq!(d, Some(Decision::Hold));
        // Hold over (2 strikes: 10 s << 1 = 20 s): one more try, then a longer hold, no new alert.
        let t1 = t0 + Duration::from_secs(21);
        let (_, d, _) = h.decide(1, &r(&[("a2", false)]), 1, i, t1);
        assert_eq!(d, Some(Decision::Replace));
        let (_, d, _) = h.decide(1, &r(&[("a3", false)]), 1, i, t1);
        assert_eq!(d, Some(Decision::Hold));
        assert!(h.hold_left(1) > Duration::ZERO);
        // Passing again reports the recovery once and starts over.
        let (_, d, recovered) = h.decide(1, &r(&[("a3", true)]), 1, i, t1);
        assert!(d.is_none() && recovered);
        let (_, _, recovered) = h.decide(1, &r(&[("a3", true)]), 1, i, t1);
        assert!(!recovered);
    }
}
