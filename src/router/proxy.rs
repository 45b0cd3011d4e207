//! The proxy: an HTTP/1.1 server, and an HTTPS server speaking HTTP/2 or
//! HTTP/1.1 by ALPN (hyper, rustls), that forward each request to a backend
//! of its app over HTTP/1.1 with the bodies streamed both ways, keep idle
//! connections to backends for reuse, retry on another backend only when
//! nothing was sent, and pass WebSocket (and other) upgrades through.

use std::collections::{HashMap, HashSet};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::client::conn::http1::SendRequest;
use hyper::header::{self, HeaderMap, HeaderName, HeaderValue};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use super::limits::{BoxError, Limits, Timed};
use super::{Router, pages, request_host};

pub type Body = http_body_util::combinators::UnsyncBoxBody<Bytes, BoxError>;

/// What goes to a backend: the client's body under the router's time limits.
type ToBackend = Timed<Incoming>;

/// How long a backend may take to connect (the response head's limit is the
/// `router_backend_timeout_s` setting).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// How long a client may take to send a request's headers.
const HEADER_TIMEOUT: Duration = Duration::from_secs(30);
/// Largest request head a client may send.
const MAX_HEADER_BYTES: usize = 64 * 1024;
/// Idle connections kept per backend.
const IDLE_PER_BACKEND: usize = 64;

/// Idle keep-alive connections to backends.
#[derive(Default)]
pub struct Pool {
    idle: Mutex<HashMap<SocketAddr, Vec<SendRequest<ToBackend>>>>,
}

impl Pool {
    fn take(&self, addr: SocketAddr) -> Option<SendRequest<ToBackend>> {
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        let list = idle.get_mut(&addr)?;
        while let Some(s) = list.pop() {
            if s.is_ready() {
                return Some(s);
            }
        }
        None
    }

    fn put(&self, addr: SocketAddr, s: SendRequest<ToBackend>) {
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        let list = idle.entry(addr).or_default();
        if list.len() < IDLE_PER_BACKEND {
            list.push(s);
        }
    }

    /// Drops connections to backends that are no longer in the table.
    pub fn retain(&self, live: &HashSet<SocketAddr>) {
        self.idle
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|a, _| live.contains(a));
    }
}

async fn connect(addr: SocketAddr, upgrades: bool) -> std::io::Result<SendRequest<ToBackend>> {
    let stream = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(addr))
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "connect timed out"))??;
    let _ = stream.set_nodelay(true);
    let (sender, conn) = hyper::client::conn::http1::Builder::new()
        .writev(false)
        .handshake(TokioIo::new(stream))
        .await
        .map_err(std::io::Error::other)?;
    tokio::spawn(async move {
        let r = if upgrades {
            conn.with_upgrades().await
        } else {
            conn.await
        };
        if let Err(e) = r {
            tracing::debug!(%addr, error = %e, "backend connection ended");
        }
    });
    Ok(sender)
}

/// How long a client may take to finish the TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long an HTTP/2 connection may sit without a stream before it is closed.
const H2_IDLE_PING: Duration = Duration::from_secs(60);

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Scheme {
    Http,
    Https,
}

impl Scheme {
    fn as_str(self) -> &'static str {
        match self {
            Scheme::Http => "http",
            Scheme::Https => "https",
        }
    }
}

