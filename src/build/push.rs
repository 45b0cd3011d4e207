//! One push: which ref deploys, whether it may build now (deploy limit, one
//! build per app, the branch unmoved while it waited, a free slot), then
//! the build with its row and stored log.

use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::sync::{OwnedMutexGuard, watch};

use super::{BuildEnd, Builds, Out, Push, Slot, ZERO, choose};
use crate::api::BuildStatus;
use crate::artifacts::Artifacts;
use crate::error::{Error, Result};
use crate::git::Source;
use crate::store::{self, App, Build};

/// The ref update a push deploys: `(old, new, ref)` of the first update to
/// one of `wanted` that does not delete it.
fn deploy_update<'a>(
    updates: &'a [(String, String, String)],
    wanted: &[String],
) -> Option<&'a (String, String, String)> {
    updates
        .iter()
        .find(|(_, new, r)| wanted.contains(r) && new != ZERO)
}

/// The refs that deploy: the app's deploy branch, else main or master.
fn deploy_refs(branch: Option<&str>) -> Vec<String> {
    match branch {
        Some(b) => vec![format!("refs/heads/{b}")],
        None => vec!["refs/heads/main".into(), "refs/heads/master".into()],
    }
}

/// What a build may start with: the app's build lock and a slot.
struct Admitted<'a> {
    _app: OwnedMutexGuard<()>,
    _slot: Slot<'a>,
}

impl Builds {
    /// Handles one push. `Err` is the short reason the push is rejected with.
    pub async fn push(&self, push: Push, out: Out) -> std::result::Result<(), String> {
        match self.push_inner(push, &out).await {
            Ok(r) => r,
            Err(e) => {
                tracing::error!(error = %e, "push failed");
                Err(format!("the push could not be handled: {e}"))
            }
        }
    }

    async fn push_inner(&self, push: Push, out: &Out) -> Result<std::result::Result<(), String>> {
        let app = push.app.clone();
        let a = app.clone();
        let (builder, branch) = self.store.read(move |db| db.build_settings(&a)).await?;
        let wanted = deploy_refs(branch.as_deref());
        let Some((old, commit, ref_name)) = deploy_update(&push.updates, &wanted).cloned() else {
            for (_, new, r) in &push.updates {
                let what = if new == ZERO { "deleted" } else { "stored" };
                out.step(&format!(
                    "{r} {what}; only {} deploys (change it with `skypanel git:set -a {} deploy-branch BRANCH`)",
                    wanted.iter().map(|w| w.trim_start_matches("refs/heads/")).collect::<Vec<_>>().join(" or "),
                    app.name
                ));
            }
            return Ok(Ok(()));
        };
        let _admitted = match self.admit(&app, &old, &ref_name, out).await? {
            Ok(a) => a,
            Err(msg) => {
                out.fail(&msg);
                return Ok(Err(msg));
            }
        };
        // What was pushed, and how to build it.
        let repo = crate::git::repo_path(&self.data_dir, &app.name);
        let (r, q, c) = (repo.clone(), push.quarantine.clone(), commit.clone());
        let source = tokio::task::spawn_blocking(move || crate::git::inspect(&r, q.as_deref(), &c))
            .await
            .map_err(|e| Error::Internal(e.to_string()))??;
        let provider = match choose(&builder, &source) {
            Ok(p) => p,
            Err(msg) => {
                out.fail(&msg);
                return Ok(Err(msg));
            }
        };
        let (a, by, name, c, rn) = (
            app.clone(),
            push.by.clone(),
            provider.name(),
            commit.clone(),
            ref_name.clone(),
        );
        let build = self
            .store
            .write(move |db| db.create_build(&a, name, &c, &rn, &by, store::now()))
            .await?;
        let job = Job {
            app: &app,
            build: &build,
            provider: &*provider,
            source: &source,
            repo: &repo,
            quarantine: push.quarantine.clone(),
        };
        self.build_and_record(job, out).await
    }

