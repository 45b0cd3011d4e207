//! The health monitor replacing a real Swarm task, the signed webhooks it
//! raises (received and checked here), `checks:history`, `apps:stats`, and
//! Prometheus from Debian scraping `/metrics`.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::{Daemon, Received, docker, ensure_images, receiver, unique, wait_backends};
use crate::router::through;

/// Polls `f` until it returns `Some`, for up to `secs`.
fn wait_for<T>(secs: u64, what: &str, mut f: impl FnMut() -> Result<T, String>) -> T {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        match f() {
            Ok(v) => return v,
            Err(last) => assert!(Instant::now() < deadline, "{what}: {last}"),
        }
        std::thread::sleep(Duration::from_millis(300));
    }
}

/// Checks `X-SkyPanel-Signature: t=T,v1=HEX` against HMAC-SHA256(secret, "T.body").
fn signature_ok(r: &Received, secret: &str) -> bool {
    let Some(sig) = r.header("x-skypanel-signature") else {
        return false;
    };
    let mut t = "";
    let mut v1 = "";
    for part in sig.split(',') {
        match part.split_once('=') {
            Some(("t", x)) => t = x,
            Some(("v1", x)) => v1 = x,
            _ => {}
        }
    }
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret.as_bytes());
    let mut msg = format!("{t}.").into_bytes();
    msg.extend_from_slice(&r.body);
    let want: String = ring::hmac::sign(&key, &msg)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    !t.is_empty() && v1 == want
}

fn body(r: &Received) -> Value {
    serde_json::from_slice(&r.body).unwrap_or(Value::Null)
}

/// Removes the app (and so its services) when the test ends, passed or not.
struct AppGuard<'a>(&'a Daemon, String);

impl Drop for AppGuard<'_> {
    fn drop(&mut self) {
        let _ = self
            .0
            .admin()
            .run(&["apps:destroy", &self.1, "--confirm", &self.1]);
    }
}