/// Serves HTTPS on `listener` until `stop` turns true: the certificate is
/// picked by SNI from the router's live map, HTTP/2 or HTTP/1.1 by ALPN.
pub async fn serve_tls(
    listener: TcpListener,
    router: Arc<Router>,
    pool: Arc<super::Worker>,
    mut stop: watch::Receiver<bool>,
) -> crate::error::Result<()> {
    let acceptor =
        tokio_rustls::TlsAcceptor::from(crate::tls::server_config(Arc::clone(&router.certs))?);
    loop {
        let (stream, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    tracing::warn!(error = %e, "router cannot accept");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = stop.changed() => return Ok(()),
        };
        let _ = stream.set_nodelay(true);
        let router = Arc::clone(&router);
        let pool = Arc::clone(&pool);
        let acceptor = acceptor.clone();
        tokio::spawn(async move {
            let tls = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                Ok(Ok(tls)) => tls,
                Ok(Err(e)) => {
                    tracing::debug!(%peer, error = %e, "TLS handshake failed");
                    return;
                }
                Err(_) => return,
            };
            let service = hyper::service::service_fn(move |req| {
                let router = Arc::clone(&router);
                let pool = Arc::clone(&pool);
                async move {
                    Ok::<_, Infallible>(handle(&router, &pool, peer, Scheme::Https, req).await)
                }
            });
            let mut builder =
                hyper_util::server::conn::auto::Builder::new(hyper_util::rt::TokioExecutor::new());
            builder
                .http1()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_TIMEOUT)
                .max_buf_size(MAX_HEADER_BYTES)
                .keep_alive(true);
            builder
                .http2()
                .timer(TokioTimer::new())
                .max_header_list_size(MAX_HEADER_BYTES as u32)
                .keep_alive_interval(Some(H2_IDLE_PING))
                .keep_alive_timeout(HEADER_TIMEOUT);
            if let Err(e) = builder
                .serve_connection_with_upgrades(TokioIo::new(tls), service)
                .await
            {
                tracing::debug!(%peer, error = %e, "client connection ended");
            }
        });
    }
}

/// Serves plain HTTP on `listener` until `stop` turns true.
pub async fn serve(
    listener: TcpListener,
    router: Arc<Router>,
    pool: Arc<super::Worker>,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        let (stream, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    tracing::warn!(error = %e, "router cannot accept");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = stop.changed() => return,
        };
        let _ = stream.set_nodelay(true);
        let router = Arc::clone(&router);
        let pool = Arc::clone(&pool);
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| {
                let router = Arc::clone(&router);
                let pool = Arc::clone(&pool);
                async move { Ok::<_, Infallible>(handle(&router, &pool, peer, Scheme::Http, req).await) }
            });
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_TIMEOUT)
                .max_buf_size(MAX_HEADER_BYTES)
                .keep_alive(true)
                .writev(false)
                .serve_connection(TokioIo::new(stream), service)
                .with_upgrades();
            if let Err(e) = conn.await {
                tracing::debug!(%peer, error = %e, "client connection ended");
            }
        });
    }
}

/// Headers that describe one hop, not the request (RFC 9110 7.6.1).
const HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

fn strip_hop_headers(h: &mut HeaderMap) {
    let named: Vec<HeaderName> = h
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|n| HeaderName::from_bytes(n.trim().as_bytes()).ok())
        .collect();
    for n in named {
        h.remove(n);
    }
    for n in HOP {
        h.remove(*n);
    }
}

fn is_upgrade(h: &HeaderMap) -> bool {
    h.contains_key(header::UPGRADE)
        && h.get_all(header::CONNECTION)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .any(|v| {
                v.split(',')
                    .any(|t| t.trim().eq_ignore_ascii_case("upgrade"))
            })
}

fn request_id(h: &HeaderMap) -> HeaderValue {
    if let Some(v) = h.get("x-request-id") {
        let ok = v.len() <= 128
            && v.as_bytes()
                .iter()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(b));
        if ok && !v.is_empty() {
            return v.clone();
        }
    }
    // 32 hex digits: a random per-process prefix and a counter, unique
    // without a system call per request.
    static PREFIX: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    static SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let prefix = *PREFIX.get_or_init(|| {
        let mut b = [0u8; 8];
        let _ = ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut b);
        u64::from_le_bytes(b)
    });
    let n = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    HeaderValue::from_maybe_shared(Bytes::from(format!("{prefix:016x}{n:016x}")))
        .unwrap_or_else(|_| HeaderValue::from_static("0"))
}

const ACME_PREFIX: &str = "/.well-known/acme-challenge/";

