//! Logs that survive redeploys: the real collector following real Swarm
//! tasks, the CLI's tail over real HTTP, retention, and the Loki sink
//! pushing to a receiver in the test.

use std::collections::HashSet;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::{Daemon, Received, ensure_images, proc_kb, receiver, unique, wait_backends};
use crate::push::Repo;
use crate::router::eventually;

/// An app whose web process serves `marker` at `/` and prints `tick MARKER N`
/// every 100 ms.
fn ticking(marker: &str) -> [(&'static str, String); 2] {
    [
        (
            "Dockerfile",
            format!("FROM skypanel-test/web:1\nRUN echo {marker} > /www/index.html\n"),
        ),
        (
            "Procfile",
            format!(
                "web: httpd -p $PORT -h /www; i=0; while true; do i=$((i+1)); echo \"tick {marker} $i\"; sleep 0.1; done\n"
            ),
        ),
    ]
}

fn files<'a>(f: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    f.iter().map(|(n, t)| (*n, t.as_str())).collect()
}

/// Polls `check` on `logs ARGS` output until it holds.
fn logs_until(
    d: &Daemon,
    tok: &str,
    args: &[&str],
    what: &str,
    check: impl Fn(&str) -> bool,
) -> String {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let out = d.cli(tok).ok(&[&["logs"][..], args].concat());
        if check(&out) {
            return out;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: logs {args:?} printed:\n{out}"
        );
        std::thread::sleep(Duration::from_millis(300));
    }
}

/// A Loki push endpoint: answers 500 to the first `fail` pushes, then 204,
/// and keeps every body with the status it got.
struct Loki {
    addr: String,
    got: Arc<Mutex<Vec<Received>>>,
}

fn loki_receiver(fail: usize) -> Loki {
    let r = receiver(move |head, body, n| {
        let ok = head.starts_with("POST /loki/api/v1/push ")
            && head
                .to_ascii_lowercase()
                .contains("content-type: application/json");
        if !ok || serde_json::from_slice::<Value>(body).is_err() {
            400
        } else if n < fail {
            500
        } else {
            204
        }
    });
    Loki {
        addr: r.addr,
        got: r.got,
    }
}

impl Loki {
    /// Lines Loki accepted, with their stream labels.
    fn accepted(&self) -> Vec<(Value, String)> {
        let g = self.got.lock().expect("lock");
        g.iter()
            .filter(|r| r.status == 204)
            .flat_map(|r| {
                let body: Value = serde_json::from_slice(&r.body).unwrap_or(Value::Null);
                body["streams"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
                    .into_iter()
                    .flat_map(|s| {
                        let labels = s["stream"].clone();
                        s["values"]
                            .as_array()
                            .cloned()
                            .unwrap_or_default()
                            .into_iter()
                            .map(move |v| {
                                (
                                    labels.clone(),
                                    v[1].as_str().unwrap_or_default().to_string(),
                                )
                            })
                    })
            })
            .collect()
    }
}

#[test]
fn logs_survive_redeploys_tail_every_replica_and_reach_loki() {
    ensure_images();
    let d = Daemon::start();
    let tok = d.admin_token.clone();
    let loki = loki_receiver(1);
    d.admin().ok(&[
        "admin",
        "settings:set",
        "loki_endpoint",
        &format!("http://{}", loki.addr),
    ]);
    let app = unique("logs");
    let m1 = unique("one");
    let repo = Repo::new(&files(&ticking(&m1)));
    d.cli(&tok).cwd(repo.path()).ok(&["apps:create", &app]);
    repo.push_ok(&d, &tok);
    d.cli(&tok).ok(&["ps:scale", "web=2", "-a", &app]);
    wait_backends(&d, &tok, &app, |b| b.len() == 2);

    // A tail shows lines of both replicas as they come, and Ctrl-C ends it cleanly.
    let mut tail = d
        .cli(&tok)
        .cmd
        .args(["logs", "-a", &app, "-t", "-n", "5"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .expect("logs -t");
    let out = tail.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for l in BufReader::new(out).lines().map_while(Result::ok) {
            if tx.send(l).is_err() {
                return;
            }
        }
    });
    let mut seen = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    let tick = format!(": tick {m1} ");
    while !(seen
        .iter()
        .any(|l: &String| l.contains(&format!("app[web.1]{tick}")))
        && seen
            .iter()
            .any(|l| l.contains(&format!("app[web.2]{tick}"))))
    {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(l) => seen.push(l),
            Err(_) => panic!("the tail did not show both replicas:\n{}", seen.join("\n")),
        }
    }
    let shape = seen.iter().find(|l| l.contains(&tick)).expect("a tick");
    assert!(
        shape.len() > 21 && shape.as_bytes()[4] == b'-' && shape[19..].starts_with("Z app[web."),
        "lines read `TIME app[web.N]: text`: {shape}"
    );
    let _ = std::process::Command::new("kill")
        .args(["-INT", &tail.id().to_string()])
        .status();
    let status = tail.wait().expect("wait");
    assert!(status.success(), "Ctrl-C ends the tail cleanly: {status}");

