//! The control plane: the HTTP API (axum) over the store, and the job runner.
//!
//! [`serve`] takes a bound listener and a shutdown future, so the binary binds
//! `--listen` and tests bind `127.0.0.1:0`. On shutdown the listener closes,
//! in-flight requests finish, and background tasks stop.

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

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Instant;

use axum::Router;
use axum::extract::Request;
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, patch};
use tokio::net::TcpListener;

use crate::api;
use crate::store::Store;

pub use error::status as error_status;
pub use releases::release_and_queue;

/// Every route the API serves. The authorization matrix test walks this list,
/// so a route added to the router must be added here too.
pub const ROUTES: &[(&str, &str)] = &[
    ("GET", "/api/health"),
    ("GET", "/metrics"),
    ("GET", "/api/v1/whoami"),
    ("GET", "/api/v1/tokens"),
    ("POST", "/api/v1/tokens"),
    ("DELETE", "/api/v1/tokens/{id}"),
    ("GET", "/api/v1/orgs"),
    ("POST", "/api/v1/orgs"),
    ("GET", "/api/v1/orgs/{org}/members"),
    ("POST", "/api/v1/orgs/{org}/members"),
    ("DELETE", "/api/v1/orgs/{org}/members/{email}"),
    ("GET", "/api/v1/orgs/{org}/webhooks"),
    ("POST", "/api/v1/orgs/{org}/webhooks"),
    ("DELETE", "/api/v1/orgs/{org}/webhooks/{id}"),
    ("GET", "/api/v1/orgs/{org}/billing"),
    ("GET", "/api/v1/orgs/{org}/billing/transactions"),
    ("GET", "/api/v1/orgs/{org}/billing/usage"),
    ("GET", "/api/v1/orgs/{org}/billing/statement"),
    ("GET", "/api/v1/apps"),
    ("POST", "/api/v1/apps"),
    ("GET", "/api/v1/apps/{app}"),
    ("DELETE", "/api/v1/apps/{app}"),
    ("GET", "/api/v1/apps/{app}/config"),
    ("PATCH", "/api/v1/apps/{app}/config"),
    ("GET", "/api/v1/apps/{app}/releases"),
    ("POST", "/api/v1/apps/{app}/releases"),
    ("GET", "/api/v1/apps/{app}/releases/{version}"),
    ("POST", "/api/v1/apps/{app}/rollback"),
    ("GET", "/api/v1/apps/{app}/ps"),
    ("GET", "/api/v1/apps/{app}/stats"),
    ("PATCH", "/api/v1/apps/{app}/formation"),
    ("POST", "/api/v1/apps/{app}/restart"),
    ("POST", "/api/v1/apps/{app}/stop"),
    ("POST", "/api/v1/apps/{app}/start"),
    ("GET", "/api/v1/apps/{app}/checks"),
    ("PUT", "/api/v1/apps/{app}/checks"),
    ("GET", "/api/v1/apps/{app}/checks/history"),
    ("GET", "/api/v1/apps/{app}/builds"),
    ("GET", "/api/v1/apps/{app}/builds/{build}/output"),
    ("POST", "/api/v1/apps/{app}/builds/cancel"),
    ("GET", "/api/v1/apps/{app}/build-settings"),
    ("PATCH", "/api/v1/apps/{app}/build-settings"),
    ("DELETE", "/api/v1/apps/{app}/build-cache"),
    ("GET", "/api/v1/apps/{app}/domains"),
    ("POST", "/api/v1/apps/{app}/domains"),
    ("DELETE", "/api/v1/apps/{app}/domains/{domain}"),
    ("GET", "/api/v1/apps/{app}/certs"),
    ("POST", "/api/v1/apps/{app}/certs"),
    ("POST", "/api/v1/apps/{app}/certs/auto"),
    ("DELETE", "/api/v1/apps/{app}/certs/{hostname}"),
    ("PUT", "/api/v1/apps/{app}/https-redirect"),
    ("GET", "/api/v1/apps/{app}/logs"),
    ("GET", "/api/v1/apps/{app}/maintenance"),
    ("PUT", "/api/v1/apps/{app}/maintenance"),
    ("GET", "/api/v1/plans"),
    ("GET", "/api/v1/admin/users"),
    ("POST", "/api/v1/admin/users"),
    ("POST", "/api/v1/admin/plans"),
    ("PATCH", "/api/v1/admin/plans/{plan}"),
    ("DELETE", "/api/v1/admin/plans/{plan}"),
    ("GET", "/api/v1/admin/orgs"),
    ("POST", "/api/v1/admin/orgs/{org}/credits"),
    ("POST", "/api/v1/admin/orgs/{org}/debits"),
    ("POST", "/api/v1/admin/billing/run"),
    ("GET", "/api/v1/admin/nodes"),
    ("GET", "/api/v1/admin/nodes/{node}"),
    ("POST", "/api/v1/admin/nodes/{node}/drain"),
    ("POST", "/api/v1/admin/nodes/{node}/activate"),
    ("DELETE", "/api/v1/admin/nodes/{node}"),
    ("GET", "/api/v1/admin/join-command"),
    ("GET", "/api/v1/admin/events"),
    ("POST", "/api/v1/admin/reconcile"),
    ("GET", "/api/v1/admin/settings"),
    ("GET", "/api/v1/admin/settings/{key}"),
    ("PUT", "/api/v1/admin/settings/{key}"),
    ("DELETE", "/api/v1/admin/settings/{key}"),
];