/// The answer to an HTTP-01 challenge the router has in flight, if `req` asks for one.
fn acme_answer(router: &Router, req: &Request<Incoming>) -> Option<Response<Body>> {
    let token = req.uri().path().strip_prefix(ACME_PREFIX)?;
    let answer = router.acme.challenge(token)?;
    let mut r = Response::new(
        http_body_util::Full::new(Bytes::from(answer))
            .map_err(|never| match never {})
            .boxed_unsync(),
    );
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    Some(r)
}

/// `https://host[:port]/path?query` for a plain-HTTP request.
fn https_location(host: &str, port: u16, uri: &hyper::Uri) -> Option<HeaderValue> {
    let pq = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    let host = if host.contains(':') {
        format!("[{host}]")
    } else {
        host.to_string()
    };
    let loc = if port == 443 {
        format!("https://{host}{pq}")
    } else {
        format!("https://{host}:{port}{pq}")
    };
    HeaderValue::from_str(&loc).ok()
}

/// Answers one request and counts it: status class and time to the
/// response head per app, and an access log line at debug level.
pub async fn handle(
    router: &Router,
    worker: &super::Worker,
    peer: SocketAddr,
    scheme: Scheme,
    req: Request<Incoming>,
) -> Response<Body> {
    let started = std::time::Instant::now();
    let host = request_host(&req);
    let method = req.method().clone();
    let path: String = req.uri().path().chars().take(512).collect();
    let (resp, route) = answer(router, worker, peer, scheme, host.as_deref(), req).await;
    let app = route
        .as_ref()
        .map_or(super::metrics::NO_APP, |r| r.app.as_str());
    let took = started.elapsed();
    let status = resp.status().as_u16();
    worker.metrics.record(app, status, took);
    let request_id = resp
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let host = host.as_deref().unwrap_or_default();
    let ms = took.as_millis() as u64;
    tracing::debug!(host, app, status, ms, request_id, "router request");
    if let Some(r) = &route {
        let logs = &router.logs;
        let proto = match scheme {
            Scheme::Http => "http",
            Scheme::Https => "https",
        };
        logs.platform(
            &r.app,
            "router",
            None,
            format!(
                "host={host} method={method} path=\"{path}\" status={status} ms={ms} request_id={request_id} fwd=\"{}\" protocol={proto}",
                peer.ip()
            ),
        );
    }
    resp
}

/// Paths of the API that are never served through the router at panel_domain.
fn panel_private(path: &str) -> bool {
    path == "/metrics" || path.starts_with("/internal/")
}

async fn answer(
    router: &Router,
    worker: &super::Worker,
    peer: SocketAddr,
    scheme: Scheme,
    host: Option<&str>,
    mut req: Request<Incoming>,
) -> (Response<Body>, Option<Arc<super::AppRoute>>) {
    let (table, route) = match route_or_page(router, worker, scheme, host, &req) {
        Routed::Proxy(table, route) => (table, route),
        Routed::Page(page, route) => return (page, route),
    };
    let upgrade = is_upgrade(req.headers());
    let id = request_id(req.headers());
    to_backend_form(&mut req, peer, scheme, upgrade, &id);
    // The client's side of an upgrade, taken before the request moves on.
    let client_upgrade = upgrade.then(|| hyper::upgrade::on(&mut req));
    let limits = Limits::new(
        table.idle_timeout,
        tokio::time::Instant::now() + table.request_timeout,
    );
    let req = req.map(|b| Timed::new(b, limits.clone()));
    let mut resp = forward(worker, &table, &route, req, client_upgrade, &limits).await;
    resp.headers_mut().insert("x-request-id", id);
    (resp, Some(route))
}

/// Where a request goes: to the route's backends, or a page the router
/// answers itself (for the route, when there is one).
enum Routed {
    Proxy(Arc<super::Table>, Arc<super::AppRoute>),
    Page(Response<Body>, Option<Arc<super::AppRoute>>),
}