    // Requests through the router are in the app's log.
    let host = format!("{app}.localhost");
    eventually(&d, &host, "/", 200, &m1);
    logs_until(
        &d,
        &tok,
        &["-a", &app, "-s", "skypanel", "-p", "router"],
        "router line",
        |o| {
            o.contains(&format!(
                "skypanel[router]: host={host} method=GET path=\"/\" status=200 ms="
            )) && o.contains("request_id=")
        },
    );

    // Two redeploys: the first release's lines are still there.
    let m2 = unique("two");
    repo.commit(&files(&ticking(&m2)), "two");
    repo.push_ok(&d, &tok);
    let m3 = unique("three");
    repo.commit(&files(&ticking(&m3)), "three");
    repo.push_ok(&d, &tok);
    let releases = d.cli(&tok).json(&["releases", "-a", &app, "--json"]);
    let first = releases
        .as_array()
        .expect("releases")
        .iter()
        .filter_map(|r| r["version"].as_i64())
        .min()
        .expect("a release");
    logs_until(
        &d,
        &tok,
        &["-a", &app, "-p", "web", "-n", "10000", "--since", "1h"],
        "all releases",
        |o| o.contains(&format!("tick {m1} ")) && o.contains(&format!("tick {m3} ")),
    );
    let v1 = d.cli(&tok).ok(&[
        "logs",
        "-a",
        &app,
        "--release",
        &format!("v{first}"),
        "-n",
        "10000",
    ]);
    assert!(v1.contains(&format!("tick {m1} ")), "{v1}");
    assert!(
        !v1.contains(&m2) && !v1.contains(&m3),
        "--release keeps to one release:\n{v1}"
    );
    let deploys = d.cli(&tok).ok(&[
        "logs", "-a", &app, "-s", "skypanel", "-p", "deploy", "-n", "1000",
    ]);
    assert!(
        deploys.contains("skypanel[deploy]: Deploying web (")
            && deploys.contains("is live (web (2 replicas))"),
        "{deploys}"
    );
    let json = d.cli(&tok).ok(&["logs", "-a", &app, "-n", "3", "--json"]);
    let rows: Vec<Value> = json
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object a line"))
        .collect();
    assert_eq!(rows.len(), 3, "{json}");
    for r in &rows {
        assert!(
            r["at"].as_str().is_some_and(|a| a.ends_with('Z'))
                && r["source"].is_string()
                && r["process"].is_string()
                && r["line"].is_string(),
            "{r}"
        );
    }

