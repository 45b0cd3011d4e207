//! `git push`: the smart HTTP endpoint at `/git/APP.git`, the pre-receive
//! hook's callback, and the build API (builds, their output, cancel, build
//! settings, cache purge).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, Path, Request, State as S};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;

use super::auth::{Caller, app_access};
use super::error::{ApiError, Body as JsonBody};
use super::{State, base_url};
use crate::api;
use crate::error::{Error, Result};
use crate::store::{self, App, Build, BuildRef, User};

type R<T> = std::result::Result<T, ApiError>;

/// Routes outside the JSON API (git's protocol and the hook's callback);
/// `tests/git.rs` checks who may use them.
pub const GIT_ROUTES: &[(&str, &str)] = &[
    ("GET", "/git/{repo}/info/refs"),
    ("POST", "/git/{repo}/git-upload-pack"),
    ("POST", "/git/{repo}/git-receive-pack"),
    ("POST", "/internal/git/pre-receive"),
];

/// A push in progress: the one-time secret its hook calls back with.
#[derive(Clone)]
pub struct PushAuth {
    pub app_id: i64,
    pub email: String,
}

pub type Pushes = Arc<Mutex<HashMap<String, PushAuth>>>;

/// Removes the push's secret when the push's response ends.
struct PushGuard(Pushes, String);

impl Drop for PushGuard {
    fn drop(&mut self) {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&self.1);
    }
}

fn plain(status: StatusCode, text: &str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain")],
        format!("{text}\n"),
    )
        .into_response()
}

fn ask_for_credentials(text: &str) -> Response {
    let mut r = plain(StatusCode::UNAUTHORIZED, text);
    r.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        axum::http::HeaderValue::from_static("Basic realm=\"SkyPanel\""),
    );
    r
}

/// The API token from HTTP Basic (as the password, or the user name when
/// the password is empty) or a Bearer header.
fn token_from(headers: &HeaderMap) -> Option<String> {
    let h = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    if let Some(b) = h.strip_prefix("Bearer ") {
        return Some(b.trim().to_string());
    }
    let raw = base64::engine::general_purpose::STANDARD
        .decode(h.strip_prefix("Basic ")?.trim())
        .ok()?;
    let text = String::from_utf8(raw).ok()?;
    let (user, pass) = text.split_once(':').unwrap_or((&text, ""));
    let t = if pass.is_empty() { user } else { pass };
    (!t.is_empty()).then(|| t.to_string())
}

async fn git_user(state: &State, headers: &HeaderMap) -> std::result::Result<User, Response> {
    let Some(token) = token_from(headers) else {
        return Err(ask_for_credentials(
            "authentication required: use an API token as the password (`skypanel git:remote` sets up a credential helper)",
        ));
    };
    match state
        .store
        .write(move |db| db.authenticate(&token, store::now()))
        .await
    {
        Ok(Some(u)) => Ok(u),
        Ok(None) => Err(ask_for_credentials(
            "the API token is invalid or revoked: log in again (`skypanel login`)",
        )),
        Err(e) => Err(plain(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string())),
    }
}