/// A page answered by the router itself (ACME challenge, unknown host,
/// HTTPS redirect, suspended, maintenance, no backend), or the route and
/// table the request goes on with.
fn route_or_page(
    router: &Router,
    worker: &super::Worker,
    scheme: Scheme,
    host: Option<&str>,
    req: &Request<Incoming>,
) -> Routed {
    if scheme == Scheme::Http {
        if let Some(r) = acme_answer(router, req) {
            return Routed::Page(r, None);
        }
    }
    let Some(host) = host else {
        return Routed::Page(pages::bad_request(), None);
    };
    let table = worker.table(router);
    let Some(route) = table.lookup(host) else {
        return Routed::Page(pages::unknown_host(), None);
    };
    if route.app == super::PANEL && panel_private(req.uri().path()) {
        return Routed::Page(pages::unknown_host(), Some(route));
    }
    if scheme == Scheme::Http && route.https_redirect && table.has_cert(host) {
        if let Some(loc) = router
            .https_port
            .and_then(|p| https_location(host, p, req.uri()))
        {
            return Routed::Page(pages::redirect(loc), Some(route));
        }
    }
    let page = if route.suspended {
        pages::suspended(&route.app)
    } else if route.maintenance {
        pages::maintenance(&route.app)
    } else if route.backends.is_empty() {
        pages::no_backend(&route.app)
    } else {
        return Routed::Proxy(table, route);
    };
    Routed::Page(page, Some(route))
}

/// What a backend is sent: HTTP/1.1 with an origin-form target and a Host
/// header, whatever the client spoke (HTTP/2 carries the host in
/// :authority); hop-by-hop headers gone (an upgrade's kept);
/// `X-Forwarded-*` and `X-Request-Id` set.
fn to_backend_form(
    req: &mut Request<Incoming>,
    peer: SocketAddr,
    scheme: Scheme,
    upgrade: bool,
    id: &HeaderValue,
) {
    if req.version() != hyper::Version::HTTP_11 && req.version() != hyper::Version::HTTP_10 {
        *req.version_mut() = hyper::Version::HTTP_11;
    }
    if !req.headers().contains_key(header::HOST) {
        if let Some(a) = req.uri().authority().map(|a| a.as_str().to_string()) {
            if let Ok(v) = HeaderValue::from_str(&a) {
                req.headers_mut().insert(header::HOST, v);
            }
        }
    }
    if req.uri().scheme().is_some() || req.uri().authority().is_some() {
        let pq = req
            .uri()
            .path_and_query()
            .map(|p| p.as_str().to_string())
            .unwrap_or_else(|| "/".into());
        if let Ok(u) = pq.parse() {
            *req.uri_mut() = u;
        }
    }
    let h = req.headers_mut();
    let upgrade_to = h.get(header::UPGRADE).cloned();
    let forwarded_host = h.get(header::HOST).cloned();
    strip_hop_headers(h);
    if let (true, Some(u)) = (upgrade, upgrade_to) {
        h.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
        h.insert(header::UPGRADE, u);
    }
    let xff = match h.get("x-forwarded-for").and_then(|v| v.to_str().ok()) {
        Some(prev) => format!("{prev}, {}", peer.ip()),
        None => peer.ip().to_string(),
    };
    if let Ok(v) = HeaderValue::from_str(&xff) {
        h.insert("x-forwarded-for", v);
    }
    h.insert(
        "x-forwarded-proto",
        HeaderValue::from_static(scheme.as_str()),
    );
    if let Some(fh) = forwarded_host {
        h.insert("x-forwarded-host", fh);
    }
    h.insert("x-request-id", id.clone());
}

