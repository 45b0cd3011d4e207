//! The `deploy` job: a release's image (rebuilt from its slug when pruned),
//! its release command, its services started beside the live release, the
//! checks of each new web task, then live — or failed, with the reason,
//! leaving the live release untouched.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use super::backends::NodeAddrs;
use super::{GENERATION, Runtime, org_network, probe, process_env, service_name, short};
use crate::api::{self, ReleaseStatus};
use crate::docker::{self, Engine, ServiceDef, TaskInfo};
use crate::error::{Error, Result};
use crate::store::{self, App, Checks, Release};

/// How long tasks may take to reach `running` before a deploy gives up.
const START_TIMEOUT: Duration = Duration::from_secs(90);

/// What a deploy job does with its release.
#[derive(Debug, PartialEq)]
enum Begin {
    /// Already settled (a job run again after it finished): nothing.
    Skip,
    /// A newer release went live while this one waited: it never will.
    Supersede,
    Go,
}

fn begin(status: ReleaseStatus, newer_live: bool) -> Begin {
    match status {
        ReleaseStatus::Pending | ReleaseStatus::Deploying if newer_live => Begin::Supersede,
        ReleaseStatus::Pending | ReleaseStatus::Deploying => Begin::Go,
        _ => Begin::Skip,
    }
}

/// The formation to start: the release's, or all zero for a stopped app
/// (stopped by its users or its org suspended).
fn target_formation(formation: &store::Formation, stopped: bool) -> store::Formation {
    let mut f = formation.clone();
    if stopped {
        f.values_mut().for_each(|n| *n = 0);
    }
    f
}