    /// The checks before a build starts; `Err` is why the push is refused.
    async fn admit(
        &self,
        app: &App,
        old: &str,
        ref_name: &str,
        out: &Out,
    ) -> Result<std::result::Result<Admitted<'_>, String>> {
        let a = app.clone();
        let limit = self
            .store
            .read(move |db| Ok(db.check_deploy_limit(&a, store::now())))
            .await?;
        let timeout = self.settings.get().build_queue_timeout;
        match limit {
            Ok(()) => {}
            Err(Error::Conflict(msg)) => return Ok(Err(msg)),
            Err(e) => return Err(e),
        }
        let until = tokio::time::Instant::now() + Duration::from_secs(timeout.max(1) as u64);
        let lock = self.app_lock(app.id);
        let guard = match lock.clone().try_lock_owned() {
            Ok(g) => g,
            Err(_) => {
                out.step(&format!(
                    "Waiting for the build of {} in progress to finish",
                    app.name
                ));
                match tokio::time::timeout_at(until, lock.lock_owned()).await {
                    Ok(g) => g,
                    Err(_) => {
                        return Ok(Err(format!(
                            "another build of {} still runs after {timeout} s (build_queue_timeout): push again later, \
                             or stop it with `skypanel builds:cancel -a {}`",
                            app.name, app.name
                        )));
                    }
                }
            }
        };
        // A push that waited for another may find the branch moved: git would
        // refuse its ref update after the deploy, so refuse it now instead.
        let rd = crate::git::repo_path(&self.data_dir, &app.name);
        let rn = ref_name.to_string();
        let current = tokio::task::spawn_blocking(move || crate::git::ref_value(&rd, &rn))
            .await
            .map_err(|e| Error::Internal(e.to_string()))??;
        if current.as_deref().unwrap_or(ZERO) != old {
            return Ok(Err(format!(
                "{} was updated by another push while this one waited: fetch, merge and push again",
                ref_name.trim_start_matches("refs/heads/")
            )));
        }
        let Some(slot) = self.slot(until, out).await? else {
            return Ok(Err(format!(
                "no build slot became free in {timeout} s (build_queue_timeout): push again later"
            )));
        };
        Ok(Ok(Admitted {
            _app: guard,
            _slot: slot,
        }))
    }

    /// Runs the build in a scratch folder with its log, then stores how it
    /// ended and the log (in the artifact store).
    async fn build_and_record(
        &self,
        job: Job<'_>,
        out: &Out,
    ) -> Result<std::result::Result<(), String>> {
        let (app, build) = (job.app, job.build);
        let (cancel_tx, cancel_rx) = watch::channel(false);
        self.cancels
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(app.id, cancel_tx);
        let work = self
            .data_dir
            .join("tmp")
            .join(format!("build-{}", build.id));
        std::fs::create_dir_all(&work)?;
        let log_path = work.join("build.log");
        let out = out.with_log(std::fs::File::create(&log_path)?);
        // Also readable by `builds:output` while the build runs.
        let live_log = self.live_log(build.id);
        let _ = std::fs::remove_file(&live_log);
        let _ = std::fs::hard_link(&log_path, &live_log);
        let result = self.run_build(&job, &work, &out, cancel_rx).await;
        self.cancels
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&app.id);
        let (status, reason) = match &result {
            Ok(Ok(())) => (BuildStatus::Succeeded, None),
            Ok(Err(BuildEnd::Canceled)) => (
                BuildStatus::Canceled,
                Some("canceled with builds:cancel".to_string()),
            ),
            Ok(Err(BuildEnd::Failed(r))) => (BuildStatus::Failed, Some(r.clone())),
            Err(e) => (BuildStatus::Failed, Some(e.to_string())),
        };
        if let Some(r) = &reason {
            out.fail(r);
        }
        // The log goes to the artifact store; losing it never fails the push.
        let log_key = match self.save_log(app, &log_path, &work).await {
            Ok(k) => Some(k),
            Err(e) => {
                tracing::warn!(app = %app.name, error = %e, "cannot store the build log");
                None
            }
        };
        let (id, r) = (build.id, reason.clone());
        self.store
            .write(move |db| {
                db.finish_build(id, status, r.as_deref(), log_key.as_deref(), store::now())
            })
            .await?;
        let _ = std::fs::remove_file(&live_log);
        let _ = tokio::fs::remove_dir_all(&work).await;
        tracing::info!(app = %app.name, build = build.number, %status, "build finished");
        match result {
            Ok(Ok(())) => Ok(Ok(())),
            Ok(Err(_)) => Ok(Err(reason.unwrap_or_default())),
            Err(e) => Err(e),
        }
    }

    fn live_log(&self, build_id: i64) -> PathBuf {
        self.data_dir
            .join("tmp")
            .join(format!("build-{build_id}.log"))
    }

    async fn save_log(&self, app: &App, log: &Path, work: &Path) -> Result<String> {
        let zst = work.join("build.log.zst");
        crate::artifacts::compress(log.to_path_buf(), zst.clone()).await?;
        let artifacts = Artifacts::from_settings(&self.store, &self.data_dir).await?;
        let key = crate::artifacts::new_key(&format!("logs/{}", app.name), "log.zst");
        artifacts.put_file(&key, &zst).await?;
        Ok(key)
    }

    /// The text of a build's log: from the running build, or the store.
    pub async fn log_text(&self, build: &Build) -> Result<String> {
        if build.status == BuildStatus::Building {
            return Ok(std::fs::read_to_string(self.live_log(build.id)).unwrap_or_default());
        }
        let Some(key) = &build.log_key else {
            return Err(Error::NotFound(format!(
                "build #{} has no stored log (the artifact store was unreachable when it ended)",
                build.number
            )));
        };
        let artifacts = Artifacts::from_settings(&self.store, &self.data_dir).await?;
        let tmp = self.data_dir.join("tmp");
        tokio::fs::create_dir_all(&tmp).await?;
        let zst = tmp.join(format!("log-{}-{}.zst", build.id, store::now()));
        let plain = zst.with_extension("txt");
        let found = artifacts.get_file(key, &zst).await?;
        let text = if found {
            crate::artifacts::decompress(zst.clone(), plain.clone()).await?;
            tokio::fs::read_to_string(&plain).await.map_err(Error::from)
        } else {
            Err(Error::NotFound(format!(
                "the log of build #{} is no longer in the artifact store ({})",
                build.number,
                artifacts.describe()
            )))
        };
        let _ = tokio::fs::remove_file(&zst).await;
        let _ = tokio::fs::remove_file(&plain).await;
        text
    }
}