/// Git's smart HTTP protocol, for members of the app's org.
pub async fn serve_git(
    S(state): S<State>,
    ConnectInfo(peer): ConnectInfo<std::net::SocketAddr>,
    Path((repo, rest)): Path<(String, String)>,
    req: Request,
) -> Response {
    let (parts, body) = req.into_parts();
    let user = match git_user(&state, &parts.headers).await {
        Ok(u) => u,
        Err(r) => return r,
    };
    let not_found = || {
        plain(
            StatusCode::NOT_FOUND,
            &format!("repository {repo} not found"),
        )
    };
    let Some(name) = repo.strip_suffix(".git").map(str::to_string) else {
        return not_found();
    };
    let query = parts.uri.query().unwrap_or_default().to_string();
    let service_ok = match (parts.method.as_str(), rest.as_str()) {
        ("GET", "info/refs") => {
            query.contains("service=git-upload-pack") || query.contains("service=git-receive-pack")
        }
        ("POST", "git-upload-pack" | "git-receive-pack") => true,
        _ => false,
    };
    if !service_ok {
        return plain(
            StatusCode::FORBIDDEN,
            "only git's smart HTTP protocol is served here (git 1.6.6 or newer)",
        );
    }
    let caller = Caller { user: user.clone() };
    let n = name.clone();
    let app = match state
        .store
        .read(move |db| app_access(db, &caller, &n))
        .await
    {
        Ok(a) => a,
        Err(Error::NotFound(_)) => return not_found(),
        Err(e) => return plain(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    };
    let data_dir = state.data_dir.clone();
    let an = app.name.clone();
    if let Err(e) = tokio::task::spawn_blocking(move || crate::git::ensure_repo(&data_dir, &an))
        .await
        .map_err(|e| Error::Internal(e.to_string()))
        .and_then(|r| r)
    {
        return plain(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string());
    }
    let mut env = Vec::new();
    let mut guard = None;
    if rest == "git-receive-pack" {
        let Ok(secret) = crate::crypto::new_token() else {
            return plain(
                StatusCode::INTERNAL_SERVER_ERROR,
                "cannot make a push secret",
            );
        };
        state
            .pushes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(
                secret.clone(),
                PushAuth {
                    app_id: app.id,
                    email: user.email.clone(),
                },
            );
        env.push((
            "SKYPANEL_HOOK_URL".to_string(),
            format!("{}/internal/git/pre-receive", state.self_url()),
        ));
        env.push(("SKYPANEL_PUSH_TOKEN".to_string(), secret.clone()));
        guard = Some(PushGuard(state.pushes.clone(), secret));
    }
    let cgi = crate::git::CgiRequest {
        project_root: crate::git::root(&state.data_dir),
        path_info: format!("/{}.git/{rest}", app.name),
        method: parts.method.to_string(),
        query,
        headers: parts.headers.clone(),
        remote_user: user.email.clone(),
        remote_addr: peer.ip().to_string(),
        env,
    };
    match crate::git::http_backend(cgi, body, guard.map(|g| Box::new(g) as Box<dyn Send>)).await {
        Ok(r) => r,
        Err(e) => plain(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    }
}

/// The pre-receive hook's callback: builds and deploys the push, answering
/// with its output line by line and, last, `\u{1}exit N`.
pub async fn pre_receive(S(state): S<State>, headers: HeaderMap, body: Bytes) -> Response {
    let secret = headers
        .get("x-skypanel-push")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let auth = state
        .pushes
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .get(&secret)
        .cloned();
    let Some(auth) = auth else {
        return plain(
            StatusCode::FORBIDDEN,
            "this is not the hook of a push in progress",
        );
    };
    let Ok(hook) = serde_json::from_slice::<api::HookPush>(&body) else {
        return plain(
            StatusCode::UNPROCESSABLE_ENTITY,
            "the hook sent no list of ref updates",
        );
    };
    let id = auth.app_id;
    // A suspended org's push is refused before anything is built.
    let app = state
        .store
        .read(move |db| {
            let app = db.app_by_id(id)?;
            crate::billing::ensure_active(db, app.org_id)?;
            Ok(app)
        })
        .await;
    let app = match app {
        Ok(a) => a,
        Err(e) => return plain(super::error_status(&e), &e.to_string()),
    };
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    let push = crate::build::Push {
        app,
        by: auth.email,
        updates: hook
            .updates
            .into_iter()
            .map(|[o, n, r]| (o, n, r))
            .collect(),
        quarantine: hook.quarantine.map(std::path::PathBuf::from),
    };
    let builds = state.builds.clone();
    let out = crate::build::Out::new(tx.clone());
    tokio::spawn(async move {
        let code = match builds.push(push, out).await {
            Ok(()) => 0,
            Err(_) => 1,
        };
        let _ = tx.send(format!("{}{code}", api::HOOK_EXIT));
    });
    let stream = futures_util::stream::unfold(Some(rx), |rx| async move {
        let mut rx = rx?;
        let line = rx.recv().await?;
        let last = line.starts_with(api::HOOK_EXIT);
        Some((
            Ok::<_, std::io::Error>(Bytes::from(format!("{line}\n"))),
            (!last).then_some(rx),
        ))
    });
    let mut res = Response::new(Body::from_stream(stream));
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        axum::http::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    res
}

fn build_view(b: &Build) -> api::Build {
    api::Build {
        number: b.number,
        builder: b.builder.clone(),
        commit: b.commit.clone(),
        branch: b.ref_name.trim_start_matches("refs/heads/").to_string(),
        status: b.status,
        reason: b.reason.clone(),
        release: b.release,
        created_by: b.created_by.clone(),
        started_at: api::time(b.started_at),
        finished_at: b.finished_at.map(api::time),
        duration_s: b.finished_at.map(|f| f - b.started_at),
    }
}

pub async fn builds(
    S(state): S<State>,
    caller: Caller,
    Path(name): Path<String>,
) -> R<Json<Vec<api::Build>>> {
    let list = state
        .store
        .read(move |db| {
            let app = app_access(db, &caller, &name)?;
            Ok(db.builds(&app)?.iter().map(build_view).collect())
        })
        .await?;
    Ok(Json(list))
}

pub async fn build_output(
    S(state): S<State>,
    caller: Caller,
    Path((name, which)): Path<(String, String)>,
) -> R<Json<api::BuildOutput>> {
    let which = if which == "latest" {
        String::new()
    } else {
        which
    };
    let build = state
        .store
        .read(move |db| {
            let app = app_access(db, &caller, &name)?;
            db.find_build(&app, BuildRef::parse(&which)?)
        })
        .await?;
    let output = state.builds.log_text(&build).await?;
    Ok(Json(api::BuildOutput {
        build: build_view(&build),
        output,
    }))
}

pub async fn cancel(
    S(state): S<State>,
    caller: Caller,
    Path(name): Path<String>,
) -> R<Json<api::Canceled>> {
    let app = state
        .store
        .read(move |db| app_access(db, &caller, &name))
        .await?;
    let canceled = state.builds.cancel(app.id);
    if !canceled {
        return Err(Error::Conflict(format!(
            "{} has no build running: nothing to cancel",
            app.name
        ))
        .into());
    }
    tracing::info!(app = %app.name, "build canceled");
    Ok(Json(api::Canceled { canceled }))
}

fn settings_view(db: &store::Db, app: &App, base: &str) -> Result<api::BuildSettings> {
    let (builder, deploy_branch) = db.build_settings(app)?;
    Ok(api::BuildSettings {
        builder,
        deploy_branch,
        git_url: format!("{base}/git/{}.git", app.name),
    })
}

pub async fn build_settings(
    S(state): S<State>,
    caller: Caller,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> R<Json<api::BuildSettings>> {
    let base = base_url(&headers);
    let v = state
        .store
        .read(move |db| {
            let app = app_access(db, &caller, &name)?;
            settings_view(db, &app, &base)
        })
        .await?;
    Ok(Json(v))
}

pub async fn update_build_settings(
    S(state): S<State>,
    caller: Caller,
    headers: HeaderMap,
    Path(name): Path<String>,
    JsonBody(req): JsonBody<api::BuildSettingsUpdate>,
) -> R<Json<api::BuildSettings>> {
    let base = base_url(&headers);
    let v = state
        .store
        .write(move |db| {
            let app = app_access(db, &caller, &name)?;
            if req.builder.is_none() && req.deploy_branch.is_none() {
                return Err(Error::Invalid(
                    "nothing to change: give builder (auto, dockerfile or herokuish) or deploy_branch".into(),
                ));
            }
            if let Some(b) = &req.builder {
                db.set_builder(&app, b)?;
            }
            if let Some(b) = &req.deploy_branch {
                let b = b.trim();
                db.set_deploy_branch(&app, (!b.is_empty()).then_some(b))?;
            }
            settings_view(db, &app, &base)
        })
        .await?;
    Ok(Json(v))
}

pub async fn purge_cache(
    S(state): S<State>,
    caller: Caller,
    Path(name): Path<String>,
) -> R<Json<api::CachePurged>> {
    let app = state
        .store
        .read(move |db| app_access(db, &caller, &name))
        .await?;
    let artifacts =
        crate::artifacts::Artifacts::from_settings(&state.store, &state.data_dir).await?;
    let n = crate::build::herokuish::purge_caches(&state.store, &artifacts, &app).await?;
    tracing::info!(app = %app.name, caches = n, "build cache purged");
    Ok(Json(api::CachePurged { caches: n }))
}