#[test]
fn a_task_failing_its_checks_is_replaced_with_event_webhook_and_telemetry() {
    ensure_images();
    let d = Daemon::start();
    let tok = d.admin_token.clone();
    // The endpoint refuses the first delivery, then takes everything.
    let hook = receiver(|_, _, n| if n == 0 { 500 } else { 200 });
    let out = d.admin().ok(&[
        "orgs:webhooks:add",
        "-o",
        "main",
        &format!("http://{}/hook", hook.addr),
        "--events",
        "deploy,crash,health",
    ]);
    let secret = out
        .lines()
        .find(|l| l.starts_with("whsec_"))
        .unwrap_or_else(|| panic!("the secret is shown once: {out}"))
        .trim()
        .to_string();
    let listed = d.admin().ok(&["orgs:webhooks", "-o", "main"]);
    assert!(
        listed.contains(&hook.addr) && listed.contains("deploy,crash,health"),
        "{listed}"
    );
    assert!(
        !listed.contains(&secret),
        "the secret is never listed: {listed}"
    );

    let app = unique("sick");
    d.admin().ok(&["apps:create", &app]);
    let _guard = AppGuard(&d, app.clone());
    // 404 passes a check (below 500) until the test writes the script.
    d.admin().ok(&[
        "checks:set",
        "-a",
        &app,
        "path=/cgi-bin/health",
        "timeout=2",
    ]);
    d.admin()
        .ok(&["deploy", "-a", &app, "--image", "skypanel-test/web:1"]);
    d.admin().ok(&["ps:scale", "-a", &app, "web=2"]);
    wait_backends(&d, &tok, &app, |b| b.len() == 2);
    d.admin()
        .ok(&["admin", "settings:set", "health_check_failures", "3"]);
    d.admin()
        .ok(&["admin", "settings:set", "health_check_interval_s", "1"]);

    let history = |d: &Daemon| -> Vec<Value> {
        d.admin()
            .json(&["checks:history", "-a", &app, "-n", "200", "--json"])
            .as_array()
            .cloned()
            .unwrap_or_default()
    };
    wait_for(30, "both web tasks are probed and pass", || {
        let h = history(&d);
        let slots: std::collections::HashSet<i64> = h
            .iter()
            .filter(|p| p["ok"] == true)
            .filter_map(|p| p["slot"].as_i64())
            .collect();
        (slots.len() == 2).then_some(()).ok_or(format!("{h:?}"))
    });

    // web.2 starts answering its check with 500.
    let ps = d.admin().json(&["ps", "-a", &app, "--json"]);
    let sick = ps["processes"][0]["tasks"]
        .as_array()
        .expect("tasks")
        .iter()
        .find(|t| t["slot"] == 2 && t["state"] == "running")
        .and_then(|t| t["id"].as_str())
        .unwrap_or_else(|| panic!("web.2 runs: {ps}"))
        .to_string();
    let container = docker(&[
        "inspect",
        "--format",
        "{{.Status.ContainerStatus.ContainerID}}",
        &sick,
    ]);
    let script = "#!/bin/sh\nprintf 'Status: 500 Sick\\r\\n\\r\\nsick\\n'\n";
    let exec = Command::new("docker")
        .args(["exec", container.trim(), "sh", "-c"])
        .arg(format!(
            "cat > /www/cgi-bin/health <<'EOF'\n{script}EOF\nchmod 755 /www/cgi-bin/health"
        ))
        .output()
        .expect("docker exec");
    assert!(exec.status.success(), "{exec:?}");

    let replaced = wait_for(60, "web.2 is replaced after 3 failed probes", || {
        let h = history(&d);
        h.iter()
            .find(|p| p["task"] == sick.as_str() && p["action"] == "replaced")
            .cloned()
            .ok_or(format!("{h:?}"))
    });
    assert_eq!(replaced["ok"], false);
    assert!(
        replaced["detail"]
            .as_str()
            .unwrap_or("")
            .contains("answered 500"),
        "{replaced}"
    );
    let h = history(&d);
    let failed = h
        .iter()
        .filter(|p| p["task"] == sick.as_str() && p["ok"] == false)
        .count();
    assert_eq!(
        failed, 3,
        "three failures in a row, then the replacement: {h:?}"
    );
    assert!(
        h.iter()
            .any(|p| p["slot"] == 1 && p["ok"] == true && p["action"] == "none"),
        "web.1 kept passing and was left alone: {h:?}"
    );
    let table = d.admin().ok(&["checks:history", "-a", &app]);
    assert!(
        table.contains("replaced") && table.contains("failed: GET /cgi-bin/health answered 500"),
        "{table}"
    );

    // Swarm starts a new web.2; both serve again.
    wait_for(60, "a new web.2 takes traffic", || {
        let ps = d.admin().json(&["ps", "-a", &app, "--json"]);
        let tasks = ps["processes"][0]["tasks"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let ok = tasks.iter().any(|t| {
            t["slot"] == 2
                && t["state"] == "running"
                && t["id"] != sick.as_str()
                && t["healthy"] == true
        });
        ok.then_some(()).ok_or(format!("{ps}"))
    });

    // The event, in the events list and the app's log.
    let events = d.admin().json(&["admin", "events", "--json"]);
    let ev = events
        .as_array()
        .expect("events")
        .iter()
        .find(|e| e["kind"] == "task_replaced" && e["app"] == app.as_str())
        .unwrap_or_else(|| panic!("a task_replaced event: {events}"))
        .clone();
    assert!(
        ev["message"].as_str().unwrap_or("").contains("web.2"),
        "{ev}"
    );
    let logs = d
        .admin()
        .ok(&["logs", "-a", &app, "-p", "runtime", "-n", "50"]);
    assert!(
        logs.contains("skypanel[runtime]") && logs.contains("failed 3 health checks in a row"),
        "{logs}"
    );

    // The webhook: signed, with the task, after the first delivery was retried.
    let delivered = wait_for(60, "the task.replaced webhook arrives", || {
        let got = hook.got.lock().expect("lock").clone();
        got.iter()
            .find(|r| body(r)["event"] == "task.replaced")
            .cloned()
            .ok_or(format!("{:?}", got.iter().map(body).collect::<Vec<_>>()))
    });
    assert!(signature_ok(&delivered, &secret), "{:?}", delivered.head);
    assert!(
        !signature_ok(&delivered, "whsec_other"),
        "a wrong secret does not verify"
    );
    assert_eq!(
        delivered.header("x-skypanel-event").as_deref(),
        Some("task.replaced")
    );
    let b = body(&delivered);
    assert_eq!(b["app"], app.as_str());
    assert_eq!(b["org"], "main");
    assert_eq!(b["data"]["task"], sick.as_str());
    assert_eq!(b["data"]["slot"], 2);
    let got = hook.got.lock().expect("lock").clone();
    let first = got.first().expect("a delivery").clone();
    assert_eq!(first.status, 500);
    assert!(signature_ok(&first, &secret));
    let first_id = first.header("x-skypanel-delivery").expect("delivery id");
    let again: Vec<&Received> = got
        .iter()
        .filter(|r| r.header("x-skypanel-delivery").as_deref() == Some(first_id.as_str()))
        .collect();
    assert_eq!(again.len(), 2, "the refused delivery was retried once");
    assert_eq!(again[1].status, 200);
    assert_eq!(again[0].body, again[1].body, "a retry sends the same event");
    let w = d.admin().json(&["orgs:webhooks", "-o", "main", "--json"]);
    let row = w["deliveries"]
        .as_array()
        .expect("deliveries")
        .iter()
        .find(|x| x["id"].as_i64().map(|i| i.to_string()).as_deref() == Some(first_id.as_str()))
        .unwrap_or_else(|| panic!("delivery {first_id}: {w}"))
        .clone();
    assert_eq!(row["attempts"], 2, "{row}");
    assert_eq!(row["state"], "delivered", "{row}");
    assert_eq!(row["last_status"], 200, "{row}");
    let kinds: Vec<String> = got
        .iter()
        .map(|r| body(r)["event"].as_str().unwrap_or("").to_string())
        .collect();
    assert!(
        kinds.iter().any(|k| k == "deploy.started")
            && kinds.iter().any(|k| k == "deploy.succeeded"),
        "{kinds:?}"
    );

    // Metrics and stats.
    let metrics = reqwest::blocking::get(format!("{}/metrics", d.url))
        .and_then(|r| r.text())
        .expect("metrics");
    assert!(
        metrics.contains(&format!(
            "skypanel_health_replacements_total{{app=\"{app}\"}} 1\n"
        )),
        "{metrics}"
    );
    let failed_line = format!("skypanel_health_probes_total{{app=\"{app}\",result=\"failed\"}} ");
    let n: u64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix(&failed_line))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    assert!(n >= 3, "{metrics}");
    assert!(
        metrics.contains("skypanel_deployments_total{result=\"succeeded\"} 1\n"),
        "{metrics}"
    );

    let host = format!("{app}.localhost");
    for _ in 0..20 {
        let (st, _, _) = through(&d, &host, "/");
        assert_eq!(st, 200);
    }
    let stats = d.admin().json(&["apps:stats", "-a", &app, "--json"]);
    let web = &stats["processes"][0];
    assert_eq!(web["process"], "web", "{stats}");
    assert_eq!(web["running"], 2, "{stats}");
    assert!(web["memory_bytes"].as_u64().unwrap_or(0) > 0, "{stats}");
    assert!(
        web["memory_limit_bytes"].as_u64().unwrap_or(0)
            >= web["memory_bytes"].as_u64().unwrap_or(0),
        "{stats}"
    );
    assert!(
        web["restarts"].as_i64().unwrap_or(0) >= 1,
        "the killed task counts: {stats}"
    );
    assert!(
        stats["router"]["requests_last_hour"].as_u64().unwrap_or(0) >= 20,
        "{stats}"
    );
    assert!(
        stats["router"]["p95_ms"].as_f64().is_some_and(|v| v > 0.0),
        "{stats}"
    );
    let shown = d.admin().ok(&["apps:stats", "-a", &app]);
    assert!(
        shown.contains("web") && shown.contains("2/2") && shown.contains("Router, last hour:"),
        "{shown}"
    );

    // Bad input: named, non-zero, nothing changes.
    for (args, want) in [
        (
            vec!["orgs:webhooks:add", "-o", "main", "ftp://x"],
            "is not an http:// or https:// URL",
        ),
        (
            vec![
                "orgs:webhooks:add",
                "-o",
                "main",
                "http://x",
                "--events",
                "deploy,party",
            ],
            "unknown webhook event \"party\"",
        ),
        (
            vec!["orgs:webhooks:remove", "-o", "main", "9999"],
            "webhook 9999 not found in main",
        ),
        (
            vec!["orgs:webhooks:remove", "-o", "main", "one"],
            "webhook id \"one\" is not a number",
        ),
        (
            vec!["checks:history", "-a", &app, "-n", "0"],
            "-n \"0\" is not a number of probes",
        ),
    ] {
        let err = d.admin().fails(&args);
        assert!(err.contains(want), "{args:?}: {err}");
    }
    let after = d.admin().json(&["orgs:webhooks", "-o", "main", "--json"]);
    assert_eq!(
        after["webhooks"].as_array().map(Vec::len),
        Some(1),
        "{after}"
    );
    let id = after["webhooks"][0]["id"].to_string();
    d.admin().ok(&["orgs:webhooks:remove", "-o", "main", &id]);
    let after = d.admin().json(&["orgs:webhooks", "-o", "main", "--json"]);
    assert_eq!(
        after["webhooks"].as_array().map(Vec::len),
        Some(0),
        "{after}"
    );
}

