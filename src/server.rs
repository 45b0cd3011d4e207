//! The daemon's wiring, in one place: [`Options`] in, every part built
//! whole in dependency order (nothing is set after construction), every
//! background loop started from one list, and shutdown in an explicit
//! order. `daemon` holds the HTTP handlers only.
//!
//! Shutdown: the API stops accepting and lets in-flight requests finish
//! (long tails end when `closing` turns), then every loop is told to stop;
//! the job runner lets its in-flight attempts finish; the router threads
//! finish their connections; the log writer flushes last, so the lines of
//! everything before it are stored.

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use tokio::net::TcpListener;
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;

use crate::daemon::State;
use crate::docker::EngineCell;
use crate::events::Events;
use crate::store::Store;

/// The router's listeners (either may be off) and how many threads serve them.
#[derive(Default)]
pub struct RouterListeners {
    pub http: Option<TcpListener>,
    pub https: Option<TcpListener>,
    pub threads: usize,
}

/// What `skypanel daemon` was started with, bound and opened.
pub struct Options {
    pub store: Store,
    pub data_dir: PathBuf,
    /// The API's listener.
    pub listener: TcpListener,
    pub router: RouterListeners,
    pub clock: crate::billing::Clock,
}

/// The background loops, by name, in the order they stop.
type Loops = Vec<(&'static str, JoinHandle<()>)>;

/// Builds the state whole: store and log store first, then the engine
/// handle, events, runtime, router, builds.
async fn build_state(opts: &Options, api: SocketAddr) -> crate::error::Result<State> {
    let (store, data_dir) = (opts.store.clone(), opts.data_dir.clone());
    let settings = crate::settings::Current::load(&store).await?;
    let logs = crate::logs::Logs::open(&data_dir)?;
    let engine = EngineCell::default();
    let webhooks_wake = Arc::new(Notify::new());
    let events = Events::new(store.clone(), logs.clone(), webhooks_wake.clone());
    let routes_changed = Arc::new(Notify::new());
    let runtime = crate::runtime::Runtime::new(crate::runtime::Parts {
        store: store.clone(),
        data_dir: data_dir.clone(),
        engine: engine.clone(),
        events,
        routes_changed: routes_changed.clone(),
        settings: settings.clone(),
    });
    let jobs_wake = Arc::new(Notify::new());
    let acme = crate::acme::Acme::new();
    let https_port = opts
        .router
        .https
        .as_ref()
        .and_then(|l| l.local_addr().ok())
        .map(|a| a.port());
    let reach = if api.ip().is_unspecified() {
        SocketAddr::new(std::net::Ipv4Addr::LOCALHOST.into(), api.port())
    } else {
        api
    };
    Ok(State {
        builds: Arc::new(crate::build::Builds::new(
            store.clone(),
            runtime.clone(),
            data_dir.clone(),
            jobs_wake.clone(),
            settings.clone(),
        )),
        router: crate::router::Router::new(acme.clone(), api, https_port, logs.clone()),
        store,
        data_dir,
        settings,
        engine,
        runtime,
        jobs_wake,
        routes_changed,
        webhooks_wake,
        pushes: Default::default(),
        self_url: format!("http://{reach}").into(),
        acme,
        logs,
        closing: Arc::new(watch::channel(false).0),
        retention_wake: Default::default(),
        health: crate::health::Health::new(),
        billing: crate::billing::Billing::new(opts.clock.clone()),
        started: Instant::now(),
    })
}

/// What a previous daemon left: builds marked failed, jobs queued again,
/// scratch folders and one-off containers removed.
async fn recover(state: &State) {
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
    match state
        .store
        .write(|db| db.release_dead_leases(crate::store::now()))
        .await
    {
        Ok(0) => {}
        Ok(n) => tracing::warn!(jobs = n, "picked up jobs the previous daemon left running"),
        Err(e) => tracing::error!(error = %e, "cannot release the jobs of the previous daemon"),
    }
    crate::build::clean_start(&state.store, &state.runtime, &state.data_dir).await;
}

/// Every background loop, each told to stop through `stop` (all at once);
/// the job runner is awaited first, so in-flight jobs end before the rest.
fn start_loops(s: &State, stop: &watch::Receiver<bool>) -> Loops {
    let mut runner =
        crate::jobs::Runner::new(s.store.clone(), crate::jobs::handlers(s.runtime.clone()));
    runner.wake = s.jobs_wake.clone();
    let (store, settings, rt) = (&s.store, &s.settings, &s.runtime);
    let instance = store.instance_id().to_string();
    let events = rt.events().clone();
    let st = || stop.clone();
    use crate::{acme, billing, build, health, logs, monitor, router, runtime, webhooks};
    use tokio::spawn;
    vec![
        ("jobs", spawn(runner.run(st()))),
        (
            "nodes",
            spawn(monitor::run(
                s.engine.clone(),
                events,
                store.clone(),
                settings.clone(),
                st(),
            )),
        ),
        (
            "reconcile",
            spawn(runtime::reconcile_loop(rt.clone(), st())),
        ),
        (
            "housekeeping",
            spawn(build::housekeeping(store.clone(), s.data_dir.clone(), st())),
        ),
        (
            "routes",
            spawn(router::refresh_loop(
                s.router.clone(),
                store.clone(),
                rt.clone(),
                s.routes_changed.clone(),
                settings.clone(),
                st(),
            )),
        ),
        (
            "acme",
            spawn(acme::run(
                s.acme.clone(),
                store.clone(),
                s.routes_changed.clone(),
                settings.clone(),
                st(),
            )),
        ),
        (
            "log collector",
            spawn(logs::collect::run(
                s.logs.clone(),
                s.engine.clone(),
                instance,
                st(),
            )),
        ),
        (
            "log retention",
            spawn(logs::retention_loop(
                s.logs.clone(),
                settings.clone(),
                s.retention_wake.clone(),
                st(),
            )),
        ),
        (
            "loki",
            spawn(logs::loki::run(
                s.logs.clone(),
                store.clone(),
                settings.clone(),
                st(),
            )),
        ),
        (
            "webhooks",
            spawn(webhooks::run(store.clone(), s.webhooks_wake.clone(), st())),
        ),
        (
            "health",
            spawn(health::run(
                s.health.clone(),
                rt.clone(),
                store.clone(),
                settings.clone(),
                st(),
            )),
        ),
        (
            "billing",
            spawn(billing::run_loop(s.billing.clone(), rt.clone(), st())),
        ),
    ]
}

/// Serves the API (and the router) until `shutdown` resolves, then stops
/// everything in order.
pub async fn serve(
    mut opts: Options,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let addr = opts.listener.local_addr()?;
    let state = build_state(&opts, addr).await?;
    recover(&state).await;
    tracing::info!(%addr, data_dir = %state.data_dir.display(), "daemon started");
    let (stop_tx, stop_rx) = watch::channel(false);
    let loops = start_loops(&state, &stop_rx);
    let router_done = crate::router::start_workers(
        &state.router,
        crate::router::Listeners {
            http: opts
                .router
                .http
                .take()
                .map(TcpListener::into_std)
                .transpose()?,
            https: opts
                .router
                .https
                .take()
                .map(TcpListener::into_std)
                .transpose()?,
        },
        opts.router.threads,
        &stop_rx,
    )?;
    let (logs, closing) = (state.logs.clone(), state.closing.clone());
    let result = axum::serve(
        opts.listener,
        crate::daemon::router(state).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async move {
        shutdown.await;
        let _ = closing.send(true);
    })
    .await;
    let _ = stop_tx.send(true);
    for (name, task) in loops {
        if let Err(e) = task.await {
            tracing::error!(task = name, error = %e, "a background task ended badly");
        }
    }
    for d in router_done {
        let _ = d.await;
    }
    logs.flush().await;
    tracing::info!("daemon stopped");
    Ok(result?)
}
