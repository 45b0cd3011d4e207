//! One build, once admitted: Procfile and app.json checked, the image built
//! by the provider (cancellable), tagged as the release image, the release
//! made with its deploy job, and its rollout followed to the end.

use std::path::Path;
use std::sync::Arc;

use tokio::sync::watch;

use super::push::Job;
use super::{BuildEnd, Builds, Built, Ctx, Out, Provider, formation_for, herokuish, procfile};
use crate::artifacts::Artifacts;
use crate::docker::Limits;
use crate::error::Result;
use crate::store::{self, App, Checks, Release, ReleaseStatus};

type Ended<T> = Result<std::result::Result<T, BuildEnd>>;

/// The pushed tree's Procfile and app.json, parsed.
struct Manifests {
    procfile: Option<procfile::Procfile>,
    app_json: procfile::AppJson,
}

fn manifests(
    source: &crate::git::Source,
    checks: &Checks,
) -> std::result::Result<Manifests, String> {
    let procfile = source
        .procfile
        .as_deref()
        .map(procfile::parse_procfile)
        .transpose()?;
    let app_json = source
        .app_json
        .as_deref()
        .map(|t| procfile::parse_app_json(t, checks))
        .transpose()?
        .unwrap_or_default();
    Ok(Manifests { procfile, app_json })
}

/// How each process of the release runs (Procfile commands through the
/// provider; a buildpack app without a Procfile gets herokuish's `web`),
/// the release command, and the process types the Procfile names.
fn run_spec(provider: &dyn Provider, built: Built, m: &Manifests) -> (store::Run, Vec<String>) {
    let mut run = store::Run {
        image: String::new(),
        slug: built.slug,
        runner: built.runner,
        ..Default::default()
    };
    let mut types: Vec<String> = Vec::new();
    if let Some(p) = &m.procfile {
        for (name, cmd) in &p.processes {
            run.commands
                .insert(name.clone(), provider.command(name, cmd));
            types.push(name.clone());
        }
    }
    if provider.name() == "herokuish" && !run.commands.contains_key("web") && m.procfile.is_none() {
        run.commands
            .insert("web".into(), provider.command("web", ""));
    }
    let release_cmd = m
        .procfile
        .as_ref()
        .and_then(|p| p.release.clone())
        .or(m.app_json.predeploy.clone());
    run.release_command = release_cmd.as_deref().map(|c| provider.release_command(c));
    (run, types)
}

impl Builds {
    pub(super) async fn run_build(
        &self,
        job: &Job<'_>,
        work: &Path,
        out: &Out,
        mut cancel: watch::Receiver<bool>,
    ) -> Ended<()> {
        let app = job.app;
        out.step(&format!(
            "Building {} ({}) from {}",
            app.name,
            job.provider.name(),
            job.source.short()
        ));
        // Procfile and app.json are checked before anything is built.
        let a = app.clone();
        let base_checks = self.store.read(move |db| db.checks(&a)).await?;
        let m = match manifests(job.source, &base_checks) {
            Ok(m) => m,
            Err(e) => return Ok(Err(BuildEnd::Failed(e))),
        };
        let ctx = self.context(job, work, out).await?;
        let built = tokio::select! {
            r = job.provider.build(&ctx) => r?,
            _ = async { let _ = cancel.wait_for(|c| *c).await; } => {
                herokuish::remove_builder(&ctx).await;
                let _ = ctx.engine.untag(&ctx.tag).await;
                return Ok(Err(BuildEnd::Canceled));
            }
        };
        let built = match built {
            Ok(b) => b,
            Err(reason) => {
                let _ = ctx.engine.untag(&ctx.tag).await;
                return Ok(Err(BuildEnd::Failed(reason)));
            }
        };
        let (run, types) = run_spec(job.provider, built, &m);
        if *cancel.borrow() {
            let _ = ctx.engine.untag(&ctx.tag).await;
            return Ok(Err(BuildEnd::Canceled));
        }
        let release = self.tag_and_release(&ctx, job, run, types, &m).await?;
        self.jobs_wake.notify_one();
        out.step(&format!("Releasing v{}", release.version));
        self.follow_rollout(app, &release, out).await
    }

