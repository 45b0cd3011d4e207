//! The edge router: HTTP and HTTPS requests by Host (or SNI) to the live
//! release's healthy web tasks. The routing table is a snapshot rebuilt from
//! the store and the runtime whenever the runtime says routes changed (a
//! release went live, tasks started draining, a scale, a certificate issued)
//! and every two seconds; requests read the current snapshot without locks
//! held across awaits. Certificates live in a map the TLS resolver reads on
//! each handshake; a refresh reloads only those whose row changed.

mod limits;
pub mod metrics;
mod pages;
pub mod proxy;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use tokio::sync::watch;

use crate::runtime::Runtime;
use crate::store::Store;

/// Where one app's requests go.
pub struct AppRoute {
    pub app: String,
    pub maintenance: bool,
    /// The app's org is suspended: the suspended page.
    pub suspended: bool,
    /// Plain-HTTP requests for a hostname with a certificate go to HTTPS.
    pub https_redirect: bool,
    pub backends: Vec<SocketAddr>,
    next: AtomicUsize,
}

impl AppRoute {
    /// The backends in the order to try them, starting round-robin.
    pub fn order(&self) -> impl Iterator<Item = SocketAddr> + '_ {
        let n = self.backends.len();
        let start = match n {
            0 => 0,
            _ => self.next.fetch_add(1, Ordering::Relaxed) % n,
        };
        (0..n).map(move |i| self.backends[(start + i) % n])
    }
}

pub struct Table {
    hosts: HashMap<String, Arc<AppRoute>>,
    /// Hostnames (and `*.parent` wildcards) with a certificate served.
    tls_hosts: Arc<std::collections::HashSet<String>>,
    /// How long a backend may take to send its response head.
    pub backend_timeout: Duration,
    /// How long a body may send nothing.
    pub idle_timeout: Duration,
    /// The most one request may take, bodies included.
    pub request_timeout: Duration,
}

impl Default for Table {
    fn default() -> Table {
        Table {
            hosts: HashMap::new(),
            tls_hosts: Arc::default(),
            backend_timeout: Duration::from_secs(60),
            idle_timeout: Duration::from_secs(60),
            request_timeout: Duration::from_secs(3600),
        }
    }
}

impl Table {
    pub fn lookup(&self, host: &str) -> Option<Arc<AppRoute>> {
        self.hosts.get(host).cloned()
    }

    /// Whether a certificate is served for `host` (exactly or by wildcard).
    pub fn has_cert(&self, host: &str) -> bool {
        self.tls_hosts.contains(host)
            || host.split_once('.').is_some_and(|(label, parent)| {
                !label.is_empty() && self.tls_hosts.contains(&format!("*.{parent}"))
            })
    }

    /// A copy for one router thread: its own routes (and round-robin
    /// positions), so requests on different threads share no counters.
    fn copy(&self) -> Table {
        let mut routes: HashMap<*const AppRoute, Arc<AppRoute>> = HashMap::new();
        let hosts = self
            .hosts
            .iter()
            .map(|(h, r)| {
                let mine = routes.entry(Arc::as_ptr(r)).or_insert_with(|| {
                    Arc::new(AppRoute {
                        app: r.app.clone(),
                        maintenance: r.maintenance,
                        suspended: r.suspended,
                        https_redirect: r.https_redirect,
                        backends: r.backends.clone(),
                        next: AtomicUsize::new(r.next.load(Ordering::Relaxed)),
                    })
                });
                (h.clone(), Arc::clone(mine))
            })
            .collect();
        Table {
            hosts,
            tls_hosts: Arc::clone(&self.tls_hosts),
            backend_timeout: self.backend_timeout,
            idle_timeout: self.idle_timeout,
            request_timeout: self.request_timeout,
        }
    }

    /// Every backend address in the table (for pruning the connection pool).
    pub fn addresses(&self) -> std::collections::HashSet<SocketAddr> {
        self.hosts
            .values()
            .flat_map(|r| r.backends.iter().copied())
            .collect()
    }
}

