//! Reconciliation: what Swarm runs against what the database says should
//! run, at start, every minute and on `admin reconcile`.

use std::sync::Arc;
use std::time::Duration;

use super::{Runtime, crypto_tag, short};
use crate::docker::{self, Engine, ServiceInfo};
use crate::error::Result;
use crate::store::{self, App, Release};

pub const RECONCILE_EVERY: Duration = Duration::from_secs(60);

/// What one app should run, as the database says.
struct Wanted {
    app: App,
    live: Option<Release>,
    formation: store::Formation,
    stopped: bool,
    /// Versions being rolled out now (pending or deploying).
    busy: Vec<i64>,
}

/// Why a service of this installation should go, or `None` when an app's
/// live release or a rollout explains it. `wanted` is its app, if any.
fn why_remove(s: &ServiceInfo, wanted: Option<&Wanted>) -> Option<String> {
    let app = s.labels.get(docker::APP).cloned().unwrap_or_default();
    let version: i64 = s
        .labels
        .get(docker::RELEASE)
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let Some(w) = wanted else {
        return Some(format!(
            "removed service {}: its app {app} no longer exists",
            s.name
        ));
    };
    let is_live = w.live.as_ref().is_some_and(|l| l.version == version);
    (!is_live && !w.busy.contains(&version)).then(|| {
        format!(
            "removed service {}: release v{version} of {app} is not live",
            s.name
        )
    })
}

/// The process types of a running app's live release that should run and
/// have no service (`have`: the live release's services).
fn missing_processes(w: &Wanted, live: &Release, have: &[ServiceInfo]) -> store::Formation {
    let mut missing = w.formation.clone();
    missing.retain(|p, n| {
        *n > 0
            && live.formation.contains_key(p)
            && !have
                .iter()
                .any(|s| s.labels.get(docker::PROCESS) == Some(p))
    });
    missing
}

impl Runtime {
    /// Compares the services Swarm has with what the database says should
    /// run: a live release's missing services are recreated, and services of
    /// this installation that no app, live release or rollout explains are
    /// removed. Apps being deployed right now are left alone. Returns the
    /// actions taken (each also recorded as an event).
    pub async fn reconcile(&self) -> Result<Vec<String>> {
        let engine = self.engine().await?;
        let plan = self.wanted().await?;
        let mut actions = self.remove_orphans(&engine, &plan).await?;
        actions.extend(self.report_crashes(&engine, &plan).await?);
        actions.extend(self.recreate_missing(&engine, &plan).await?);
        Ok(actions)
    }

    async fn wanted(&self) -> Result<Vec<Wanted>> {
        self.store
            .read(|db| {
                let unfinished = db.unfinished_releases()?;
                let mut out = Vec::new();
                for app in db.apps_visible(None, None)? {
                    out.push(Wanted {
                        live: db.live_release(app.id)?,
                        formation: db.formation(&app)?,
                        stopped: db.stopped(&app)?,
                        busy: unfinished
                            .iter()
                            .filter(|r| r.app_id == app.id)
                            .map(|r| r.version)
                            .collect(),
                        app,
                    });
                }
                Ok(out)
            })
            .await
    }

    async fn remove_orphans(&self, engine: &Engine, plan: &[Wanted]) -> Result<Vec<String>> {
        let services = engine
            .services(&[(docker::INSTANCE, self.store.instance_id())])
            .await?;
        let mut actions = Vec::new();
        for s in &services {
            let app = s.labels.get(docker::APP).cloned().unwrap_or_default();
            let known = plan.iter().find(|w| w.app.name == app);
            let why = match known {
                None => why_remove(s, None),
                Some(w) => {
                    let lock = self.app_lock(w.app.id);
                    let Ok(_guard) = lock.try_lock() else {
                        continue;
                    };
                    why_remove(s, Some(w))
                }
            };
            if let Some(why) = why {
                engine.remove_service(&s.id).await?;
                self.event("warning", "reconcile", Some(&app), why.clone())
                    .await;
                actions.push(why);
            }
        }
        Ok(actions)
    }

    /// Tasks of live releases that Swarm had to replace since the last look.
    async fn report_crashes(&self, engine: &Engine, plan: &[Wanted]) -> Result<Vec<String>> {
        let mut actions = Vec::new();
        for w in plan {
            let Some(live) = &w.live else { continue };
            for svc in self
                .app_services(engine, &w.app.name, Some(live.version))
                .await?
            {
                for t in engine.tasks(&svc.id).await? {
                    if !t.failed() || !self.tasks.first_report(&t.id) {
                        continue;
                    }
                    let why = t.error.clone().unwrap_or_else(|| t.state.clone());
                    let msg = format!(
                        "task {} of {} ({}) stopped: {why}; Swarm started a new one",
                        short(&t.id),
                        w.app.name,
                        svc.name
                    );
                    self.event("warning", "task_restarted", Some(&w.app.name), msg.clone())
                        .await;
                    actions.push(msg);
                }
            }
        }
        Ok(actions)
    }

