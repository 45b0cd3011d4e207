//! The edge router: real HTTP clients through the daemon's router to apps
//! running on the Swarm.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::common::{Daemon, ensure_images, proc_kb, unique, wait_backends};
use crate::push::Repo;

/// GET through the router with `host`: (status, headers, body).
pub fn through(d: &Daemon, host: &str, path: &str) -> (u16, reqwest::header::HeaderMap, String) {
    through_with(d, host, path, &[])
}

fn through_with(
    d: &Daemon,
    host: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> (u16, reqwest::header::HeaderMap, String) {
    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client");
    let mut req = client
        .get(format!("http://{}{path}", d.router))
        .header("host", host);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    match req.send() {
        Ok(r) => {
            let st = r.status().as_u16();
            let h = r.headers().clone();
            (st, h, r.text().unwrap_or_default())
        }
        Err(e) => (0, Default::default(), e.to_string()),
    }
}

/// Polls until the router answers `host` with `status` and a body containing
/// `want`; returns the body.
pub fn eventually(d: &Daemon, host: &str, path: &str, status: u16, want: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (st, _, body) = through(d, host, path);
        if st == status && body.contains(want) {
            return body;
        }
        assert!(
            Instant::now() < deadline,
            "{host}{path}: wanted {status} with {want:?}, got {st}: {body}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn routes_by_host_and_domain_with_pages_maintenance_and_forwarded_headers() {
    ensure_images();
    let d = Daemon::start();
    let tok = d.admin_token.clone();
    let app = unique("rt");
    let host = format!("{app}.localhost");
    d.admin().ok(&["apps:create", &app, "--no-remote"]);
    d.admin()
        .ok(&["deploy", "-a", &app, "--image", "skypanel-test/web:1"]);
    eventually(&d, &host, "/", 200, "web v1");
    // Any case and a port in the Host header.
    eventually(
        &d,
        &format!("{}:80", host.to_uppercase()),
        "/",
        200,
        "web v1",
    );

    let (st, _, body) = through(&d, "nowhere.localhost", "/");
    assert_eq!(st, 404, "{body}");
    assert!(body.contains("No such app"), "{body}");

    let idle = unique("idle");
    d.admin().ok(&["apps:create", &idle, "--no-remote"]);
    eventually(
        &d,
        &format!("{idle}.localhost"),
        "/",
        503,
        "has no running web process",
    );

    // Custom domains: one app each, validated.
    let domain = format!("{}.example.com", unique("shop"));
    d.admin().ok(&["domains:add", "-a", &app, &domain]);
    eventually(&d, &domain, "/", 200, "web v1");
    let listed = d.cli(&tok).json(&["domains", "-a", &app, "--json"]);
    assert_eq!(listed["default"].as_str(), Some(host.as_str()));
    assert_eq!(
        listed["custom"][0]["hostname"].as_str(),
        Some(domain.as_str())
    );
    let err = d.admin().fails(&["domains:add", "-a", &idle, &domain]);
    assert!(err.contains("already belongs to an app"), "{err}");
    let err = d.admin().fails(&["domains:add", "-a", &idle, &host]);
    assert!(err.contains("default hostname of another app"), "{err}");
    let err = d
        .admin()
        .fails(&["domains:add", "-a", &idle, "Bad_Domain.com"]);
    assert!(err.contains("is not a domain name"), "{err}");
    let err = d.admin().fails(&["domains:remove", "-a", &idle, &domain]);
    assert!(err.contains("has no domain"), "{err}");
    d.admin().ok(&["domains:remove", "-a", &app, &domain]);
    eventually(&d, &domain, "/", 404, "No such app");

    // Maintenance mode.
    d.admin().ok(&["maintenance:on", "-a", &app]);
    let body = eventually(&d, &host, "/", 503, "maintenance");
    assert!(body.contains(&app), "{body}");
    let (_, headers, _) = through(&d, &host, "/");
    assert!(headers.contains_key("retry-after"));
    assert_eq!(d.admin().ok(&["maintenance", "-a", &app]).trim(), "on");
    d.admin().ok(&["maintenance:off", "-a", &app]);
    eventually(&d, &host, "/", 200, "web v1");

    // What the app sees.
    let (st, headers, env) = through_with(
        &d,
        &host,
        "/cgi-bin/env",
        &[("x-forwarded-for", "203.0.113.9")],
    );
    assert_eq!(st, 200, "{env}");
    assert!(
        env.contains("HTTP_X_FORWARDED_FOR=203.0.113.9, 127.0.0.1"),
        "{env}"
    );
    assert!(env.contains("HTTP_X_FORWARDED_PROTO=http"), "{env}");
    assert!(
        env.contains(&format!("HTTP_X_FORWARDED_HOST={host}")),
        "{env}"
    );
    let id = headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .expect("x-request-id on the response");
    assert!(env.contains(&format!("HTTP_X_REQUEST_ID={id}")), "{env}");

    // Per-app request figures on /metrics (Prometheus text format).
    let (st, metrics) = crate::common::fetch(d.url.trim_start_matches("http://"), "/metrics");
    assert_eq!(st, 200, "{metrics}");
    let value = |series: &str| -> f64 {
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(series)?.trim().parse().ok())
            .unwrap_or_else(|| panic!("no {series} in\n{metrics}"))
    };
    assert!(
        value(&format!(
            "skypanel_router_requests_total{{app=\"{app}\",class=\"2xx\"}}"
        )) >= 3.0
    );
    assert!(
        value(&format!(
            "skypanel_router_requests_total{{app=\"{app}\",class=\"5xx\"}}"
        )) >= 1.0
    );
    assert!(
        value(&format!(
            "skypanel_router_requests_total{{app=\"{idle}\",class=\"5xx\"}}"
        )) >= 1.0
    );
    assert!(value("skypanel_router_requests_total{app=\"(none)\",class=\"4xx\"}") >= 1.0);
    let count = value(&format!(
        "skypanel_router_request_duration_seconds_count{{app=\"{app}\"}}"
    ));
    let inf = value(&format!(
        "skypanel_router_request_duration_seconds_bucket{{app=\"{app}\",le=\"+Inf\"}}"
    ));
    assert_eq!(count, inf, "the +Inf bucket holds every request");
}

const WS_SCRIPT: &str = r#"#!/bin/sh
# One WebSocket connection: answer the handshake, then echo every byte back.
key=""
while IFS= read -r line; do
    line=$(printf '%s' "$line" | tr -d '\r')
    [ -z "$line" ] && break
    case "$line" in
        [Ss]ec-[Ww]eb[Ss]ocket-[Kk]ey:*) key=$(printf '%s' "${line#*:}" | tr -d ' ') ;;
    esac