pub struct Router {
    table: RwLock<Arc<Table>>,
    /// Bumped whenever `table` is replaced; router threads copy it then.
    generation: std::sync::atomic::AtomicU64,
    /// Each router thread's own state.
    workers: Mutex<Vec<Arc<Worker>>>,
    /// The certificates served by SNI.
    pub certs: Arc<crate::tls::CertMap>,
    /// Which certificate rows (hostname → version) are in `certs`.
    loaded: Mutex<HashMap<String, i64>>,
    /// HTTP-01 challenges being answered.
    pub acme: Arc<crate::acme::Acme>,
    /// The API's own listener: `panel_domain` is routed there.
    pub api: SocketAddr,
    /// The HTTPS listener's port, when there is one (redirects go there).
    pub https_port: Option<u16>,
    /// Where each request's `skypanel[router]` line goes.
    pub logs: Arc<crate::logs::Logs>,
}

/// What one router thread keeps to itself: its backend connections, its
/// request figures and its copy of the routing table. Nothing here is touched
/// by another thread on the request path (no cache lines bounce).
#[derive(Default)]
pub struct Worker {
    pub pool: proxy::Pool,
    pub metrics: metrics::Metrics,
    table: Mutex<(u64, Arc<Table>)>,
}

impl Worker {
    /// This thread's copy of the routing table, renewed when the router's changed.
    pub fn table(&self, router: &Router) -> Arc<Table> {
        let generation = router.generation.load(Ordering::Acquire);
        let mut cached = self.table.lock().unwrap_or_else(|p| p.into_inner());
        if cached.0 != generation {
            *cached = (generation, Arc::new(router.table().copy()));
        }
        Arc::clone(&cached.1)
    }
}

impl Router {
    pub fn new(
        acme: Arc<crate::acme::Acme>,
        api: SocketAddr,
        https_port: Option<u16>,
        logs: Arc<crate::logs::Logs>,
    ) -> Arc<Router> {
        Arc::new(Router {
            table: RwLock::new(Arc::new(Table::default())),
            generation: std::sync::atomic::AtomicU64::new(1),
            workers: Mutex::default(),
            certs: Arc::default(),
            loaded: Mutex::default(),
            acme,
            api,
            https_port,
            logs,
        })
    }

    pub fn table(&self) -> Arc<Table> {
        Arc::clone(&self.table.read().unwrap_or_else(|p| p.into_inner()))
    }

    /// A new router thread's state, kept for pruning and for `/metrics`.
    pub fn new_worker(&self) -> Arc<Worker> {
        let w = Arc::new(Worker::default());
        self.workers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(Arc::clone(&w));
        w
    }

    /// Every router thread's request figures, summed, in Prometheus' format.
    pub fn render_metrics(&self, out: &mut String) {
        let workers = self.workers.lock().unwrap_or_else(|p| p.into_inner());
        metrics::render(workers.iter().map(|w| &w.metrics), out);
    }

    /// `app`'s requests over the last hour, from every router thread.
    pub fn window(&self, app: &str) -> metrics::Window {
        let workers = self.workers.lock().unwrap_or_else(|p| p.into_inner());
        metrics::window(workers.iter().map(|w| &w.metrics), app)
    }

