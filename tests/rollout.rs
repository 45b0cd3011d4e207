//! Zero downtime and crash safety of rollouts, against the real engine.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::{Daemon, docker, ensure_images, fetch, unique, wait_backends};

/// While deploys, a rollback, scaling and a restart run, a second thread keeps
/// reading the app's live backends (the set the router uses) and probing each:
/// the set is never empty and every backend in it answers 200.
#[test]
fn live_backends_never_empty_and_always_answer() {
    ensure_images();
    let d = Daemon::start();
    let app = unique("steady");
    d.admin().ok(&["apps:create", &app]);
    d.admin()
        .ok(&["deploy", "-a", &app, "--image", "skypanel-test/web:1"]);
    wait_backends(&d, &d.admin_token, &app, |b| b.len() == 1);

    let stop = Arc::new(AtomicBool::new(false));
    let checks = Arc::new(AtomicUsize::new(0));
    let violations = Arc::new(Mutex::new(Vec::<String>::new()));
    let watcher = {
        let (stop, checks, violations) = (
            Arc::clone(&stop),
            Arc::clone(&checks),
            Arc::clone(&violations),
        );
        let http = d.http(Some(&d.admin_token));
        let path = format!("/api/v1/apps/{app}/ps");
        std::thread::spawn(move || {
            while !stop.load(Ordering::SeqCst) {
                let (st, ps) = http.send("GET", &path, None);
                let backends: Vec<String> = ps["backends"]
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .filter_map(|b| b.as_str().map(str::to_string))
                            .collect()
                    })
                    .unwrap_or_default();
                let mut v = violations.lock().expect("lock");
                if st != 200 || backends.is_empty() {
                    v.push(format!("ps answered {st} with backends {backends:?}: {ps}"));
                }
                for b in &backends {
                    let (code, body) = fetch(b, "/");
                    if code != 200 {
                        v.push(format!("backend {b} answered {code}: {body}"));
                    }
                }
                drop(v);
                checks.fetch_add(1, Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(30));
            }
        })
    };

    for i in 0..5 {
        let image = if i % 2 == 0 {
            "skypanel-test/web:2"
        } else {
            "skypanel-test/web:1"
        };
        d.admin().ok(&["deploy", "-a", &app, "--image", image]);
    }
    d.admin().ok(&["releases:rollback", "-a", &app]);
    d.admin().ok(&["ps:scale", "-a", &app, "web=2"]);
    wait_backends(&d, &d.admin_token, &app, |b| b.len() == 2);
    d.admin().ok(&["ps:scale", "-a", &app, "web=1"]);
    d.admin().ok(&["ps:restart", "-a", &app]);
    d.admin().ok(&["config:set", "-a", &app, "ROUND=last"]);

    stop.store(true, Ordering::SeqCst);
    watcher.join().expect("watcher");
    let v = violations.lock().expect("lock");
    let n = checks.load(Ordering::SeqCst);
    assert!(n >= 20, "the watcher checked only {n} times");
    assert!(
        v.is_empty(),
        "{} violations in {n} checks:\n{}",
        v.len(),
        v.join("\n")
    );

    // Stop keeps the formation; start brings it back.
    d.admin().ok(&["ps:stop", "-a", &app]);
    wait_backends(&d, &d.admin_token, &app, |b| b.is_empty());
    d.admin().ok(&["ps:start", "-a", &app]);
    let b = wait_backends(&d, &d.admin_token, &app, |b| b.len() == 1);
    assert_eq!(fetch(&b[0], "/").0, 200);
}

