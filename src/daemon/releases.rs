//! Releases, deploys, rollbacks, process formation and deploy checks.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{Path, State as S};
use axum::http::StatusCode;

use super::State;
use super::auth::{Caller, active_app, app_access};
use super::error::{ApiError, Body};
use crate::api;
use crate::error::{Error, Result, invalid};
use crate::runtime::release_and_queue;
use crate::store::{self, Checks, Release, ReleaseStatus};

type R<T> = std::result::Result<T, ApiError>;

pub(super) fn view(r: &Release) -> api::Release {
    api::Release {
        version: r.version,
        status: r.status,
        image: r.run.image.clone(),
        formation: r.formation.clone(),
        description: r.description.clone(),
        reason: r.reason.clone(),
        created_by: r.created_by.clone(),
        created_at: api::time(r.created_at),
        finished_at: r.finished_at.map(api::time),
    }
}

fn process_name(p: &str) -> Result<()> {
    let ok = !p.is_empty()
        && p.len() <= 20
        && p.as_bytes()[0].is_ascii_lowercase()
        && p.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(invalid(format!(
            "process type \"{}\" is invalid: use lowercase letters, digits, dashes and underscores, like web or worker",
            crate::validate::printable(p)
        )))
    }
}

pub async fn list(
    S(state): S<State>,
    caller: Caller,
    Path(name): Path<String>,
) -> R<Json<Vec<api::Release>>> {
    let list = state
        .store
        .read(move |db| {
            let app = app_access(db, &caller, &name)?;
            Ok(db.releases(&app)?.iter().map(view).collect())
        })
        .await?;
    Ok(Json(list))
}

fn parse_version(v: &str) -> Result<i64> {
    v.trim_start_matches('v').parse().map_err(|_| {
        invalid(format!(
            "release \"{}\" is not a version: write it like v3 or 3",
            crate::validate::printable(v)
        ))
    })
}

pub async fn show(
    S(state): S<State>,
    caller: Caller,
    Path((name, version)): Path<(String, String)>,
    axum::extract::Query(q): axum::extract::Query<api::ReleaseQuery>,
) -> R<Json<api::Release>> {
    let read = |state: &State| {
        let (c, n, v) = (caller.clone(), name.clone(), version.clone());
        let store = state.store.clone();
        async move {
            store
                .read(move |db| {
                    let app = app_access(db, &c, &n)?;
                    let v = parse_version(&v)?;
                    let r = db.release(&app, v)?;
                    Ok((r.id, view(&r)))
                })
                .await
        }
    };
    let (id, r) = read(&state).await?;
    if !q.wait || r.status.settled() {
        return Ok(Json(r));
    }
    // Subscribe, then read again: a change between the two reads is not lost.
    let mut status = state.runtime.watch_status(id);
    let deadline = tokio::time::Instant::now() + api::RELEASE_WAIT;
    let mut timed_out = false;
    loop {
        let (_, r) = read(&state).await?;
        if r.status.settled() || timed_out {
            return Ok(Json(r));
        }
        timed_out = tokio::time::timeout_at(deadline, status.changed())
            .await
            .is_err();
    }
}

pub async fn deploy(
    S(state): S<State>,
    caller: Caller,
    Path(name): Path<String>,
    Body(req): Body<api::Deploy>,
) -> R<(StatusCode, Json<api::Release>)> {
    let n = name.clone();
    let c = caller.clone();
    let app = state.store.read(move |db| active_app(db, &c, &n)).await?;
    let process = req.process.unwrap_or_else(|| "web".into());
    process_name(&process)?;
    if req.image.trim().is_empty() || req.image.chars().any(char::is_whitespace) {
        return Err(invalid("the image name is empty or has spaces: give it like shop:1.4").into());
    }
    let engine = state.engine.get().await?;
    if !engine.image_exists(&req.image).await? {
        return Err(Error::NotFound(format!(
            "image {} is not on this server: build or load it first (`docker images` lists what is there)",
            crate::validate::printable(&req.image)
        ))
        .into());
    }
    let _hold = state.runtime.hold_tags(app.id);
    let image = engine.tag_for_app(&req.image, &app.name).await?;
    let source = req.image.clone();
    let by = caller.user.email.clone();
    let r = state
        .store
        .write(move |db| {
            let app = db.app_by_id(app.id)?;
            db.check_deploy_limit(&app, store::now())?;
            // The formation names the process this image runs.
            let mut formation = db.formation(&app)?;
            if !formation.contains_key(&process) {
                formation = BTreeMap::from([(process.clone(), 1)]);
                db.set_formation(&app, &formation)?;
            }
            let config = db.config(&app)?;
            release_and_queue(
                db,
                &app,
                &store::Run::image(&image),
                &config,
                &format!("Deploy {source}"),
                &by,
            )
        })
        .await?;
    state.jobs_wake.notify_one();
    tracing::info!(app = %name, version = r.version, image = %r.run.image, "deploy queued");
    Ok((StatusCode::ACCEPTED, Json(view(&r))))
}