    /// What the provider is handed: engine, artifacts, the app's config and
    /// the build limits.
    async fn context(&self, job: &Job<'_>, work: &Path, out: &Out) -> Result<Ctx> {
        let a = job.app.clone();
        let config = self.store.read(move |db| db.config(&a)).await?;
        let settings = self.settings.get();
        let limits = Limits {
            memory_mb: settings.build_memory_limit,
            cpu_millis: settings.build_cpu_limit,
        };
        Ok(Ctx {
            engine: self.runtime.engine().await?,
            store: self.store.clone(),
            artifacts: Arc::new(Artifacts::from_settings(&self.store, &self.data_dir).await?),
            app: job.app.clone(),
            build: job.build.clone(),
            repo: job.repo.to_path_buf(),
            quarantine: job.quarantine.clone(),
            source: job.source.clone(),
            env: config.iter().map(|(k, v)| format!("{k}={v}")).collect(),
            out: out.clone(),
            work: work.to_path_buf(),
            limits,
            instance: self.store.instance_id().to_string(),
            tag: format!("skypanel-build/{}:{}", job.app.name, job.build.number),
            settings,
        })
    }

    /// Tags the image as the app's and makes the release with its deploy
    /// job, under a tag hold so an image prune running for another rollout
    /// cannot take the new tag first.
    async fn tag_and_release(
        &self,
        ctx: &Ctx,
        job: &Job<'_>,
        mut run: store::Run,
        types: Vec<String>,
        m: &Manifests,
    ) -> Result<Release> {
        let _hold = self.runtime.hold_tags(job.app.id);
        run.image = ctx.engine.tag_for_app(&ctx.tag, &job.app.name).await?;
        ctx.engine.untag(&ctx.tag).await?;
        let (a, by, id, checks) = (
            job.app.clone(),
            job.build.created_by.clone().unwrap_or_default(),
            job.build.id,
            m.app_json.checks.clone(),
        );
        let short = job.source.short().to_string();
        self.store
            .write(move |db| {
                let app = db.app_by_id(a.id)?;
                if !types.is_empty() {
                    let formation = formation_for(&db.formation(&app)?, &types);
                    db.set_formation(&app, &formation)?;
                }
                if let Some(c) = &checks {
                    db.set_checks(&app, c)?;
                }
                let config = db.config(&app)?;
                let r = crate::runtime::release_and_queue(
                    db,
                    &app,
                    &run,
                    &config,
                    &format!("Deploy {short}"),
                    &by,
                )?;
                db.set_build_release(id, r.id)?;
                Ok(r)
            })
            .await
    }

    /// Relays the rollout's lines until the release is live or failed.
    async fn follow_rollout(&self, app: &App, release: &Release, out: &Out) -> Ended<()> {
        let rid = release.id;
        let mut lines = self.runtime.watch_lines(rid);
        let mut status = self.runtime.watch_status(rid);
        loop {
            let r = self.store.read(move |db| db.release_by_id(rid)).await?;
            let Some(r) = r else {
                return Ok(Err(BuildEnd::Failed(
                    "the release vanished (was the app destroyed?)".into(),
                )));
            };
            if r.status.settled() {
                while let Ok(l) = lines.try_recv() {
                    out.progress(&l);
                }
                return self.rollout_ended(app, r, out).await;
            }
            loop {
                tokio::select! {
                    Some(l) = lines.recv() => out.progress(&l),
                    _ = status.changed() => break,
                }
            }
        }
    }

    async fn rollout_ended(&self, app: &App, r: Release, out: &Out) -> Ended<()> {
        if r.status == ReleaseStatus::Live {
            let domain = self.settings.get().default_domain.clone();
            out.done(&format!(
                "{} deployed: http://{}.{domain}",
                app.name, app.name
            ));
            return Ok(Ok(()));
        }
        let why = r.reason.unwrap_or_else(|| r.status.to_string());
        Ok(Err(BuildEnd::Failed(format!(
            "release v{} was not deployed: {why}; the live release keeps serving",
            r.version
        ))))
    }
}