    async fn recreate_missing(&self, engine: &Engine, plan: &[Wanted]) -> Result<Vec<String>> {
        let mut actions = Vec::new();
        for w in plan {
            let Some(live) = &w.live else { continue };
            if w.stopped {
                continue;
            }
            let lock = self.app_lock(w.app.id);
            let Ok(_guard) = lock.try_lock() else {
                continue;
            };
            let have = self
                .app_services(engine, &w.app.name, Some(live.version))
                .await?;
            let missing = missing_processes(w, live, &have);
            if missing.is_empty() {
                continue;
            }
            let what = missing.keys().cloned().collect::<Vec<_>>().join(", ");
            let tag = format!("r{}", crypto_tag());
            let (app, v) = (&w.app.name, live.version);
            let why = match self.start_set(engine, &w.app, live, &missing, &tag).await? {
                Ok(_) => format!("recreated {what} of v{v} of {app}: the services were missing"),
                Err(reason) => format!("could not recreate {what} of v{v} of {app}: {reason}"),
            };
            self.event("warning", "reconcile", Some(app), why.clone())
                .await;
            actions.push(why);
        }
        Ok(actions)
    }
}

/// Reconciles at start and then every `RECONCILE_EVERY`, until `stop`.
pub async fn reconcile_loop(rt: Arc<Runtime>, mut stop: tokio::sync::watch::Receiver<bool>) {
    loop {
        match rt.reconcile().await {
            Ok(actions) => {
                for a in actions {
                    tracing::warn!(action = %a, "reconciled");
                }
            }
            Err(e) => tracing::warn!(error = %e, "reconciliation failed"),
        }
        tokio::select! {
            _ = tokio::time::sleep(RECONCILE_EVERY) => {}
            _ = stop.changed() => return,
        }
        if *stop.borrow() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::ReleaseStatus;
    use std::collections::{BTreeMap, HashMap};

    fn service(name: &str, app: &str, version: &str, process: &str) -> ServiceInfo {
        ServiceInfo {
            id: name.into(),
            name: name.into(),
            labels: HashMap::from([
                (docker::APP.to_string(), app.to_string()),
                (docker::RELEASE.to_string(), version.to_string()),
                (docker::PROCESS.to_string(), process.to_string()),
            ]),
            replicas: 1,
        }
    }

    fn wanted(live: Option<i64>, busy: Vec<i64>, formation: &[(&str, i64)]) -> Wanted {
        let formation: store::Formation = formation
            .iter()
            .map(|(p, n)| (p.to_string(), *n))
            .collect::<BTreeMap<_, _>>();
        Wanted {
            app: App {
                id: 1,
                name: "shop".into(),
                ..Default::default()
            },
            live: live.map(|v| Release {
                id: v,
                app_id: 1,
                version: v,
                run: store::Run::image("x"),
                formation: formation.clone(),
                status: ReleaseStatus::Live,
                description: String::new(),
                reason: None,
                created_by: None,
                created_at: 0,
                finished_at: None,
            }),
            formation,
            stopped: false,
            busy,
        }
    }

    #[test]
    fn services_of_gone_apps_and_of_releases_not_live_are_removed() {
        let s = service("sp-shop-web-v2", "shop", "2", "web");
        assert_eq!(
            why_remove(&s, None).as_deref(),
            Some("removed service sp-shop-web-v2: its app shop no longer exists")
        );
        assert_eq!(
            why_remove(&s, Some(&wanted(Some(2), vec![], &[("web", 1)]))),
            None
        );
        assert_eq!(
            why_remove(&s, Some(&wanted(Some(3), vec![], &[("web", 1)]))).as_deref(),
            Some("removed service sp-shop-web-v2: release v2 of shop is not live")
        );
    }

    #[test]
    fn a_release_being_rolled_out_keeps_its_services() {
        let s = service("sp-shop-web-v4", "shop", "4", "web");
        assert_eq!(
            why_remove(&s, Some(&wanted(Some(3), vec![4], &[("web", 1)]))),
            None
        );
        assert_eq!(
            why_remove(&s, Some(&wanted(None, vec![4], &[("web", 1)]))),
            None
        );
    }

    #[test]
    fn missing_processes_are_those_that_should_run_and_have_no_service() {
        let w = wanted(Some(2), vec![], &[("web", 2), ("worker", 1), ("clock", 0)]);
        let live = w.live.clone().expect("live");
        let have = vec![service("sp-shop-web-v2", "shop", "2", "web")];
        let missing = missing_processes(&w, &live, &have);
        assert_eq!(missing.keys().collect::<Vec<_>>(), vec!["worker"]);
        let have = vec![
            service("sp-shop-web-v2", "shop", "2", "web"),
            service("sp-shop-worker-v2", "shop", "2", "worker"),
        ];
        assert!(missing_processes(&w, &live, &have).is_empty());
    }
}