pub async fn rollback(
    S(state): S<State>,
    caller: Caller,
    Path(name): Path<String>,
    Body(req): Body<api::Rollback>,
) -> R<(StatusCode, Json<api::Release>)> {
    let by = caller.user.email.clone();
    let n = name.clone();
    let target = state
        .store
        .read(move |db| {
            let app = active_app(db, &caller, &n)?;
            let live = db.live_release(app.id)?.ok_or_else(|| {
                Error::Conflict(format!(
                    "{} has no live release to roll back from",
                    app.name
                ))
            })?;
            let target = match req.version {
                Some(v) => db.release(&app, v)?,
                None => db
                    .releases(&app)?
                    .into_iter()
                    .find(|r| r.version < live.version && r.status == ReleaseStatus::Superseded)
                    .ok_or_else(|| {
                        Error::Conflict(format!(
                            "{} has no earlier release that went live: nothing to roll back to",
                            app.name
                        ))
                    })?,
            };
            if matches!(
                target.status,
                ReleaseStatus::Failed | ReleaseStatus::Pending
            ) {
                return Err(Error::Conflict(format!(
                    "v{} never went live ({}): choose one that did (`skypanel releases -a {}`)",
                    target.version, target.status, app.name
                )));
            }
            Ok((app, target))
        })
        .await?;
    let (app, target) = target;
    let engine = state.engine.get().await?;
    // Until the new release names the old image, no prune may take it.
    let _hold = state.runtime.hold_tags(app.id);
    // A buildpack release's image is rebuilt from its slug by the rollout.
    if target.run.slug.is_none() && !engine.image_exists(&target.run.image).await? {
        return Err(Error::Conflict(format!(
            "the image of v{} ({}) is no longer on this server",
            target.version, target.run.image
        ))
        .into());
    }
    let r = state
        .store
        .write(move |db| {
            let config = db.release_config(&target)?;
            db.replace_config(&app, &config, store::now())?;
            release_and_queue(
                db,
                &app,
                &target.run,
                &config,
                &format!("Rollback to v{}", target.version),
                &by,
            )
        })
        .await?;
    state.jobs_wake.notify_one();
    Ok((StatusCode::ACCEPTED, Json(view(&r))))
}

pub async fn ps(S(state): S<State>, caller: Caller, Path(name): Path<String>) -> R<Json<api::Ps>> {
    let app = state
        .store
        .read(move |db| app_access(db, &caller, &name))
        .await?;
    // A release may go live while the engine is asked for tasks; then the
    // answer would describe a release on its way out. Read until stable.
    let mut attempts = 0;
    loop {
        let id = app.id;
        let (live, formation) = state
            .store
            .read(move |db| Ok((db.live_release(id)?, db.formation(&db.app_by_id(id)?)?)))
            .await?;
        let Some(live) = live else {
            let processes = formation
                .iter()
                .map(|(n, d)| api::Process {
                    name: n.clone(),
                    desired: *d,
                    running: 0,
                    tasks: vec![],
                })
                .collect();
            return Ok(Json(api::Ps {
                release: None,
                processes,
                backends: vec![],
            }));
        };
        let current = state.runtime.processes(&app, &live).await?;
        let live_backends = state.runtime.backends_in(&app, &current).await?;
        let mut processes = Vec::new();
        for (name, desired, tasks) in current {
            let running = tasks.iter().filter(|(t, _)| t.running()).count() as i64;
            let tasks = tasks
                .into_iter()
                .map(|(t, addr)| api::Task {
                    healthy: live_backends.iter().any(|b| b.task == t.id),
                    id: t.id,
                    slot: t.slot,
                    state: t.state,
                    node: addr,
                    port: t.port,
                    error: t.error,
                })
                .collect();
            processes.push(api::Process {
                name,
                desired: desired as i64,
                running,
                tasks,
            });
        }
        let backends: Vec<String> = live_backends
            .into_iter()
            .map(|b| format!("{}:{}", b.addr, b.port))
            .collect();
        let now_live = state
            .store
            .read(move |db| db.live_release(id))
            .await?
            .map(|r| r.version);
        attempts += 1;
        if now_live == Some(live.version) || attempts >= 5 {
            return Ok(Json(api::Ps {
                release: Some(live.version),
                processes,
                backends,
            }));
        }
    }
}