#[derive(Clone)]
pub struct State {
    pub store: Store,
    pub data_dir: PathBuf,
    pub runtime: std::sync::Arc<crate::runtime::Runtime>,
    /// Wakes the job runner when a handler queued a job.
    pub jobs_wake: std::sync::Arc<tokio::sync::Notify>,
    pub builds: std::sync::Arc<crate::build::Builds>,
    /// Pushes in progress, by the secret their hook calls back with.
    pub pushes: git::Pushes,
    /// `http://127.0.0.1:PORT`: how the hook reaches this daemon.
    pub self_url: std::sync::Arc<std::sync::OnceLock<String>>,
    pub router: std::sync::Arc<crate::router::Router>,
    pub acme: std::sync::Arc<crate::acme::Acme>,
    pub logs: std::sync::Arc<crate::logs::Logs>,
    /// Set when the daemon starts shutting down: long responses (log
    /// tails) end then, so in-flight requests can finish.
    pub closing: std::sync::Arc<tokio::sync::watch::Sender<bool>>,
    /// Wakes the log retention job (a retention setting changed).
    pub retention_wake: std::sync::Arc<tokio::sync::Notify>,
    pub health: std::sync::Arc<crate::health::Health>,
    pub billing: std::sync::Arc<crate::billing::Billing>,
    /// When this daemon started (rates over windows it has not seen whole).
    pub started: Instant,
}

/// The router's listeners (either may be off) and how many threads serve them.
#[derive(Default)]
pub struct RouterListeners {
    pub http: Option<TcpListener>,
    pub https: Option<TcpListener>,
    pub threads: usize,
}

impl State {
    pub fn new(store: Store, data_dir: PathBuf) -> crate::error::Result<State> {
        let runtime = crate::runtime::Runtime::new(store.clone(), data_dir.clone());
        let logs = crate::logs::Logs::open(&data_dir)?;
        let _ = runtime.logs.set(logs.clone());
        let jobs_wake = std::sync::Arc::new(tokio::sync::Notify::new());
        let acme = crate::acme::Acme::new();
        let builds = std::sync::Arc::new(crate::build::Builds::new(
            store.clone(),
            runtime.clone(),
            data_dir.clone(),
            jobs_wake.clone(),
        ));
        let router = crate::router::Router::new(acme.clone());
        let _ = router.logs.set(logs.clone());
        Ok(State {
            store,
            data_dir,
            runtime,
            jobs_wake,
            builds,
            pushes: Default::default(),
            self_url: Default::default(),
            router,
            acme,
            logs,
            closing: std::sync::Arc::new(tokio::sync::watch::channel(false).0),
            retention_wake: Default::default(),
            health: crate::health::Health::new(),
            billing: crate::billing::Billing::new(crate::billing::Clock::system()),
            started: Instant::now(),
        })
    }

    pub fn self_url(&self) -> String {
        self.self_url
            .get()
            .cloned()
            .unwrap_or_else(|| "http://127.0.0.1:7780".into())
    }
}