/// Stops the Prometheus it holds when the test ends.
struct Prometheus(Child);

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

#[test]
fn prometheus_scrapes_the_daemon() {
    let d = Daemon::start();
    let app = unique("idle");
    d.admin().ok(&["apps:create", &app]);
    let dir = tempfile::tempdir().expect("tempdir");
    let target = d.url.trim_start_matches("http://");
    let config = dir.path().join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: skypanel\n    static_configs:\n      - targets: ['{target}']\n"
        ),
    )
    .expect("config");
    let port = free_port();
    let log = std::fs::File::create(dir.path().join("prometheus.log")).expect("log");
    let child = Command::new("prometheus")
        .arg(format!("--config.file={}", config.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.path().join("data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::from(log))
        .spawn()
        .expect("prometheus is installed (tests/setup.sh)");
    let _p = Prometheus(child);
    let query = |q: &str| -> Result<Vec<Value>, String> {
        let q: String = q
            .bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() || b == b'_' {
                    (b as char).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect();
        let url = format!("http://127.0.0.1:{port}/api/v1/query?query={q}");
        let v: Value = reqwest::blocking::Client::new()
            .get(url)
            .send()
            .and_then(|r| r.json())
            .map_err(|e| e.to_string())?;
        v["data"]["result"].as_array().cloned().ok_or(v.to_string())
    };
    let log = || std::fs::read_to_string(dir.path().join("prometheus.log")).unwrap_or_default();
    let up = wait_for(60, "Prometheus scrapes the daemon", || {
        let r = query("up{job=\"skypanel\"}").map_err(|e| format!("{e}\n{}", log()))?;
        match r.first() {
            Some(s) if s["value"][1] == "1" => Ok(s.clone()),
            _ => Err(format!("{r:?}\n{}", log())),
        }
    });
    assert_eq!(up["metric"]["instance"], target);
    let idle = wait_for(30, "the apps metric", || {
        let r = query("skypanel_apps{status=\"idle\"}")?;
        r.first().cloned().ok_or(format!("{r:?}"))
    });
    assert_eq!(idle["value"][1], "1", "the one app, never deployed: {idle}");
    let nodes = query("skypanel_node_cpus").expect("query");
    let node = nodes.first().unwrap_or_else(|| panic!("a node: {nodes:?}"));
    assert_eq!(node["metric"]["role"], "manager", "{node}");
    assert_eq!(node["metric"]["availability"], "active", "{node}");
    assert!(
        node["metric"]["node"]
            .as_str()
            .is_some_and(|n| !n.is_empty()),
        "{node}"
    );
    let cpus: f64 = node["value"][1]
        .as_str()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0);
    assert!(cpus >= 1.0, "{node}");
}