pub async fn scale(
    S(state): S<State>,
    caller: Caller,
    Path(name): Path<String>,
    Body(changes): Body<api::Formation>,
) -> R<Json<api::Formation>> {
    if changes.is_empty() {
        return Err(invalid("nothing to scale: give TYPE=COUNT, like web=2").into());
    }
    let wanted = changes.clone();
    let (app, live, plan) = state
        .store
        .read(move |db| {
            let app = app_access(db, &caller, &name)?;
            let plan = db.plan_named(&app.plan)?;
            let changes = wanted;
            // Scaling down (or to the same count) is fine while suspended.
            let now = db.formation(&app)?;
            if changes
                .iter()
                .any(|(p, n)| *n > now.get(p).copied().unwrap_or(0))
            {
                crate::billing::ensure_active(db, app.org_id)?;
            }
            Ok((app.clone(), db.live_release(app.id)?, plan))
        })
        .await?;
    for (p, n) in &changes {
        process_name(p)?;
        if *n < 0 || *n > plan.max_replicas {
            return Err(invalid(format!(
                "{p}={n} is out of range: plan {} allows 0 to {} replicas per process type",
                plan.name, plan.max_replicas
            ))
            .into());
        }
    }
    if live.is_some() {
        state.runtime.scale(&app, &changes).await?;
    }
    let f = state
        .store
        .write(move |db| {
            let mut f = db.formation(&app)?;
            f.extend(changes);
            db.set_formation(&app, &f)?;
            Ok(f)
        })
        .await?;
    Ok(Json(f))
}

fn checks_view(c: &Checks) -> api::Checks {
    api::Checks {
        enabled: c.enabled,
        path: c.path.clone(),
        attempts: c.attempts,
        timeout: c.timeout,
        wait: c.wait,
    }
}

pub async fn checks(
    S(state): S<State>,
    caller: Caller,
    Path(name): Path<String>,
) -> R<Json<api::Checks>> {
    let c = state
        .store
        .read(move |db| db.checks(&app_access(db, &caller, &name)?))
        .await?;
    Ok(Json(checks_view(&c)))
}

/// The app's latest health probes, newest first (`?lines=N`, default 50).
pub async fn checks_history(
    S(state): S<State>,
    caller: Caller,
    Path(name): Path<String>,
    axum::extract::Query(q): axum::extract::Query<api::HistoryQuery>,
) -> R<Json<Vec<api::ProbeRecord>>> {
    let lines = match &q.lines {
        None => 50,
        Some(n) => n
            .parse::<i64>()
            .ok()
            .filter(|n| (1..=1000).contains(n))
            .ok_or_else(|| {
                crate::error::Error::Invalid(format!(
                    "-n \"{}\" is not a number of probes from 1 to 1000: give one like -n 50",
                    crate::validate::printable(n)
                ))
            })?,
    };
    let probes = state
        .store
        .read(move |db| db.probes(app_access(db, &caller, &name)?.id, lines))
        .await?;
    Ok(Json(
        probes
            .into_iter()
            .map(|p| api::ProbeRecord {
                at: api::time(p.at),
                release: p.release,
                task: p.task,
                slot: p.slot,
                ok: p.ok,
                latency_ms: p.latency_ms,
                detail: p.detail,
                action: p.action,
            })
            .collect(),
    ))
}

pub async fn set_checks(
    S(state): S<State>,
    caller: Caller,
    Path(name): Path<String>,
    Body(req): Body<api::ChecksUpdate>,
) -> R<Json<api::Checks>> {
    let c = state
        .store
        .write(move |db| {
            let app = app_access(db, &caller, &name)?;
            let mut c = db.checks(&app)?;
            if let Some(p) = req.path {
                if !p.starts_with('/')
                    || p.chars().any(|ch| ch.is_whitespace() || ch.is_control())
                    || p.len() > 512
                {
                    return Err(invalid(format!(
                        "check path \"{}\" is invalid: give a URL path like /health",
                        crate::validate::printable(&p)
                    )));
                }
                c.path = p;
            }
            let range = |what: &str, v: Option<i64>, lo: i64, hi: i64, cur: i64| -> Result<i64> {
                match v {
                    None => Ok(cur),
                    Some(n) if (lo..=hi).contains(&n) => Ok(n),
                    Some(n) => Err(invalid(format!(
                        "check {what}={n} is out of range: give {lo} to {hi}"
                    ))),
                }
            };
            c.attempts = range("attempts", req.attempts, 1, 100, c.attempts)?;
            c.timeout = range("timeout", req.timeout, 1, 120, c.timeout)?;
            c.wait = range("wait", req.wait, 1, 60, c.wait)?;
            if let Some(e) = req.enabled {
                c.enabled = e;
            }
            db.set_checks(&app, &c)?;
            Ok(c)
        })
        .await?;
    Ok(Json(checks_view(&c)))
}