/// What one build works from.
pub(super) struct Job<'a> {
    pub app: &'a App,
    pub build: &'a Build,
    pub provider: &'a dyn super::Provider,
    pub source: &'a Source,
    pub repo: &'a Path,
    pub quarantine: Option<PathBuf>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn update(old: &str, new: &str, r: &str) -> (String, String, String) {
        (old.into(), new.into(), r.into())
    }

    #[test]
    fn a_push_deploys_main_or_master_unless_a_branch_is_set() {
        assert_eq!(
            deploy_refs(None),
            vec!["refs/heads/main", "refs/heads/master"]
        );
        assert_eq!(deploy_refs(Some("prod")), vec!["refs/heads/prod"]);
        let updates = vec![
            update(ZERO, "aaa", "refs/heads/feature"),
            update("bbb", "ccc", "refs/heads/main"),
        ];
        let got = deploy_update(&updates, &deploy_refs(None)).expect("main deploys");
        assert_eq!(got.2, "refs/heads/main");
        assert!(deploy_update(&updates, &deploy_refs(Some("prod"))).is_none());
    }

    #[test]
    fn deleting_the_deploy_branch_deploys_nothing() {
        let updates = vec![update("bbb", ZERO, "refs/heads/main")];
        assert!(deploy_update(&updates, &deploy_refs(None)).is_none());
    }
}