pub fn router(state: State) -> Router {
    let v1 = Router::new()
        .route("/whoami", get(access::whoami))
        .route("/tokens", get(access::tokens).post(access::create_token))
        .route("/tokens/{id}", axum::routing::delete(access::revoke_token))
        .route("/orgs", get(orgs::list).post(orgs::create))
        .route(
            "/orgs/{org}/members",
            get(orgs::members).post(orgs::add_member),
        )
        .route(
            "/orgs/{org}/members/{email}",
            axum::routing::delete(orgs::remove_member),
        )
        .route(
            "/orgs/{org}/webhooks",
            get(orgs::webhooks).post(orgs::add_webhook),
        )
        .route(
            "/orgs/{org}/webhooks/{id}",
            axum::routing::delete(orgs::remove_webhook),
        )
        .route("/orgs/{org}/billing", get(billing::billing))
        .route(
            "/orgs/{org}/billing/transactions",
            get(billing::transactions),
        )
        .route("/orgs/{org}/billing/usage", get(billing::usage))
        .route("/orgs/{org}/billing/statement", get(billing::statement))
        .route(
            "/admin/orgs/{org}/credits",
            axum::routing::post(billing::credit),
        )
        .route(
            "/admin/orgs/{org}/debits",
            axum::routing::post(billing::debit),
        )
        .route("/admin/orgs", get(billing::all))
        .route("/admin/billing/run", axum::routing::post(billing::run))
        .route("/apps", get(apps::list).post(apps::create))
        .route("/apps/{app}", get(apps::info).delete(apps::destroy))
        .route(
            "/apps/{app}/config",
            get(apps::config).patch(apps::update_config),
        )
        .route(
            "/apps/{app}/releases",
            get(releases::list).post(releases::deploy),
        )
        .route("/apps/{app}/releases/{version}", get(releases::show))
        .route(
            "/apps/{app}/rollback",
            axum::routing::post(releases::rollback),
        )
        .route("/apps/{app}/ps", get(releases::ps))
        .route("/apps/{app}/stats", get(releases::stats))
        .route("/apps/{app}/formation", patch(releases::scale))
        .route(
            "/apps/{app}/restart",
            axum::routing::post(releases::restart),
        )
        .route("/apps/{app}/stop", axum::routing::post(releases::stop))
        .route("/apps/{app}/start", axum::routing::post(releases::start))
        .route(
            "/apps/{app}/checks",
            get(releases::checks).put(releases::set_checks),
        )
        .route("/apps/{app}/checks/history", get(releases::checks_history))
        .route("/apps/{app}/builds", get(git::builds))
        .route("/apps/{app}/builds/{build}/output", get(git::build_output))
        .route(
            "/apps/{app}/builds/cancel",
            axum::routing::post(git::cancel),
        )
        .route(
            "/apps/{app}/build-settings",
            get(git::build_settings).patch(git::update_build_settings),
        )
        .route(
            "/apps/{app}/build-cache",
            axum::routing::delete(git::purge_cache),
        )
        .route("/apps/{app}/domains", get(domains::list).post(domains::add))
        .route(
            "/apps/{app}/domains/{domain}",
            axum::routing::delete(domains::remove),
        )
        .route("/apps/{app}/certs", get(certs::list).post(certs::add))
        .route("/apps/{app}/certs/auto", axum::routing::post(certs::auto))
        .route(
            "/apps/{app}/certs/{hostname}",
            axum::routing::delete(certs::remove),
        )
        .route(
            "/apps/{app}/https-redirect",
            axum::routing::put(certs::set_redirect),
        )
        .route("/apps/{app}/logs", get(logs::logs))
        .route(
            "/apps/{app}/maintenance",
            get(domains::maintenance).put(domains::set_maintenance),
        )
        .route("/plans", get(admin::plans))
        .route("/admin/users", get(admin::users).post(admin::create_user))
        .route("/admin/plans", axum::routing::post(admin::create_plan))
        .route(
            "/admin/plans/{plan}",
            patch(admin::update_plan).delete(admin::remove_plan),
        )
        .route("/admin/nodes", get(nodes::list))
        .route(
            "/admin/nodes/{node}",
            get(nodes::info).delete(nodes::remove),
        )
        .route(
            "/admin/nodes/{node}/drain",
            axum::routing::post(nodes::drain),
        )
        .route(
            "/admin/nodes/{node}/activate",
            axum::routing::post(nodes::activate),
        )
        .route("/admin/join-command", get(nodes::join_command))
        .route("/admin/events", get(nodes::events))
        .route("/admin/reconcile", axum::routing::post(nodes::reconcile))
        .route("/admin/settings", get(admin::settings))
        .route(
            "/admin/settings/{key}",
            get(admin::setting)
                .put(admin::set_setting)
                .delete(admin::unset_setting),
        );
    Router::new()
        .route("/api/health", get(health))
        .route("/metrics", get(metrics::metrics))
        .route(
            "/git/{repo}/{*rest}",
            get(git::serve_git).post(git::serve_git),
        )
        .route(
            "/internal/git/pre-receive",
            axum::routing::post(git::pre_receive),
        )
        .nest(api::PREFIX, v1)
        .fallback(error::not_found)
        .layer(axum::middleware::from_fn(access_log))
        .with_state(state)
}