/// Sends the request to the route's backends in turn — on each, a pooled
/// connection first, then a fresh one — moving on only while nothing was
/// sent; splices an accepted upgrade.
async fn forward(
    worker: &super::Worker,
    table: &super::Table,
    route: &super::AppRoute,
    req: Request<Timed<Incoming>>,
    client_upgrade: Option<hyper::upgrade::OnUpgrade>,
    limits: &Limits,
) -> Response<Body> {
    let upgrade = client_upgrade.is_some();
    let mut req = Some(req);
    let attempts = route.order().flat_map(|a| [(a, true), (a, false)]);
    for (addr, reuse) in attempts {
        let pooled = if upgrade || !reuse {
            None
        } else {
            worker.pool.take(addr)
        };
        if reuse && pooled.is_none() {
            continue;
        }
        let mut sender = match pooled {
            Some(s) => s,
            None => match connect(addr, upgrade).await {
                Ok(s) => s,
                Err(e) => {
                    tracing::debug!(%addr, error = %e, "backend refused; trying the next");
                    continue;
                }
            },
        };
        let Some(r) = req.take() else { break };
        match tokio::time::timeout(table.backend_timeout, sender.try_send_request(r)).await {
            Err(_) => return pages::timeout(&route.app),
            Ok(Ok(mut resp)) => {
                if upgrade && resp.status() == StatusCode::SWITCHING_PROTOCOLS {
                    splice(client_upgrade, hyper::upgrade::on(&mut resp));
                    return resp.map(|b| Timed::new(b, limits.clone()).boxed_unsync());
                }
                if !upgrade {
                    worker.pool.put(addr, sender);
                }
                let mut resp = resp.map(|b| Timed::new(b, limits.clone()).boxed_unsync());
                if !upgrade {
                    strip_hop_headers(resp.headers_mut());
                }
                return resp;
            }
            Ok(Err(mut e)) => match e.take_message() {
                // Not sent (the idle connection had closed): try again.
                Some(r) => req = Some(r),
                None => {
                    tracing::debug!(%addr, error = %e.error(), "backend failed mid-request");
                    return pages::bad_gateway(&route.app);
                }
            },
        }
    }
    pages::bad_gateway(&route.app)
}

/// Joins the client's and the backend's upgraded connections.
fn splice(client: Option<hyper::upgrade::OnUpgrade>, backend: hyper::upgrade::OnUpgrade) {
    let Some(client) = client else { return };
    tokio::spawn(async move {
        let (Ok(c), Ok(b)) = (client.await, backend.await) else {
            return;
        };
        let (mut c, mut b) = (TokioIo::new(c), TokioIo::new(b));
        let _ = tokio::io::copy_bidirectional(&mut c, &mut b).await;
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                HeaderName::from_bytes(k.as_bytes()).expect("name"),
                HeaderValue::from_str(v).expect("value"),
            );
        }
        h
    }

    #[test]
    fn hop_by_hop_headers_go_and_the_rest_stay() {
        let mut h = headers(&[
            ("connection", "keep-alive, x-secret-hop"),
            ("x-secret-hop", "1"),
            ("keep-alive", "timeout=5"),
            ("transfer-encoding", "chunked"),
            ("content-type", "text/plain"),
            ("x-app", "kept"),
        ]);
        strip_hop_headers(&mut h);
        let mut left: Vec<&str> = h.keys().map(|k| k.as_str()).collect();
        left.sort();
        assert_eq!(left, ["content-type", "x-app"]);
    }

    #[test]
    fn upgrades_need_both_headers() {
        assert!(is_upgrade(&headers(&[
            ("connection", "keep-alive, Upgrade"),
            ("upgrade", "websocket")
        ])));
        assert!(!is_upgrade(&headers(&[("upgrade", "websocket")])));
        assert!(!is_upgrade(&headers(&[("connection", "upgrade")])));
    }

    #[test]
    fn request_ids_are_kept_when_sane_and_made_otherwise() {
        let kept = request_id(&headers(&[("x-request-id", "abc-123_x.y")]));
        assert_eq!(kept, "abc-123_x.y");
        let made = request_id(&headers(&[("x-request-id", "has space")]));
        assert_eq!(made.len(), 32);
        assert_ne!(made, request_id(&HeaderMap::new()));
    }
}