    /// Rebuilds the table from the store and the runtime.
    pub async fn refresh(
        &self,
        store: &Store,
        runtime: &Runtime,
        settings: &crate::settings::Snapshot,
    ) -> crate::error::Result<()> {
        let entries = store.read(|db| db.route_entries()).await?;
        let (domain, panel) = (
            settings.default_domain.clone(),
            settings.panel_domain.clone(),
        );
        let [timeout, idle, total] = [
            settings.router_backend_timeout_s,
            settings.router_idle_timeout_s,
            settings.router_request_timeout_s,
        ];
        let secs = |s: i64| Duration::from_secs(s.max(1) as u64);
        self.reload_certs(store).await?;
        let backends = runtime.web_backends(&entries).await?;
        let old = self.table();
        let mut hosts = HashMap::new();
        for e in entries {
            let mut addrs: Vec<SocketAddr> = backends
                .get(&e.app_id)
                .map(|b| {
                    b.iter()
                        .filter_map(|b| format!("{}:{}", b.addr, b.port).parse().ok())
                        .collect()
                })
                .unwrap_or_default();
            addrs.sort();
            // Keep the round-robin position when nothing changed.
            let default_host = format!("{}.{domain}", e.app);
            let next = old
                .lookup(&default_host)
                .map(|r| r.next.load(Ordering::Relaxed))
                .unwrap_or(0);
            let route = Arc::new(AppRoute {
                app: e.app.clone(),
                maintenance: e.maintenance,
                suspended: e.suspended,
                https_redirect: e.https_redirect,
                backends: addrs,
                next: AtomicUsize::new(next),
            });
            for d in &e.domains {
                hosts.insert(d.clone(), Arc::clone(&route));
            }
            hosts.insert(default_host, route);
        }
        // The API itself, behind the router at `panel_domain`.
        if !panel.is_empty() {
            let api = self.api;
            let reach = if api.ip().is_unspecified() {
                SocketAddr::new(std::net::Ipv4Addr::LOCALHOST.into(), api.port())
            } else {
                api
            };
            hosts.insert(
                panel,
                Arc::new(AppRoute {
                    app: PANEL.to_string(),
                    maintenance: false,
                    suspended: false,
                    https_redirect: true,
                    backends: vec![reach],
                    next: AtomicUsize::new(0),
                }),
            );
        }
        let table = Arc::new(Table {
            hosts,
            tls_hosts: Arc::new(self.certs.entries().into_iter().map(|(h, _)| h).collect()),
            backend_timeout: secs(timeout),
            idle_timeout: secs(idle),
            request_timeout: secs(total),
        });
        let live = table.addresses();
        let apps: std::collections::HashSet<String> =
            table.hosts.values().map(|r| r.app.clone()).collect();
        for w in self
            .workers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
        {
            w.pool.retain(&live);
            w.metrics.retain(&apps);
        }
        *self.table.write().unwrap_or_else(|p| p.into_inner()) = table;
        self.generation.fetch_add(1, Ordering::Release);
        Ok(())
    }
}

/// The router's listeners, handed over by the daemon.
#[derive(Default)]
pub struct Listeners {
    pub http: Option<std::net::TcpListener>,
    pub https: Option<std::net::TcpListener>,
}

/// Serves the listeners on `threads` OS threads, each with its own
/// single-threaded runtime and backend connection pool, as nginx runs
/// workers: a request and its backend connection stay on one thread, so no
/// wakeups cross threads. Returns what resolves when every thread is done
/// (after `stop`).
pub fn start_workers(
    router: &Arc<Router>,
    listeners: Listeners,
    threads: usize,
    stop: &watch::Receiver<bool>,
) -> std::io::Result<Vec<tokio::sync::oneshot::Receiver<()>>> {
    for l in listeners.http.iter().chain(listeners.https.iter()) {
        l.set_nonblocking(true)?;
    }
    let mut done = Vec::new();
    if listeners.http.is_none() && listeners.https.is_none() {
        return Ok(done);
    }
    for i in 0..threads.max(1) {
        let http = listeners.http.as_ref().map(|l| l.try_clone()).transpose()?;
        let https = listeners
            .https
            .as_ref()
            .map(|l| l.try_clone())
            .transpose()?;
        let (router, stop) = (Arc::clone(router), stop.clone());
        let (tx, rx) = tokio::sync::oneshot::channel();
        let pool = router.new_worker();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        std::thread::Builder::new()
            .name(format!("router-{i}"))
            .spawn(move || {
                rt.block_on(async move {
                    let mut tasks = Vec::new();
                    if let Some(l) = https {
                        match tokio::net::TcpListener::from_std(l) {
                            Ok(l) => {
                                let (r, p, s) = (Arc::clone(&router), Arc::clone(&pool), stop.clone());
                                tasks.push(tokio::spawn(async move {
                                    if let Err(e) = proxy::serve_tls(l, r, p, s).await {
                                        tracing::error!(error = %e, "the HTTPS router cannot start");
                                    }
                                }));
                            }
                            Err(e) => tracing::error!(error = %e, "the HTTPS router cannot listen"),
                        }
                    }
                    if let Some(l) = http {
                        match tokio::net::TcpListener::from_std(l) {
                            Ok(l) => tasks.push(tokio::spawn(proxy::serve(
                                l,
                                Arc::clone(&router),
                                Arc::clone(&pool),
                                stop.clone(),
                            ))),
                            Err(e) => tracing::error!(error = %e, "the HTTP router cannot listen"),
                        }
                    }
                    for t in tasks {
                        let _ = t.await;
                    }
                });
                let _ = tx.send(());
            })?;
        done.push(rx);
    }
    Ok(done)
}