done
accept=$(printf '%s' "${key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11" | sha1sum | cut -d' ' -f1 | xxd -r -p | base64)
printf 'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n' "$accept"
exec cat
"#;

/// A masked client frame (RFC 6455 5.2) carrying `text`.
fn ws_frame(text: &str) -> Vec<u8> {
    let mask = [0x37u8, 0xfa, 0x21, 0x3d];
    let mut f = vec![0x81, 0x80 | text.len() as u8];
    f.extend_from_slice(&mask);
    f.extend(text.bytes().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    f
}

#[test]
fn timeouts_answer_504_and_websockets_pass_through() {
    ensure_images();
    let d = Daemon::start();
    let tok = d.admin_token.clone();
    // An app with a request that never answers in time.
    let hang = unique("hang");
    let repo = Repo::new(&[(
        "Dockerfile",
        "FROM skypanel-test/web:1\nRUN printf '#!/bin/sh\\nsleep 30\\n' > /www/cgi-bin/hang && chmod 755 /www/cgi-bin/hang\n\
         RUN printf '#!/bin/sh\\nprintf \"Content-Type: text/plain\\\\r\\\\n\\\\r\\\\nfirst\\\\n\"\\nsleep 30\\necho second\\n' > /www/cgi-bin/trickle && chmod 755 /www/cgi-bin/trickle\n\
         RUN printf '#!/bin/sh\\ncat >/dev/null\\necho Content-Type: text/plain\\necho\\necho read\\n' > /www/cgi-bin/slurp && chmod 755 /www/cgi-bin/slurp\n",
    )]);
    // Set first: the table that first routes the app was built with them.
    d.admin()
        .ok(&["admin", "settings:set", "router_backend_timeout_s", "2"]);
    d.admin()
        .ok(&["admin", "settings:set", "router_idle_timeout_s", "2"]);
    d.cli(&tok).cwd(repo.path()).ok(&["apps:create", &hang]);
    repo.push_ok(&d, &tok);
    let host = format!("{hang}.localhost");
    eventually(&d, &host, "/", 200, "web v1");
    let started = Instant::now();
    let (st, _, body) = through(&d, &host, "/cgi-bin/hang");
    assert_eq!(st, 504, "{body}");
    assert!(body.contains("did not answer in time"), "{body}");
    assert!(started.elapsed() < Duration::from_secs(15));

    // A response body that stalls is cut off after router_idle_timeout_s.
    let started = Instant::now();
    let (st, _, body) = through(&d, &host, "/cgi-bin/trickle");
    assert_eq!(st, 200, "{body}");
    assert!(!body.contains("second"), "{body}");
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "the stalled body was cut off: {:?}",
        started.elapsed()
    );
    // So is a request body that stalls: the client gets an answer, not a
    // hang (with the backend's own limit out of the way, it is this one).
    d.admin()
        .ok(&["admin", "settings:set", "router_backend_timeout_s", "60"]);
    std::thread::sleep(Duration::from_secs(1));
    let mut c = TcpStream::connect(&d.router).expect("connect");
    c.set_read_timeout(Some(Duration::from_secs(20)))
        .expect("timeout");
    let started = Instant::now();
    write!(
        c,
        "POST /cgi-bin/slurp HTTP/1.1\r\nHost: {host}\r\nContent-Length: 100\r\n\r\n0123456789"
    )
    .expect("send");
    let mut answer = Vec::new();
    let _ = c.read_to_end(&mut answer);
    let answer = String::from_utf8_lossy(&answer);
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "a stalled upload was cut off: {:?} {answer}",
        started.elapsed()
    );
    assert!(answer.starts_with("HTTP/1.1 502"), "{answer}");

    // A WebSocket echo server (busybox nc + a shell handshake).
    let ws = unique("ws");
    let repo = Repo::new(&[
        ("ws.sh", WS_SCRIPT),
        (
            "Dockerfile",
            "FROM skypanel-test/web:1\nCOPY ws.sh /ws.sh\nRUN chmod 755 /ws.sh\n\
             CMD [\"/bin/sh\", \"-c\", \"exec nc -ll -p ${PORT:-5000} -e /ws.sh\"]\n",
        ),
    ]);
    d.cli(&tok).cwd(repo.path()).ok(&["apps:create", &ws]);
    repo.push_ok(&d, &tok);
    wait_backends(&d, &tok, &ws, |b| !b.is_empty());
    let deadline = Instant::now() + Duration::from_secs(20);
    let (mut conn, head) = loop {
        let mut c = TcpStream::connect(&d.router).expect("connect to the router");
        c.set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        write!(
            c,
            "GET /chat HTTP/1.1\r\nHost: {ws}.localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        .expect("handshake");
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            match c.read(&mut byte) {
                Ok(1) => head.push(byte[0]),
                _ => break,
            }
        }
        let head = String::from_utf8_lossy(&head).into_owned();
        if head.starts_with("HTTP/1.1 101") {
            break (c, head);
        }
        assert!(
            Instant::now() < deadline,
            "no upgrade through the router: {head}"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(
        head.to_ascii_lowercase()
            .contains("sec-websocket-accept: s3pplmbitxaq9kygzzhzrbk+xoo="),
        "the app's handshake answer reaches the client: {head}"
    );
    for text in ["hello", "through the router"] {
        let frame = ws_frame(text);
        conn.write_all(&frame).expect("send frame");
        let mut back = vec![0u8; frame.len()];
        conn.read_exact(&mut back).expect("echo");
        assert_eq!(back, frame, "the frame came back unchanged");
    }
}

/// Hands out `len` bytes without ever holding them.
struct Zeros {
    left: u64,
}

impl Read for Zeros {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = (buf.len() as u64).min(self.left) as usize;
        buf[..n].fill(b'z');
        self.left -= n as u64;
        Ok(n)
    }
}

