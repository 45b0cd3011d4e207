//! Apps and config vars.

use axum::Json;
use axum::extract::{Path, Query, State as S};
use axum::http::{HeaderMap, StatusCode};

use super::auth::{Caller, app_access, org_access};
use super::error::{ApiError, Body};
use super::{State, base_url};
use crate::api;
use crate::error::{Error, Result};
use crate::store::{self, App, Db};

type R<T> = std::result::Result<T, ApiError>;

/// The app as the API shows it; `domain` is the `default_domain` setting.
fn app(a: &App, base: &str, domain: &str) -> api::App {
    api::App {
        name: a.name.clone(),
        org: a.org.clone(),
        plan: a.plan.clone(),
        created_at: api::time(a.created_at),
        created_by: a.created_by.clone(),
        git_url: format!("{base}/git/{}.git", a.name),
        web_url: format!("http://{}.{domain}", a.name),
        config_vars: a.config_vars,
    }
}

pub async fn list(
    S(state): S<State>,
    caller: Caller,
    headers: HeaderMap,
    Query(q): Query<api::AppsQuery>,
) -> R<Json<Vec<api::App>>> {
    let base = base_url(&headers);
    let domain = state.settings.get().default_domain.clone();
    let list = state
        .store
        .read(move |db| {
            if q.all {
                caller.require_admin()?;
            }
            let org_id = match &q.org {
                Some(name) => Some(org_access(db, &caller, name)?.0.id),
                None => None,
            };
            let user = if q.all || (caller.user.is_admin && org_id.is_some()) {
                None
            } else {
                Some(caller.user.id)
            };
            Ok(db
                .apps_visible(user, org_id)?
                .iter()
                .map(|a| app(a, &base, &domain))
                .collect())
        })
        .await?;
    Ok(Json(list))
}

/// The org a new app goes to: the one named, else the caller's only org.
fn target_org(db: &Db, caller: &Caller, name: Option<&str>) -> Result<i64> {
    if let Some(name) = name {
        return Ok(org_access(db, caller, name)?.0.id);
    }
    let orgs = db.orgs_of(caller.user.id)?;
    match orgs.as_slice() {
        [] => Err(Error::Invalid(
            "you belong to no organization: create one with `skypanel orgs:create NAME`, then pass -o NAME".into(),
        )),
        [only] => Ok(db.org_by_name(&only.name)?.map(|o| o.id).unwrap_or_default()),
        many => Err(Error::Invalid(format!(
            "you belong to {} organizations ({}): say which with -o ORG",
            many.len(),
            many.iter().map(|o| o.name.as_str()).collect::<Vec<_>>().join(", ")
        ))),
    }
}

pub async fn create(
    S(state): S<State>,
    caller: Caller,
    headers: HeaderMap,
    Body(req): Body<api::CreateApp>,
) -> R<(StatusCode, Json<api::App>)> {
    let base = base_url(&headers);
    let settings = state.settings.get();
    let created = state
        .store
        .write(move |db| {
            crate::validate::app_name(&req.name)?;
            let org_id = target_org(db, &caller, req.org.as_deref())?;
            crate::billing::ensure_active(db, org_id)?;
            let plan_name = match req.plan {
                Some(p) => p,
                None => settings.default_plan.clone(),
            };
            let plan = db.plan_named(&plan_name)?;
            let a = db.create_app(&req.name, org_id, plan.id, caller.user.id, store::now())?;
            Ok(app(&a, &base, &settings.default_domain))
        })
        .await?;
    let (dir, name) = (state.data_dir.clone(), created.name.clone());
    let repo = tokio::task::spawn_blocking(move || crate::git::ensure_repo(&dir, &name))
        .await
        .map_err(|e| Error::Internal(e.to_string()))?;
    if let Err(e) = repo {
        // Made on first push instead; the app itself is fine.
        tracing::warn!(app = %created.name, error = %e, "cannot create the git repository");
    }
    tracing::info!(app = %created.name, org = %created.org, "app created");
    // Lines a destroyed app of the same name left behind late are not its.
    if let Err(e) = state.logs.delete_app(&created.name).await {
        tracing::warn!(app = %created.name, error = %e, "cannot clear old logs of the name");
    }
    Ok((StatusCode::CREATED, Json(created)))
}

