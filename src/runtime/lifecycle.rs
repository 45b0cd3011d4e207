//! What users do to a running app: restart, stop and start, scale, destroy,
//! `ps`, and the health monitor's task replacement.

use std::collections::HashMap;

use super::backends::NodeAddrs;
use super::{Runtime, crypto_tag};
use crate::docker::{self, TaskInfo};
use crate::error::{Error, Result};
use crate::store::{self, App, Release};

/// The live release's services: process type, desired replicas, and the
/// tasks meant to run (or still running) with their node addresses.
pub type Processes = Vec<(String, u64, Vec<(TaskInfo, String)>)>;

/// What a restart starts again: the process types of the formation that
/// run (count above zero) and that the live release has, or only `process`.
fn restart_set(
    app: &str,
    formation: &store::Formation,
    live: &store::Formation,
    process: Option<&str>,
) -> Result<store::Formation> {
    let mut chosen = formation.clone();
    chosen.retain(|p, n| *n > 0 && process.is_none_or(|x| x == p) && live.contains_key(p));
    if let Some(p) = process
        && !chosen.contains_key(p)
    {
        return Err(Error::Invalid(format!(
            "{app} runs no process type {p}: see `skypanel ps -a {app}`"
        )));
    }
    Ok(chosen)
}

/// The tasks a scale-down to `count` takes away: Swarm stops the highest
/// slots first, so those are drained before it does.
fn leaving_on_scale_down(tasks: Vec<TaskInfo>, count: i64) -> Vec<String> {
    tasks
        .into_iter()
        .filter(|t| t.running() && t.slot > count)
        .map(|t| t.id)
        .collect()
}

impl Runtime {
    /// Rolling restart without downtime: the live release's processes (or one)
    /// start again as new services beside the running ones, which are removed
    /// once the new web tasks pass the checks.
    pub async fn restart(&self, app: &App, process: Option<&str>) -> Result<()> {
        let lock = self.app_lock(app.id);
        let _guard = lock.lock().await;
        let id = app.id;
        let (live, formation, stopped) = self
            .store
            .read(move |db| {
                let app = db.app_by_id(id)?;
                Ok((db.live_release(id)?, db.formation(&app)?, db.stopped(&app)?))
            })
            .await?;
        let live = live.ok_or_else(|| {
            Error::Conflict(format!("{} has no live release to restart", app.name))
        })?;
        if stopped {
            return Err(Error::Conflict(format!(
                "{} is stopped: start it with `skypanel ps:start -a {}`",
                app.name, app.name
            )));
        }
        let chosen = restart_set(&app.name, &formation, &live.formation, process)?;
        let engine = self.engine().await?;
        let tag = format!("r{}", crypto_tag());
        match self.start_set(&engine, app, &live, &chosen, &tag).await? {
            Ok(new) => {
                for p in chosen.keys() {
                    self.remove_other_services(&engine, app, &new, Some(p))
                        .await?;
                }
                self.event(
                    "info",
                    "restart",
                    Some(&app.name),
                    format!(
                        "restarted {}",
                        chosen.keys().cloned().collect::<Vec<_>>().join(", ")
                    ),
                )
                .await;
                Ok(())
            }
            Err(reason) => Err(Error::Conflict(format!(
                "the restart of {} failed, the running tasks were kept: {reason}",
                app.name
            ))),
        }
    }

    /// Scales the live release to zero (formation kept) or back to its formation.
    pub async fn set_stopped(&self, app: &App, stop: bool) -> Result<()> {
        let lock = self.app_lock(app.id);
        let _guard = lock.lock().await;
        let id = app.id;
        let (live, formation) = self
            .store
            .read(move |db| Ok((db.live_release(id)?, db.formation(&db.app_by_id(id)?)?)))
            .await?;
        let a = app.clone();
        // Stopped by its users or suspended: zero either way.
        let zero = self
            .store
            .write(move |db| {
                db.set_stopped(&a, stop)?;
                db.stopped(&a)
            })
            .await?;
        self.routes_changed();
        let Some(live) = live else { return Ok(()) };
        let mut target = formation.clone();
        if zero {
            target.values_mut().for_each(|n| *n = 0);
        }
        self.scale_locked(app, &live, &target).await?;
        self.event(
            "info",
            if stop { "stop" } else { "start" },
            Some(&app.name),
            format!("{} {}", if stop { "stopped" } else { "started" }, app.name),
        )
        .await;
        Ok(())
    }

    /// Scales the live release to what the app should run now: zero when it
    /// is stopped or its org suspended, else its formation (billing's
    /// suspend and resume). Scaling up goes through the usual path: the
    /// router takes a new task only once it answers.
    pub async fn apply_stopped(&self, app: &App) -> Result<()> {
        let lock = self.app_lock(app.id);
        let _guard = lock.lock().await;
        let id = app.id;
        let (live, mut target, stopped) = self
            .store
            .read(move |db| {
                let app = db.app_by_id(id)?;
                Ok((db.live_release(id)?, db.formation(&app)?, db.stopped(&app)?))
            })
            .await?;
        let Some(live) = live else { return Ok(()) };
        if stopped {
            target.values_mut().for_each(|n| *n = 0);
        }
        let r = self.scale_locked(app, &live, &target).await;
        self.routes_changed();
        r
    }

    /// Removes every service of the app (for `apps:destroy`).
    pub async fn destroy(&self, app: &App) -> Result<()> {
        let lock = self.app_lock(app.id);
        let _guard = lock.lock().await;
        let engine = self.engine().await?;
        for s in self.app_services(&engine, &app.name, None).await? {
            engine.remove_service(&s.id).await?;
        }
        for tag in engine.app_images(&app.name).await? {
            engine.untag(&tag).await?;
        }
        self.routes_changed();
        Ok(())
    }