/// Serves the API on `listener` until `shutdown` resolves, then lets in-flight
/// requests finish.
pub async fn serve(
    listener: TcpListener,
    router_listeners: RouterListeners,
    state: State,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let addr = listener.local_addr()?;
    let reach = if addr.ip().is_unspecified() {
        SocketAddr::new(std::net::Ipv4Addr::LOCALHOST.into(), addr.port())
    } else {
        addr
    };
    let _ = state.self_url.set(format!("http://{reach}"));
    match state
        .store
        .write(|db| db.abandon_builds(crate::store::now()))
        .await
    {
        Ok(0) => {}
        Ok(n) => tracing::warn!(
            builds = n,
            "builds the previous daemon left running were marked failed"
        ),
        Err(e) => tracing::error!(error = %e, "cannot mark abandoned builds"),
    }
    tracing::info!(%addr, data_dir = %state.data_dir.display(), "daemon started");
    match state
        .store
        .write(|db| db.release_dead_leases(crate::store::now()))
        .await
    {
        Ok(0) => {}
        Ok(n) => tracing::warn!(jobs = n, "picked up jobs the previous daemon left running"),
        Err(e) => tracing::error!(error = %e, "cannot release the jobs of the previous daemon"),
    }
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    crate::build::clean_start(&state.store, &state.runtime, &state.data_dir).await;
    let housekeeping = tokio::spawn(crate::build::housekeeping(
        state.store.clone(),
        state.data_dir.clone(),
        stop_rx.clone(),
    ));
    let mut runner = crate::jobs::Runner::new(
        state.store.clone(),
        crate::jobs::handlers(state.runtime.clone()),
    );
    let monitor_task = tokio::spawn(crate::monitor::run(
        state.runtime.clone(),
        state.store.clone(),
        stop_rx.clone(),
    ));
    let reconcile_task = tokio::spawn(crate::runtime::reconcile_loop(
        state.runtime.clone(),
        stop_rx.clone(),
    ));
    let _ = state.router.api.set(addr);
    let mut router_tasks = Vec::new();
    if let Some(Ok(a)) = router_listeners.https.as_ref().map(|l| l.local_addr()) {
        let _ = state.router.https_port.set(a.port());
    }
    let router_done = crate::router::start_workers(
        &state.router,
        crate::router::Listeners {
            http: router_listeners
                .http
                .map(TcpListener::into_std)
                .transpose()?,
            https: router_listeners
                .https
                .map(TcpListener::into_std)
                .transpose()?,
        },
        router_listeners.threads,
        &stop_rx,
    )?;
    router_tasks.push(tokio::spawn(crate::router::refresh_loop(
        state.router.clone(),
        state.store.clone(),
        state.runtime.clone(),
        stop_rx.clone(),
    )));
    router_tasks.push(tokio::spawn(crate::acme::run(
        state.acme.clone(),
        state.store.clone(),
        state.runtime.clone(),
        stop_rx.clone(),
    )));
    router_tasks.push(tokio::spawn(crate::logs::collect::run(
        state.logs.clone(),
        state.runtime.clone(),
        stop_rx.clone(),
    )));
    router_tasks.push(tokio::spawn(crate::logs::retention_loop(
        state.logs.clone(),
        state.store.clone(),
        state.retention_wake.clone(),
        stop_rx.clone(),
    )));
    router_tasks.push(tokio::spawn(crate::logs::loki::run(
        state.logs.clone(),
        state.store.clone(),
        stop_rx.clone(),
    )));
    router_tasks.push(tokio::spawn(crate::webhooks::run(
        state.store.clone(),
        state.runtime.webhooks_wake.clone(),
        stop_rx.clone(),
    )));
    router_tasks.push(tokio::spawn(crate::health::run(
        state.health.clone(),
        state.runtime.clone(),
        state.store.clone(),
        stop_rx.clone(),
    )));
    router_tasks.push(tokio::spawn(crate::billing::run_loop(
        state.billing.clone(),
        state.runtime.clone(),
        stop_rx.clone(),
    )));
    runner.wake = state.jobs_wake.clone();
    let runner_task = tokio::spawn(runner.run(stop_rx));
    let logs = state.logs.clone();
    let closing = state.closing.clone();
    let app = router(state);
    let result = axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async move {
        shutdown.await;
        let _ = closing.send(true);
    })
    .await;
    let _ = stop_tx.send(true);
    let _ = runner_task.await;
    let _ = monitor_task.await;
    let _ = reconcile_task.await;
    let _ = housekeeping.await;
    for t in router_tasks {
        let _ = t.await;
    }
    for d in router_done {
        let _ = d.await;
    }
    logs.flush().await;
    tracing::info!("daemon stopped");
    result
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
        state.runtime.engine().await?.ping().await
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