fn releases(d: &Daemon, app: &str) -> Vec<(i64, String)> {
    d.admin()
        .json(&["releases", "-a", app, "--json"])
        .as_array()
        .expect("releases")
        .iter()
        .map(|r| {
            (
                r["version"].as_i64().unwrap_or(0),
                r["status"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

/// SIGKILL the daemon while a release is rolling out; after a restart the
/// rollout is finished (or failed) and exactly the live release's services exist.
#[test]
fn a_daemon_killed_mid_rollout_comes_back_consistent() {
    ensure_images();
    let mut d = Daemon::start();
    let app = unique("phoenix");
    d.admin().ok(&["apps:create", &app]);
    d.admin()
        .ok(&["deploy", "-a", &app, "--image", "skypanel-test/web:1"]);

    // v2 is slow to become ready: kill the daemon while it is deploying.
    let mut pusher = d.admin().cmd;
    let mut pusher = pusher
        .args(["deploy", "-a", &app, "--image", "skypanel-test/slow"])
        .spawn()
        .expect("spawn deploy");
    let deadline = Instant::now() + Duration::from_secs(30);
    while !releases(&d, &app)
        .iter()
        .any(|(v, s)| *v == 2 && s == "deploying")
    {
        assert!(
            Instant::now() < deadline,
            "v2 never started deploying: {:?}",
            releases(&d, &app)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    d.kill_hard();
    let _ = pusher.wait();
    d.spawn();

    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let r = releases(&d, &app);
        if r.iter()
            .any(|(v, s)| *v == 2 && (s == "live" || s == "failed"))
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "v2 never finished after the restart: {r:?}"
        );
        std::thread::sleep(Duration::from_millis(300));
    }
    let r = releases(&d, &app);
    let live: Vec<i64> = r
        .iter()
        .filter(|(_, s)| s == "live")
        .map(|(v, _)| *v)
        .collect();
    assert_eq!(live.len(), 1, "exactly one live release: {r:?}");
    let live = live[0];
    // Only the live release's services exist: nothing orphaned.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let names = docker(&[
            "service",
            "ls",
            "--format",
            "{{.Name}}",
            "--filter",
            &format!("label=skypanel.app={app}"),
        ]);
        let names: Vec<&str> = names.split_whitespace().collect();
        if names.len() == 1 && names[0].contains(&format!("-v{live}")) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "services of {app}: {names:?}, live v{live}"
        );
        std::thread::sleep(Duration::from_millis(300));
    }
    let b = wait_backends(&d, &d.admin_token, &app, |b| b.len() == 1);
    assert_eq!(fetch(&b[0], "/").0, 200);
    let log: Value = Value::String(d.log());
    assert!(
        log.as_str()
            .unwrap_or("")
            .contains("picked up jobs the previous daemon left running"),
        "{log}"
    );
}

/// A live service removed behind the platform's back is recreated; a labelled
/// service nothing explains is removed; both are recorded as events.
#[test]
fn reconciliation_recreates_missing_services_and_removes_orphans() {
    ensure_images();
    let d = Daemon::start();
    let app = unique("mended");
    d.admin().ok(&["apps:create", &app]);
    d.admin()
        .ok(&["deploy", "-a", &app, "--image", "skypanel-test/web:1"]);
    docker(&["service", "rm", &format!("sp-{app}-web-v1")]);
    let orphan = unique("sp-orphan");
    docker(&[
        "service",
        "create",
        "-q",
        "-d",
        "--name",
        &orphan,
        "--label",
        &format!("skypanel.instance={}", d.instance),
        "--label",
        "skypanel.app=ghost-app",
        "--label",
        "skypanel.release=1",
        "skypanel-test/web:1",
    ]);
    let actions = d.admin().json(&["admin", "reconcile", "--json"]);
    let text = actions.to_string();
    assert!(
        text.contains(&format!("recreated web of v1 of {app}")),
        "{text}"
    );
    assert!(
        text.contains(&format!("removed service {orphan}")),
        "{text}"
    );
    let b = wait_backends(&d, &d.admin_token, &app, |b| b.len() == 1);
    assert_eq!(fetch(&b[0], "/"), (200, "web v1\n".into()));
    assert!(
        docker(&["service", "ls", "-q", "--filter", &format!("name={orphan}")])
            .trim()
            .is_empty()
    );
    let events = d.admin().json(&["admin", "events", "--json"]).to_string();
    assert!(
        events.contains("recreated web") && events.contains(&orphan),
        "{events}"
    );
    // A live task that dies is replaced by Swarm and reported.
    let container = docker(&["ps", "-q", "--filter", &format!("label=skypanel.app={app}")]);
    let container = container
        .split_whitespace()
        .next()
        .expect("a running container")
        .to_string();
    docker(&["kill", &container]);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let actions = d
            .admin()
            .json(&["admin", "reconcile", "--json"])
            .to_string();
        if actions.contains("Swarm started a new one") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the killed task was never reported: {actions}"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    let events = d.admin().json(&["admin", "events", "--json"]).to_string();
    assert!(events.contains("task_restarted"), "{events}");
    wait_backends(&d, &d.admin_token, &app, |b| b.len() == 1);
    // Once mended, there is nothing more to do.
    assert_eq!(
        d.admin().json(&["admin", "reconcile", "--json"]),
        serde_json::json!([])
    );
}