/// `web (2 replicas), worker (1 replica)`.
fn describe_formation(formation: &store::Formation) -> String {
    formation
        .iter()
        .map(|(p, n)| format!("{p} ({n} {})", if *n == 1 { "replica" } else { "replicas" }))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Three tasks that ended in failure end the wait: the reason is the first
/// one's error.
fn crash_verdict(tasks: &[TaskInfo]) -> Option<String> {
    let crashed: Vec<&TaskInfo> = tasks.iter().filter(|t| t.failed()).collect();
    if crashed.len() < 3 {
        return None;
    }
    let why = crashed[0]
        .error
        .clone()
        .unwrap_or_else(|| crashed[0].state.clone());
    Some(format!(
        "tasks keep exiting ({} so far): {why}",
        crashed.len()
    ))
}

/// How long a rollout waits for its web tasks: the start timeout plus every
/// check's attempts.
fn health_deadline(checks: &Checks) -> Duration {
    START_TIMEOUT + Duration::from_secs((checks.attempts * (checks.wait + checks.timeout)) as u64)
}

impl Runtime {
    /// The `deploy` job: rolls out release `release_id`. A failed rollout is a
    /// result (the release is marked failed), not a job error; only an
    /// unreachable engine or store makes the job retry.
    pub async fn deploy(
        &self,
        release_id: i64,
        app_id: i64,
        version: i64,
    ) -> std::result::Result<(), String> {
        let r = self
            .store
            .read(move |db| db.release_by_id(release_id))
            .await
            .map_err(|e| e.to_string())?;
        // Gone, or the id now belongs to another app's release: nothing to do.
        let Some(release) = r.filter(|r| r.app_id == app_id && r.version == version) else {
            return Ok(());
        };
        let lock = self.app_lock(release.app_id);
        let _guard = lock.lock().await;
        self.rollout(release).await.map_err(|e| e.to_string())
    }

    async fn rollout(&self, release: Release) -> Result<()> {
        let rid = release.id;
        let (app, current, newer_live, stopped) = self
            .store
            .read(move |db| {
                let r = db
                    .release_by_id(rid)?
                    .ok_or_else(|| Error::Internal("release vanished".into()))?;
                let app = db.app_by_id(r.app_id)?;
                let live = db.live_release(app.id)?;
                let newer = live.as_ref().is_some_and(|l| l.version > r.version);
                let stopped = db.stopped(&app)?;
                Ok((app, r, newer, stopped))
            })
            .await?;
        match begin(current.status, newer_live) {
            Begin::Skip => return Ok(()),
            Begin::Supersede => {
                self.mark(
                    rid,
                    ReleaseStatus::Superseded,
                    Some("a newer release went live first"),
                )
                .await?;
                return Ok(());
            }
            Begin::Go => {}
        }
        self.mark(rid, ReleaseStatus::Deploying, None).await?;
        self.events
            .record(
                "info",
                "deploy_started",
                Some(&app.name),
                format!("deploying release v{}", current.version),
                api::event_data(&api::ReleaseEvent {
                    release: current.version,
                }),
            )
            .await;
        let formation = target_formation(&current.formation, stopped);
        self.prepare_and_start(&app, current, &formation).await
    }

    /// Stores a release's new status and tells its waiters.
    async fn mark(&self, rid: i64, status: ReleaseStatus, reason: Option<&str>) -> Result<()> {
        let reason = reason.map(str::to_string);
        self.store
            .write(move |db| db.mark_release(rid, status, reason.as_deref(), store::now()))
            .await?;
        self.published(rid, status);
        Ok(())
    }

    /// The image, the release command, then the new services until their
    /// web tasks pass the checks; then the release goes live, or fails.
    async fn prepare_and_start(
        &self,
        app: &App,
        current: Release,
        formation: &store::Formation,
    ) -> Result<()> {
        let (rid, t0) = (current.id, Instant::now());
        let engine = self.engine().await?;
        // Leftovers of an attempt that was interrupted.
        for s in self
            .app_services(&engine, &app.name, Some(current.version))
            .await?
        {
            engine.remove_service(&s.id).await?;
        }
        let prepared = match self.ensure_image(&engine, app, current.clone()).await? {
            Ok(r) => self.release_command(&engine, app, &r).await?.map(|()| r),
            Err(e) => Err(e),
        };
        let current = match prepared {
            Ok(r) => r,
            Err(reason) => {
                let v = current.version;
                self.say(&app.name, v, rid, format!("Release v{v} failed: {reason}"));
                return self.fail_release(app, &current, reason).await;
            }
        };
        tracing::debug!(
            release = rid,
            ms = t0.elapsed().as_millis() as u64,
            "rollout: image and release command ready"
        );
        let shown = describe_formation(formation);
        self.say(
            &app.name,
            current.version,
            rid,
            format!("Deploying {shown}"),
        );
        match self
            .start_set(&engine, app, &current, formation, "")
            .await?
        {
            Ok(new) => self.go_live(&engine, app, current, &new, &shown, t0).await,
            Err(reason) => {
                let v = current.version;
                self.say(
                    &app.name,
                    v,
                    rid,
                    format!("Release v{v} failed its checks: {reason}"),
                );
                tracing::warn!(app = %app.name, %reason, "release failed its checks");
                self.fail_release(app, &current, reason).await
            }
        }
    }

    /// The new services passed: the release goes live (the previous one is
    /// superseded in the same transaction), the old services drain and go.
    async fn go_live(
        &self,
        engine: &Engine,
        app: &App,
        current: Release,
        new: &[String],
        shown: &str,
        t0: Instant,
    ) -> Result<()> {
        let (rid, version) = (current.id, current.version);
        self.say(
            &app.name,
            version,
            rid,
            format!("Release v{version} is healthy; taking traffic"),
        );
        self.store
            .write(move |db| db.promote_release(&current, store::now()))
            .await?;
        self.published(rid, ReleaseStatus::Live);
        self.routes_changed();
        self.remove_other_services(engine, app, new, None).await?;
        tracing::info!(app = %app.name, version, ms = t0.elapsed().as_millis() as u64, "release live");
        self.events
            .record(
                "info",
                "deploy",
                Some(&app.name),
                format!("release v{version} is live ({shown})"),
                api::event_data(&api::ReleaseEvent { release: version }),
            )
            .await;
        if let Err(e) = self.prune_images(engine, app).await {
            tracing::warn!(app = %app.name, error = %e, "cannot prune old release images");
        }
        Ok(())
    }

    /// Marks a release failed with its reason and records the event; the
    /// live release is untouched.
    async fn fail_release(&self, app: &App, release: &Release, reason: String) -> Result<()> {
        self.mark(release.id, ReleaseStatus::Failed, Some(&reason))
            .await?;
        self.events
            .record(
                "error",
                "deploy_failed",
                Some(&app.name),
                format!("release v{} failed", release.version),
                api::event_data(&api::ReleaseFailed {
                    release: release.version,
                    reason,
                }),
            )
            .await;
        Ok(())
    }

    /// The release with an image that exists: a buildpack release whose
    /// image was pruned is rebuilt from its stored slug.
    async fn ensure_image(
        &self,
        engine: &Engine,
        app: &App,
        release: Release,
    ) -> Result<std::result::Result<Release, String>> {
        if engine.image_exists(&release.run.image).await? {
            return Ok(Ok(release));
        }
        let (Some(slug), Some(runner)) = (release.run.slug.clone(), release.run.runner.clone())
        else {
            return Ok(Err(format!(
                "its image {} is no longer on this server",
                release.run.image
            )));
        };
        self.say(
            &app.name,
            release.version,
            release.id,
            format!("Rebuilding the image of v{} from its slug", release.version),
        );
        let artifacts =
            crate::artifacts::Artifacts::from_settings(&self.store, &self.data_dir).await?;
        let work =
            self.data_dir
                .join("tmp")
                .join(format!("rebuild-{}-{}", release.id, store::now()));
        match crate::build::herokuish::rebuild_from_slug(
            engine, &artifacts, app, &slug, &runner, &work,
        )
        .await
        {
            Ok(image) => {
                let (rid, img) = (release.id, image.clone());
                self.store
                    .write(move |db| db.set_release_image(rid, &img))
                    .await?;
                tracing::info!(app = %app.name, version = release.version, %image, "image rebuilt from the slug");
                let mut r = release;
                r.run.image = image;
                Ok(Ok(r))
            }
            Err(e) => Ok(Err(format!(
                "its image was pruned and cannot be rebuilt: {e}"
            ))),
        }
    }

    /// The app's org network, created when missing.
    async fn ensure_org_network(&self, engine: &Engine, app: &App) -> Result<String> {
        let network = org_network(self.store.instance_id(), &app.org);
        engine
            .ensure_network(
                &network,
                HashMap::from([
                    (
                        docker::INSTANCE.into(),
                        self.store.instance_id().to_string(),
                    ),
                    (docker::ORG.into(), app.org.clone()),
                ]),
            )
            .await?;
        Ok(network)
    }

    /// Runs the release's release command (Procfile `release:`, app.json
    /// `scripts.predeploy`) once, in a one-off container of the new image
    /// with the release's config, before the release takes traffic.
    async fn release_command(
        &self,
        engine: &Engine,
        app: &App,
        release: &Release,
    ) -> Result<std::result::Result<(), String>> {
        let Some(cmd) = release.run.release_command.clone() else {
            return Ok(Ok(()));
        };
        let rid = release.id;
        let config = self
            .store
            .read(move |db| {
                let r = db
                    .release_by_id(rid)?
                    .ok_or_else(|| Error::Internal("release vanished".into()))?;
                db.release_config(&r)
            })
            .await?;
        self.say(
            &app.name,
            release.version,
            rid,
            format!("Running the release command: {}", cmd.join(" ")),
        );
        let name = format!(
            "sp-release-{}-{}-v{}",
            self.store.instance_id().get(..8).unwrap_or_default(),
            app.name,
            release.version
        );
        let _ = engine.remove_container(&name).await;
        let mut labels = self.labels(app, release.version, "release");
        labels.insert(GENERATION.to_string(), "release".into());
        labels.insert(docker::ONEOFF.to_string(), "release".into());
        let id = engine
            .create_container(&docker::RunDef {
                name,
                image: release.run.image.clone(),
                cmd: Some(cmd),
                env: process_env(&config).0,
                labels,
                network: Some(self.ensure_org_network(engine, app).await?),
                ..Default::default()
            })
            .await?;
        let code = engine
            .run_to_end(&id, |l| {
                self.say_as(
                    "release",
                    &app.name,
                    release.version,
                    rid,
                    format!("       {l}"),
                )
            })
            .await;
        let _ = engine.remove_container(&id).await;
        match code? {
            0 => Ok(Ok(())),
            n => Ok(Err(format!("the release command exited with {n}"))),
        }
    }

    /// Starts `formation` of `release` as a new set of services (named with
    /// `tag` when not empty) and waits until its web tasks pass the checks.
    /// On failure the new services are removed and the reason returned.
    pub(super) async fn start_set(
        &self,
        engine: &Engine,
        app: &App,
        release: &Release,
        formation: &store::Formation,
        tag: &str,
    ) -> Result<std::result::Result<Vec<String>, String>> {
        let rid = release.id;
        let a = app.clone();
        let (plan, checks, config) = self
            .store
            .read(move |db| {
                let r = db
                    .release_by_id(rid)?
                    .ok_or_else(|| Error::Internal("release vanished".into()))?;
                Ok((
                    db.plan_named(&a.plan)?,
                    db.checks(&a)?,
                    db.release_config(&r)?,
                ))
            })
            .await?;
        let network = self.ensure_org_network(engine, app).await?;
        let (env, port) = process_env(&config);
        let mut created = Vec::new();
        let mut web = None;
        for (process, count) in formation {
            let mut name = service_name(&app.name, process, release.version);
            if !tag.is_empty() {
                name = format!("{name}-{tag}");
            }
            let mut labels = self.labels(app, release.version, process);
            labels.insert(
                GENERATION.to_string(),
                if tag.is_empty() {
                    "0".into()
                } else {
                    tag.to_string()
                },
            );
            let def = ServiceDef {
                name,
                image: release.run.image.clone(),
                env: env.clone(),
                labels,
                replicas: (*count).max(0) as u64,
                cpu_millis: plan.cpu_millis,
                memory_mb: plan.memory_mb,
                port: (process == "web").then_some(port),
                network: network.clone(),
                command: release.run.commands.get(process).cloned(),
            };
            let id = engine.create_service(&def).await?;
            tracing::debug!(service = %id, "service created");
            if process == "web" && *count > 0 {
                web = Some((id.clone(), *count as usize));
            }
            created.push(id);
        }
        let outcome = match &web {
            Some((id, count)) => self.wait_healthy(engine, id, *count, &checks).await,
            None => Ok(()),
        };
        match outcome {
            Ok(()) => Ok(Ok(created)),
            Err(reason) => {
                for id in &created {
                    engine.remove_service(id).await?;
                }
                Ok(Err(reason))
            }
        }
    }

    /// Removes the app's services except `keep` (only those of `process` when
    /// given), draining their tasks first.
    pub(super) async fn remove_other_services(
        &self,
        engine: &Engine,
        app: &App,
        keep: &[String],
        process: Option<&str>,
    ) -> Result<()> {
        let mut doomed = Vec::new();
        for s in self.app_services(engine, &app.name, None).await? {
            if keep.contains(&s.id)
                || process
                    .is_some_and(|p| s.labels.get(docker::PROCESS).map(String::as_str) != Some(p))
            {
                continue;
            }
            doomed.push(s.id);
        }
        let mut tasks = Vec::new();
        for id in &doomed {
            tasks.extend(
                engine
                    .tasks(id)
                    .await?
                    .into_iter()
                    .filter(TaskInfo::running)
                    .map(|t| t.id),
            );
        }
        self.drain(tasks).await;
        for id in &doomed {
            engine.remove_service(id).await?;
        }
        Ok(())
    }

    /// Waits until `count` web tasks run and each passes the checks. The error
    /// says which check failed and how.
    async fn wait_healthy(
        &self,
        engine: &Engine,
        service: &str,
        count: usize,
        checks: &Checks,
    ) -> std::result::Result<(), String> {
        let started = Instant::now();
        let mut healthy: Vec<String> = Vec::new();
        let mut failures: HashMap<String, i64> = HashMap::new();
        let mut last = String::from("no task started");
        let mut nodes = NodeAddrs::default();
        loop {
            let mut probed_and_failed = false;
            let tasks = engine.tasks(service).await.map_err(|e| e.to_string())?;
            if let Some(why) = crash_verdict(&tasks) {
                return Err(why);
            }
            let running: Vec<&TaskInfo> = tasks
                .iter()
                .filter(|t| t.running() && t.port.is_some())
                .collect();
            for t in &running {
                if healthy.contains(&t.id) {
                    continue;
                }
                let Some(port) = t.port else { continue };
                let addr = nodes
                    .get(engine, &t.node_id)
                    .await
                    .map_err(|e| e.to_string())?;
                tracing::debug!(task = %t.id, ms = started.elapsed().as_millis() as u64, "task running; probing");
                match probe(&addr, port, checks).await {
                    Ok(()) => {
                        self.tasks.mark_healthy(&t.id);
                        healthy.push(t.id.clone());
                    }
                    Err(e) => {
                        probed_and_failed = true;
                        let n = failures.entry(t.id.clone()).or_default();
                        *n += 1;
                        last = e;
                        if *n >= checks.attempts {
                            return Err(format!(
                                "task {} failed {} checks: {last}",
                                short(&t.id),
                                checks.attempts
                            ));
                        }
                    }
                }
            }
            let live: usize = running.iter().filter(|t| healthy.contains(&t.id)).count();
            if live >= count {
                return Ok(());
            }
            if started.elapsed() > health_deadline(checks) {
                return Err(format!(
                    "{live} of {count} web tasks became healthy in time; last: {last}"
                ));
            }
            let pause = if probed_and_failed {
                Duration::from_secs(checks.wait.max(1) as u64)
            } else {
                Duration::from_millis(25)
            };
            tokio::time::sleep(pause).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn a_deploy_job_goes_only_for_an_unsettled_release_with_no_newer_live_one() {
        use ReleaseStatus::*;
        assert_eq!(begin(Pending, false), Begin::Go);
        // A job retried after the engine was unreachable mid-rollout.
        assert_eq!(begin(Deploying, false), Begin::Go);
        assert_eq!(begin(Pending, true), Begin::Supersede);
        assert_eq!(begin(Deploying, true), Begin::Supersede);
        for settled in [Live, Failed, Superseded] {
            assert_eq!(begin(settled, false), Begin::Skip);
            assert_eq!(begin(settled, true), Begin::Skip);
        }
    }

    #[test]
    fn a_stopped_app_starts_its_release_at_zero_with_its_process_types() {
        let f: store::Formation = BTreeMap::from([("web".into(), 2), ("worker".into(), 1)]);
        assert_eq!(target_formation(&f, false), f);
        let zero = target_formation(&f, true);
        assert_eq!(zero.keys().collect::<Vec<_>>(), vec!["web", "worker"]);
        assert!(zero.values().all(|n| *n == 0));
    }

    #[test]
    fn the_deploy_line_names_each_process_and_its_replicas() {
        let f: store::Formation = BTreeMap::from([("web".into(), 1), ("worker".into(), 3)]);
        assert_eq!(
            describe_formation(&f),
            "web (1 replica), worker (3 replicas)"
        );
        let f: store::Formation = BTreeMap::from([("web".into(), 0)]);
        assert_eq!(describe_formation(&f), "web (0 replicas)");
    }

    fn task(state: &str, error: Option<&str>) -> TaskInfo {
        TaskInfo {
            id: format!("t-{state}"),
            state: state.into(),
            desired: "running".into(),
            error: error.map(str::to_string),
            ..Default::default()
        }
    }

    #[test]
    fn a_rollout_gives_up_on_the_third_crashed_task_with_the_first_error() {
        let mut tasks = vec![
            task("running", None),
            task("failed", Some("task: non-zero exit (1)")),
            task("rejected", None),
        ];
        assert_eq!(
            crash_verdict(&tasks),
            None,
            "two crashes: Swarm may still get one up"
        );
        tasks.push(task("failed", Some("task: non-zero exit (2)")));
        assert_eq!(
            crash_verdict(&tasks).as_deref(),
            Some("tasks keep exiting (3 so far): task: non-zero exit (1)")
        );
        let rejected = vec![
            task("rejected", None),
            task("rejected", None),
            task("rejected", None),
        ];
        assert_eq!(
            crash_verdict(&rejected).as_deref(),
            Some("tasks keep exiting (3 so far): rejected")
        );
    }

    #[test]
    fn the_health_wait_grows_with_the_checks() {
        let checks = Checks {
            enabled: true,
            path: "/".into(),
            attempts: 3,
            timeout: 5,
            wait: 2,
        };
        assert_eq!(health_deadline(&checks), Duration::from_secs(90 + 21));
    }
}