pub async fn restart(
    S(state): S<State>,
    caller: Caller,
    Path(name): Path<String>,
    Body(req): Body<api::Restart>,
) -> R<Json<api::Ps>> {
    let c = caller.clone();
    let n = name.clone();
    let app = state.store.read(move |db| active_app(db, &c, &n)).await?;
    if let Some(p) = &req.process {
        process_name(p)?;
    }
    state.runtime.restart(&app, req.process.as_deref()).await?;
    ps(S(state), caller, Path(name)).await
}

async fn stop_or_start(state: State, caller: Caller, name: String, stop: bool) -> R<Json<api::Ps>> {
    let c = caller.clone();
    let n = name.clone();
    let app = state
        .store
        .read(move |db| {
            if stop {
                app_access(db, &c, &n)
            } else {
                active_app(db, &c, &n)
            }
        })
        .await?;
    state.runtime.set_stopped(&app, stop).await?;
    ps(S(state), caller, Path(name)).await
}

pub async fn stop(
    S(state): S<State>,
    caller: Caller,
    Path(name): Path<String>,
) -> R<Json<api::Ps>> {
    stop_or_start(state, caller, name, true).await
}

pub async fn start(
    S(state): S<State>,
    caller: Caller,
    Path(name): Path<String>,
) -> R<Json<api::Ps>> {
    stop_or_start(state, caller, name, false).await
}

/// `apps:stats`: Docker's figures for each running task on this node, summed
/// per process type, with the router's last hour.
pub async fn stats(
    S(state): S<State>,
    caller: Caller,
    Path(name): Path<String>,
) -> R<Json<api::AppStats>> {
    let app = state
        .store
        .read(move |db| app_access(db, &caller, &name))
        .await?;
    let id = app.id;
    let live = state.store.read(move |db| db.live_release(id)).await?;
    let mut processes = Vec::new();
    if let Some(live) = &live {
        let current = state.runtime.processes(&app, live).await?;
        let restarts = state.runtime.restarts(&app, live).await?;
        let engine = state.engine.get().await?;
        for (process, desired, tasks) in current {
            let running: Vec<_> = tasks.into_iter().filter(|(t, _)| t.running()).collect();
            let samples = futures_util::future::join_all(running.iter().map(|(t, _)| {
                let engine = engine.clone();
                let c = t.container.clone();
                async move {
                    match c {
                        Some(c) => engine.container_stats(&c).await.ok().flatten(),
                        None => None,
                    }
                }
            }))
            .await;
            let mut p = api::ProcessStats {
                process: process.clone(),
                desired: desired as i64,
                running: running.len() as i64,
                cpu_percent: 0.0,
                memory_bytes: 0,
                memory_limit_bytes: 0,
                restarts: restarts.get(&process).copied().unwrap_or(0),
                unsampled: 0,
            };
            for s in samples {
                match s {
                    Some(s) => {
                        p.cpu_percent += s.cpu_percent;
                        p.memory_bytes += s.memory_bytes;
                        p.memory_limit_bytes += s.memory_limit;
                    }
                    None => p.unsampled += 1,
                }
            }
            p.cpu_percent = (p.cpu_percent * 100.0).round() / 100.0;
            processes.push(p);
        }
    }
    let w = state.router.window(&app.name);
    let minutes = state.started.elapsed().as_secs().div_ceil(60).clamp(1, 60) as f64;
    Ok(Json(api::AppStats {
        app: app.name,
        release: live.map(|l| l.version),
        processes,
        router: api::RouterStats {
            requests_last_hour: w.requests,
            requests_per_minute: ((w.requests as f64 / minutes) * 100.0).round() / 100.0,
            errors_5xx_last_hour: w.errors,
            p95_ms: w.quantile_ms(0.95).map(|v| (v * 10.0).round() / 10.0),
        },
    }))
}