    // Loki got the lines (after a 500 it was pushed again), labelled, none missing.
    let org = d.cli(&tok).json(&["apps:info", "-a", &app, "--json"])["org"]
        .as_str()
        .expect("org")
        .to_string();
    let local: HashSet<String> = d
        .cli(&tok)
        .ok(&[
            "logs",
            "-a",
            &app,
            "--release",
            &format!("v{first}"),
            "-p",
            "web.1",
            "-n",
            "10000",
            "--json",
        ])
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).expect("json")["line"]
                .as_str()
                .expect("line")
                .to_string()
        })
        .collect();
    assert!(!local.is_empty());
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let accepted = loki.accepted();
        let pushed: HashSet<String> = accepted
            .iter()
            .filter(|(labels, _)| {
                labels["app"] == app.as_str()
                    && labels["org"] == org.as_str()
                    && labels["process"] == "web.1"
                    && labels["release"] == first.to_string().as_str()
                    && labels["source"] == "app"
            })
            .map(|(_, l)| l.clone())
            .collect();
        if local.is_subset(&pushed) {
            break;
        }
        let missing = local.difference(&pushed).take(3).collect::<Vec<_>>();
        assert!(
            Instant::now() < deadline,
            "Loki lacks lines, e.g. {missing:?}"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    let statuses: Vec<u16> = loki
        .got
        .lock()
        .expect("lock")
        .iter()
        .map(|r| r.status)
        .collect();
    assert_eq!(statuses.first(), Some(&500), "{statuses:?}");
    assert!(statuses.iter().skip(1).all(|s| *s == 204), "{statuses:?}");

    // Bad input names the flag and changes nothing.
    for (args, want) in [
        (vec!["-n", "0"], "-n \"0\" is not valid"),
        (vec!["--since", "lately"], "--since \"lately\" is not valid"),
        (vec!["-p", "Web!"], "--process \"Web!\" is not valid"),
        (
            vec!["--release", "seven"],
            "--release \"seven\" is not valid",
        ),
        (vec!["-s", "nginx"], "--source \"nginx\" is not valid"),
    ] {
        let err = d
            .cli(&tok)
            .fails(&[&["logs", "-a", &app][..], &args].concat());
        assert!(err.contains(want), "{args:?}: {err}");
    }
    let err = d.cli(&tok).fails(&["logs", "-a", "no-such-app"]);
    assert!(err.contains("app \"no-such-app\" not found"), "{err}");
    let err = d
        .admin()
        .fails(&["admin", "settings:set", "loki_retention_days", "0s"]);
    assert!(
        err.contains("a number of days from 1 to 3650, or a duration"),
        "{err}"
    );

    // Retention: a 5 s window removes the first release's lines; new ones keep coming.
    d.admin()
        .ok(&["admin", "settings:set", "loki_retention_days", "5s"]);
    logs_until(
        &d,
        &tok,
        &["-a", &app, "--release", &format!("v{first}")],
        "retention",
        |o| o.trim().is_empty(),
    );
    logs_until(
        &d,
        &tok,
        &["-a", &app, "-n", "5", "-p", "web"],
        "new lines after retention",
        |o| o.contains(&format!("tick {m3} ")),
    );
}

fn metric(d: &Daemon, name: &str) -> f64 {
    let text = reqwest::blocking::get(format!("{}/metrics", d.url))
        .and_then(|r| r.text())
        .unwrap_or_default();
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {name} in /metrics:\n{text}"))
}

/// Opens a raw tail of `app`: the response head is read, the body is left
/// to the caller. A `small` receive buffer stands for a slow network (on
/// loopback the kernel would otherwise buffer megabytes for a reader).
fn raw_tail(d: &Daemon, tok: &str, app: &str, small: bool) -> BufReader<TcpStream> {
    let addr = d.url.trim_start_matches("http://");
    let sock =
        socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).expect("socket");
    if small {
        sock.set_recv_buffer_size(4096).expect("SO_RCVBUF");
    }
    let to: std::net::SocketAddr = addr.parse().expect("addr");
    sock.connect(&to.into()).expect("connect");
    let mut s: TcpStream = sock.into();
    write!(
        s,
        "GET /api/v1/apps/{app}/logs?tail=1&lines=10 HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {tok}\r\n\r\n"
    )
    .expect("request");
    let mut r = BufReader::new(s);
    let mut status = String::new();
    r.read_line(&mut status).expect("status");
    assert!(status.starts_with("HTTP/1.1 200"), "{status}");
    loop {
        let mut l = String::new();
        r.read_line(&mut l).expect("head");
        if l == "\r\n" {
            return r;
        }
    }
}