    /// The services of the live release, with their tasks.
    pub async fn processes(&self, app: &App, live: &Release) -> Result<Processes> {
        let engine = self.engine().await?;
        let mut nodes = NodeAddrs::default();
        let mut out = Vec::new();
        let mut services = self
            .app_services(&engine, &app.name, Some(live.version))
            .await?;
        services.sort_by(|a, b| a.name.cmp(&b.name));
        for s in services {
            let process = s.labels.get(docker::PROCESS).cloned().unwrap_or_default();
            let mut tasks = Vec::new();
            for t in engine.tasks(&s.id).await? {
                if t.desired != "running" && t.state != "running" {
                    continue;
                }
                let addr = nodes.get(&engine, &t.node_id).await?;
                tasks.push((t, addr));
            }
            out.push((process, s.replicas, tasks));
        }
        Ok(out)
    }

    /// Replaces one task: it leaves the backends, then its container is
    /// killed (Swarm starts a new task in its slot); a task on another node
    /// is replaced by a rolling update of its service. Returns what was done.
    pub async fn replace_task(&self, task: &TaskInfo) -> Result<String> {
        self.tasks.first_report(&task.id);
        self.drain(vec![task.id.clone()]).await;
        let engine = self.engine().await?;
        let killed = match &task.container {
            Some(c) => engine.kill_container(c).await?,
            None => false,
        };
        if !killed {
            engine.force_update_service(&task.service_id).await?;
        }
        self.routes_changed();
        Ok(if killed {
            "container killed; Swarm starts a new task".into()
        } else {
            "service updated to replace its tasks".into()
        })
    }

    /// Tasks of the live release that ended in failure (crashed, killed by
    /// the health monitor, refused by a node), per process type, as far as
    /// Swarm's task history goes.
    pub async fn restarts(&self, app: &App, live: &Release) -> Result<HashMap<String, i64>> {
        let engine = self.engine().await?;
        let mut out = HashMap::new();
        for s in self
            .app_services(&engine, &app.name, Some(live.version))
            .await?
        {
            let process = s.labels.get(docker::PROCESS).cloned().unwrap_or_default();
            let n = engine
                .tasks(&s.id)
                .await?
                .iter()
                .filter(|t| t.failed())
                .count() as i64;
            *out.entry(process).or_insert(0) += n;
        }
        Ok(out)
    }

    /// Sets the replica count of the live release's services. The live
    /// release is read under the app's lock, so a rollout finishing meanwhile
    /// cannot leave us scaling services it just removed.
    pub async fn scale(&self, app: &App, changes: &store::Formation) -> Result<()> {
        let lock = self.app_lock(app.id);
        let _guard = lock.lock().await;
        let id = app.id;
        let (live, stopped) = self
            .store
            .read(move |db| Ok((db.live_release(id)?, db.stopped(&db.app_by_id(id)?)?)))
            .await?;
        let r = match live {
            Some(live) if !stopped => self.scale_locked(app, &live, changes).await,
            _ => Ok(()),
        };
        self.routes_changed();
        r
    }

    async fn scale_locked(
        &self,
        app: &App,
        live: &Release,
        changes: &store::Formation,
    ) -> Result<()> {
        let engine = self.engine().await?;
        let services = self
            .app_services(&engine, &app.name, Some(live.version))
            .await?;
        for (process, count) in changes {
            match services
                .iter()
                .find(|s| s.labels.get(docker::PROCESS) == Some(process))
            {
                Some(s) => {
                    let going = leaving_on_scale_down(engine.tasks(&s.id).await?, *count);
                    self.drain(going).await;
                    engine.scale_service(&s.id, (*count).max(0) as u64).await?
                }
                None if *count == 0 => {}
                None => {
                    return Err(Error::Invalid(format!(
                        "release v{} of {} has no process type {process}: deploy one that does",
                        live.version, app.name
                    )));
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn formation(pairs: &[(&str, i64)]) -> store::Formation {
        pairs
            .iter()
            .map(|(p, n)| (p.to_string(), *n))
            .collect::<BTreeMap<_, _>>()
    }

    #[test]
    fn a_restart_starts_what_runs_and_the_live_release_has() {
        let f = formation(&[("web", 2), ("worker", 0), ("clock", 1)]);
        let live = formation(&[("web", 1), ("worker", 1)]);
        assert_eq!(
            restart_set("shop", &f, &live, None).expect("all"),
            formation(&[("web", 2)])
        );
        assert_eq!(
            restart_set("shop", &f, &live, Some("web")).expect("web"),
            formation(&[("web", 2)])
        );
        // Scaled to zero, or not in the live release: refused with the fix.
        for p in ["worker", "clock", "nope"] {
            let e = restart_set("shop", &f, &live, Some(p))
                .expect_err(p)
                .to_string();
            assert_eq!(
                e,
                format!("shop runs no process type {p}: see `skypanel ps -a shop`")
            );
        }
    }

    #[test]
    fn a_scale_down_drains_the_running_tasks_of_the_slots_that_go() {
        let t = |id: &str, slot: i64, state: &str| TaskInfo {
            id: id.into(),
            slot,
            state: state.into(),
            desired: "running".into(),
            ..Default::default()
        };
        let tasks = vec![
            t("a", 1, "running"),
            t("b", 2, "running"),
            t("c", 3, "running"),
            t("d", 3, "failed"),
        ];
        assert_eq!(leaving_on_scale_down(tasks.clone(), 1), vec!["b", "c"]);
        assert_eq!(
            leaving_on_scale_down(tasks.clone(), 3),
            Vec::<String>::new()
        );
        assert_eq!(leaving_on_scale_down(tasks, 0), vec!["a", "b", "c"]);
    }
}