#[test]
fn a_1_gib_upload_streams_through_in_bounded_memory() {
    ensure_images();
    let d = Daemon::start();
    let tok = d.admin_token.clone();
    let app = unique("up");
    let repo = Repo::new(&[(
        "Dockerfile",
        "FROM skypanel-test/web:1\nRUN printf '#!/bin/sh\\necho Content-Type: text/plain\\necho\\necho got $(head -c \"$CONTENT_LENGTH\" | wc -c)\\n' > /www/cgi-bin/sink && chmod 755 /www/cgi-bin/sink\n",
    )]);
    d.cli(&tok).cwd(repo.path()).ok(&["apps:create", &app]);
    repo.push_ok(&d, &tok);
    let host = format!("{app}.localhost");
    eventually(&d, &host, "/", 200, "web v1");
    let before = proc_kb(d.pid(), "VmHWM");
    let len: u64 = 1 << 30;
    let res = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(300))
        .build()
        .expect("client")
        .post(format!("http://{}/cgi-bin/sink", d.router))
        .header("host", &host)
        .body(reqwest::blocking::Body::sized(Zeros { left: len }, len))
        .send()
        .expect("upload");
    assert_eq!(res.status().as_u16(), 200);
    let body = res.text().expect("body");
    assert_eq!(
        body.trim(),
        format!("got {len}"),
        "every byte reached the app"
    );
    let after = proc_kb(d.pid(), "VmHWM");
    assert!(
        after < before + 64 * 1024,
        "the daemon's peak memory grew from {before} kB to {after} kB for a 1 GiB upload"
    );
}