/// The route name of the API at `panel_domain` (not a valid app name).
pub const PANEL: &str = "(panel)";

impl Router {
    /// Brings the certificate map in line with the store: loads rows that are
    /// new or changed, drops rows that went. A row that cannot be loaded is
    /// logged and left out (its hostname stays on HTTP).
    async fn reload_certs(&self, store: &Store) -> crate::error::Result<()> {
        let rows = store.read(|db| db.served_certs()).await?;
        let want: HashMap<String, i64> = rows.into_iter().collect();
        let stale: Vec<String> = {
            let loaded = self.loaded.lock().unwrap_or_else(|p| p.into_inner());
            if *loaded == want {
                return Ok(());
            }
            want.iter()
                .filter(|(h, v)| loaded.get(*h) != Some(v))
                .map(|(h, _)| h.clone())
                .collect()
        };
        let mut map: HashMap<String, Arc<rustls::sign::CertifiedKey>> = self
            .certs
            .entries()
            .into_iter()
            .filter(|(h, _)| want.contains_key(h) && !stale.contains(h))
            .collect();
        for host in &stale {
            let h = host.clone();
            let material = store.read(move |db| db.cert_material(&h)).await?;
            let Some((chain, key)) = material else {
                continue;
            };
            match crate::tls::parse(&chain, &key) {
                Ok(p) => {
                    map.insert(host.clone(), p.key);
                }
                Err(e) => tracing::error!(%host, error = %e, "stored certificate cannot be served"),
            }
        }
        self.certs.replace(map);
        *self.loaded.lock().unwrap_or_else(|p| p.into_inner()) = want;
        Ok(())
    }
}

/// Keeps the table fresh until `stop`.
pub async fn refresh_loop(
    router: Arc<Router>,
    store: Store,
    runtime: Arc<Runtime>,
    routes_changed: Arc<tokio::sync::Notify>,
    settings: crate::settings::Current,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        if let Err(e) = router.refresh(&store, &runtime, &settings.get()).await {
            tracing::warn!(error = %e, "cannot refresh the routing table");
        }
        tokio::select! {
            _ = routes_changed.notified() => {}
            _ = tokio::time::sleep(Duration::from_secs(2)) => {}
            _ = stop.changed() => return,
        }
    }
}

/// The host a request is for: the Host header (or the URI's authority),
/// lowercased, without port and trailing dot.
pub fn request_host<B>(req: &hyper::Request<B>) -> Option<String> {
    let raw = req
        .headers()
        .get(hyper::header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_string)
        .or_else(|| req.uri().authority().map(|a| a.to_string()))?;
    Some(host_of(&raw)).filter(|h| !h.is_empty())
}

fn host_of(raw: &str) -> String {
    let host = if let Some(rest) = raw.strip_prefix('[') {
        // [v6]:port
        rest.split(']').next().unwrap_or_default()
    } else {
        match raw.rsplit_once(':') {
            Some((h, port)) if !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) => h,
            _ => raw,
        }
    };
    host.trim_end_matches('.').to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_from_headers() {
        assert_eq!(host_of("Shop.Example.com:8080"), "shop.example.com");
        assert_eq!(host_of("shop.localhost."), "shop.localhost");
        assert_eq!(host_of("[::1]:80"), "::1");
        assert_eq!(host_of("plain"), "plain");
    }

    #[test]
    fn round_robin_visits_every_backend() {
        let r = AppRoute {
            app: "a".into(),
            maintenance: false,
            suspended: false,
            https_redirect: true,
            backends: vec![
                "127.0.0.1:1".parse().expect("a"),
                "127.0.0.1:2".parse().expect("b"),
            ],
            next: AtomicUsize::new(0),
        };
        let first: Vec<SocketAddr> = r.order().collect();
        let second: Vec<SocketAddr> = r.order().collect();
        assert_eq!(first.len(), 2);
        assert_ne!(first[0], second[0]);
        assert!(
            AppRoute {
                backends: vec![],
                ..r
            }
            .order()
            .next()
            .is_none()
        );
    }
}