pub async fn info(
    S(state): S<State>,
    caller: Caller,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> R<Json<api::App>> {
    let base = base_url(&headers);
    let domain = state.settings.get().default_domain.clone();
    let a = state
        .store
        .read(move |db| {
            let a = app_access(db, &caller, &name)?;
            Ok(app(&a, &base, &domain))
        })
        .await?;
    Ok(Json(a))
}

pub async fn destroy(
    S(state): S<State>,
    caller: Caller,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> R<Json<api::App>> {
    let base = base_url(&headers);
    let domain = state.settings.get().default_domain.clone();
    let c = caller.clone();
    let n = name.clone();
    let (target, deployed, artifacts) = state
        .store
        .read(move |db| {
            let a = app_access(db, &c, &n)?;
            let deployed = !db.releases(&a)?.is_empty();
            let artifacts = db.app_artifacts(&a)?;
            Ok((a, deployed, artifacts))
        })
        .await?;
    state.builds.cancel(target.id);
    // Services first: if the engine cannot remove them, nothing is deleted.
    if deployed {
        state.runtime.destroy(&target).await?;
    }
    let a = state
        .store
        .write(move |db| {
            let a = app_access(db, &caller, &name)?;
            let out = app(&a, &base, &domain);
            let waiting: Vec<i64> = db
                .unfinished_releases()?
                .into_iter()
                .filter(|r| r.app_id == a.id)
                .map(|r| r.id)
                .collect();
            db.destroy_app(&a)?;
            Ok((out, waiting))
        })
        .await?;
    let (a, waiting) = a;
    // Whoever waits on those releases (a push) reads again and finds them gone.
    for id in waiting {
        state.runtime.release_gone(id);
    }
    // The repository and artifacts go last: the app is already gone, so a
    // failure here only leaves files (artifacts are retried from the trash).
    let (dir, name) = (state.data_dir.clone(), a.name.clone());
    let _ = tokio::task::spawn_blocking(move || crate::git::remove_repo(&dir, &name)).await;
    if !artifacts.is_empty() {
        match crate::artifacts::Artifacts::from_settings(&state.store, &state.data_dir).await {
            Ok(store) => {
                for key in &artifacts {
                    crate::build::herokuish::delete_or_trash(&state.store, &store, key).await;
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot open the artifact store; the app's artifacts wait in the trash");
                for key in artifacts {
                    let _ = state
                        .store
                        .write(move |db| db.trash_artifact(&key, store::now()))
                        .await;
                }
            }
        }
    }
    // Its logs go too (Dokku and Heroku keep none of a destroyed app).
    if let Err(e) = state.logs.delete_app(&a.name).await {
        tracing::warn!(app = %a.name, error = %e, "cannot delete the app's logs");
    }
    tracing::info!(app = %a.name, "app destroyed");
    Ok(Json(a))
}

pub async fn config(
    S(state): S<State>,
    caller: Caller,
    Path(name): Path<String>,
) -> R<Json<api::Config>> {
    let cfg = state
        .store
        .read(move |db| {
            let a = app_access(db, &caller, &name)?;
            db.config(&a)
        })
        .await?;
    Ok(Json(cfg))
}

/// Applies the change; when the app has a live release (and `restart` is not
/// false) a new release with the new config is queued to roll it out.
pub async fn update_config(
    S(state): S<State>,
    caller: Caller,
    Path(name): Path<String>,
    Query(q): Query<api::ConfigQuery>,
    Body(patch): Body<api::ConfigPatch>,
) -> R<Json<api::ConfigUpdated>> {
    let by = caller.user.email.clone();
    let out = state
        .store
        .write(move |db| {
            let a = app_access(db, &caller, &name)?;
            db.update_config(&a, &patch, store::now())?;
            let config = db.config(&a)?;
            let mut release = None;
            if q.restart != Some(false)
                && let Some(live) = db.live_release(a.id)?
            {
                let set: Vec<&str> = patch
                    .iter()
                    .filter(|(_, v)| v.is_some())
                    .map(|(k, _)| k.as_str())
                    .collect();
                let unset: Vec<&str> = patch
                    .iter()
                    .filter(|(_, v)| v.is_none())
                    .map(|(k, _)| k.as_str())
                    .collect();
                let mut what = Vec::new();
                if !set.is_empty() {
                    what.push(format!("Set {}", set.join(", ")));
                }
                if !unset.is_empty() {
                    what.push(format!("Unset {}", unset.join(", ")));
                }
                let r = crate::runtime::release_and_queue(
                    db,
                    &a,
                    &live.run,
                    &config,
                    &what.join("; "),
                    &by,
                )?;
                release = Some(super::releases::view(&r));
            }
            Ok(api::ConfigUpdated { config, release })
        })
        .await?;
    if out.release.is_some() {
        state.jobs_wake.notify_one();
    }
    Ok(Json(out))
}