#[test]
fn no_request_is_dropped_while_the_app_changes() {
    ensure_images();
    let d = Daemon::start();
    let app = unique("steady");
    let host = format!("{app}.localhost");
    d.admin().ok(&["apps:create", &app, "--no-remote"]);
    d.admin()
        .ok(&["deploy", "-a", &app, "--image", "skypanel-test/web:1"]);
    eventually(&d, &host, "/", 200, "web v1");

    let stop = Arc::new(AtomicBool::new(false));
    let ok = Arc::new(AtomicU64::new(0));
    let failures = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let clients: Vec<_> = (0..16)
        .map(|_| {
            let (stop, ok, failures) = (Arc::clone(&stop), Arc::clone(&ok), Arc::clone(&failures));
            let (router, host) = (d.router.clone(), host.clone());
            std::thread::spawn(move || {
                let client = reqwest::blocking::Client::builder()
                    .timeout(Duration::from_secs(30))
                    .build()
                    .expect("client");
                while !stop.load(Ordering::Relaxed) {
                    let r = client
                        .get(format!("http://{router}/"))
                        .header("host", &host)
                        .send()
                        .map(|r| (r.status().as_u16(), r.text().unwrap_or_default()));
                    match r {
                        Ok((200, body)) if body.starts_with("web v") => {
                            ok.fetch_add(1, Ordering::Relaxed);
                        }
                        other => failures
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .push(format!("{other:?}")),
                    }
                }
            })
        })
        .collect();
    let step = |args: &[&str]| {
        let mut full = args.to_vec();
        full.extend(["-a", &app]);
        d.admin().ok(&full);
    };
    for i in 0..5 {
        let image = if i % 2 == 0 {
            "skypanel-test/web:2"
        } else {
            "skypanel-test/web:1"
        };
        step(&["deploy", "--image", image]);
    }
    step(&["releases:rollback"]);
    step(&["ps:scale", "web=2"]);
    wait_backends(&d, &d.admin_token, &app, |b| b.len() == 2);
    step(&["ps:scale", "web=1"]);
    step(&["ps:restart"]);
    step(&["config:set", "STEADY=1"]);
    std::thread::sleep(Duration::from_secs(3));
    stop.store(true, Ordering::Relaxed);
    for c in clients {
        c.join().expect("client thread");
    }
    let failures = failures.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let served = ok.load(Ordering::Relaxed);
    assert!(
        failures.is_empty(),
        "{} of {} requests failed, first: {:?}",
        failures.len(),
        served + failures.len() as u64,
        &failures[..failures.len().min(5)]
    );
    assert!(served > 500, "only {served} requests were made");
}