/// Lines stored per second over `secs`.
fn rate(d: &Daemon, secs: u64) -> f64 {
    let a = metric(d, "skypanel_log_lines_stored_total");
    std::thread::sleep(Duration::from_secs(secs));
    (metric(d, "skypanel_log_lines_stored_total") - a) / secs as f64
}

#[test]
fn a_slow_tail_and_100_tails_neither_slow_collection_nor_grow_memory() {
    ensure_images();
    let d = Daemon::start();
    let tok = d.admin_token.clone();
    let app = unique("noisy");
    let m = unique("noise");
    let pad = "x".repeat(900);
    let repo = Repo::new(&[
        ("Dockerfile", "FROM skypanel-test/web:1\n"),
        (
            "Procfile",
            &format!(
                "web: httpd -p $PORT -h /www; while true; do seq 1 30 | sed 's/^/{m} {pad} /'; sleep 0.1; done\n"
            ),
        ),
    ]);
    d.cli(&tok).cwd(repo.path()).ok(&["apps:create", &app]);
    repo.push_ok(&d, &tok);
    logs_until(&d, &tok, &["-a", &app, "-n", "1"], "noise", |o| {
        o.contains(&m)
    });
    let before = rate(&d, 5);
    assert!(
        before > 50.0,
        "the noisy app is collected: {before} lines/s"
    );
    let rss_before = proc_kb(d.pid(), "VmRSS");

    // One tail that never reads, and 100 that read everything.
    let slow = raw_tail(&d, &tok, &app, true);
    let counted: Arc<Vec<AtomicU64>> = Arc::new((0..100).map(|_| AtomicU64::new(0)).collect());
    for i in 0..100 {
        let mut r = raw_tail(&d, &tok, &app, false);
        let counted = Arc::clone(&counted);
        std::thread::spawn(move || {
            let mut line = Vec::new();
            while r.read_until(b'\n', &mut line).unwrap_or(0) > 0 {
                counted[i].fetch_add(1, Ordering::Relaxed);
                line.clear();
            }
        });
    }
    let during = rate(&d, 10);

    let rss_during = proc_kb(d.pid(), "VmRSS");
    assert!(
        during > before * 0.5,
        "collection slowed with 101 tails: {before:.0} lines/s before, {during:.0} during"
    );
    let grown_mb = (rss_during.saturating_sub(rss_before)) / 1024;
    assert!(
        grown_mb < 100,
        "101 tails grew the daemon by {grown_mb} MiB ({rss_before} kB → {rss_during} kB)"
    );
    eprintln!(
        "collection: {before:.0} lines/s before, {during:.0} with 101 tails; RSS {rss_before} kB → {rss_during} kB"
    );
    let least = counted
        .iter()
        .map(|c| c.load(Ordering::Relaxed))
        .min()
        .unwrap_or(0);
    assert!(
        least > 100,
        "every reading tail gets the lines (fewest: {least})"
    );

    // The slow tail, read at last, was told what it missed. The daemon's
    // socket send buffer takes up to 4 MiB (tcp_wmem) first: about 14 s of
    // this app's output, then the tail's ring (1024 lines) fills.
    std::thread::sleep(Duration::from_secs(20));
    let mut slow = slow;
    slow.get_mut()
        .set_read_timeout(Some(Duration::from_secs(20)))
        .expect("timeout");
    let mut missed = 0u64;
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut line = String::new();
    let mut read = 0usize;
    while missed == 0 && Instant::now() < deadline {
        line.clear();
        match slow.read_line(&mut line) {
            Ok(0) => break,
            Ok(n) => read += n,
            Err(e) => panic!("the slow tail broke off after {read} bytes: {e}"),
        }
        // Chunked framing lines are hex sizes; the JSON lines are what counts.
        if let Some(n) = line
            .trim()
            .strip_prefix("{\"missed\":")
            .and_then(|r| r.trim_end_matches('}').parse::<u64>().ok())
        {
            missed = n;
        }
    }
    assert!(
        missed > 0,
        "the slow tail was never told it missed lines ({read} bytes read)"
    );
}
