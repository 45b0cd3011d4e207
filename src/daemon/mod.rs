//! The control plane's HTTP API (axum): handlers only. The routes are
//! declared once in `routes`; `server` builds the [`State`] and serves it.

mod access;
mod admin;
mod apps;
mod auth;
mod billing;
mod certs;
mod domains;
mod error;
pub mod git;
mod logs;
mod metrics;
mod nodes;
mod orgs;
mod releases;
mod routes;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::extract::Request;
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tokio::sync::Notify;

use crate::api;
use crate::docker::EngineCell;
use crate::store::Store;

pub use error::status as error_status;
pub use routes::ROUTES;

/// What every handler is handed. Built whole by `server`.
#[derive(Clone)]
pub struct State {
    pub store: Store,
    pub data_dir: PathBuf,
    /// The settings, typed; reloaded when an admin changes one.
    pub settings: crate::settings::Current,
    /// The Docker engine, connected on first use.
    pub engine: EngineCell,
    pub runtime: Arc<crate::runtime::Runtime>,
    /// Wakes the job runner when a handler queued a job.
    pub jobs_wake: Arc<Notify>,
    /// Tells the router to rebuild its table (domains, maintenance, certs,
    /// settings changed).
    pub routes_changed: Arc<Notify>,
    /// Tells the webhook sender that deliveries were queued.
    pub webhooks_wake: Arc<Notify>,
    pub builds: Arc<crate::build::Builds>,
    /// Pushes in progress, by the secret their hook calls back with.
    pub pushes: git::Pushes,
    /// `http://127.0.0.1:PORT`: how the hook reaches this daemon.
    pub self_url: Arc<str>,
    pub router: Arc<crate::router::Router>,
    pub acme: Arc<crate::acme::Acme>,
    pub logs: Arc<crate::logs::Logs>,
    /// Set when the daemon starts shutting down: long responses (log
    /// tails) end then, so in-flight requests can finish.
    pub closing: Arc<tokio::sync::watch::Sender<bool>>,
    /// Wakes the log retention job (a retention setting changed).
    pub retention_wake: Arc<Notify>,
    pub health: Arc<crate::health::Health>,
    pub billing: Arc<crate::billing::Billing>,
    /// When this daemon started (rates over windows it has not seen whole).
    pub started: Instant,
}

impl State {
    pub fn self_url(&self) -> String {
        self.self_url.to_string()
    }
}

/// The API: the declared routes, the git endpoint, the fallback, the access log.
pub fn router(state: State) -> Router {
    routes::api_routes()
        .route(
            "/git/{repo}/{*rest}",
            get(git::serve_git).post(git::serve_git),
        )
        .route(
            "/internal/git/pre-receive",
            axum::routing::post(git::pre_receive),
        )
        .fallback(error::not_found)
        .layer(axum::middleware::from_fn(access_log))
        .with_state(state)
}

/// One line per request: method, path, status, time. Never headers or bodies.
async fn access_log(req: Request, next: Next) -> Response {
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let started = Instant::now();
    let res = next.run(req).await;
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    tracing::info!(%method, %path, status = res.status().as_u16(), ms = format_args!("{ms:.1}"), "request");
    res
}

async fn health(axum::extract::State(state): axum::extract::State<State>) -> Response {
    let db = state.store.read(|db| db.ping()).await;
    let engine = match tokio::time::timeout(std::time::Duration::from_secs(3), async {
        state.engine.get().await?.ping().await
    })
    .await
    {
        Ok(r) => r,
        Err(_) => Err(crate::error::Error::Internal(
            "the Docker engine did not answer in 3 s".into(),
        )),
    };
    let ok = db.is_ok() && engine.is_ok();
    let text = |r: &crate::error::Result<()>| match r {
        Ok(()) => "ok".to_string(),
        Err(e) => e.to_string(),
    };
    let body = api::Health {
        status: if ok { "ok" } else { "degraded" }.into(),
        version: env!("CARGO_PKG_VERSION").into(),
        database: text(&db),
        docker: text(&engine),
    };
    let code = if ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (code, axum::Json(body)).into_response()
}

/// Prometheus metrics (text format). Served on the API listener only: the
/// router does not pass `/metrics` through at panel_domain.
/// `http(s)://host` as the client reached us, for URLs we hand back (git remotes).
pub(crate) fn base_url(headers: &HeaderMap) -> String {
    let host = headers
        .get("host")
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    let proto = headers
        .get("x-forwarded-proto")
        .and_then(|h| h.to_str().ok())
        .unwrap_or("http");
    let proto = if proto == "https" { "https" } else { "http" };
    format!("{proto}://{host}")
}
