//! The Swarm runtime against the real engine: deploys, config releases,
//! scaling, failed checks, rollback (image and config), plan limits, org
//! network isolation and cleanup.

use serde_json::Value;

use crate::common::{Daemon, docker, ensure_images, fetch, unique, wait_backends};

fn inspect(service: &str) -> Value {
    let out = docker(&["service", "inspect", service]);
    let v: Value = serde_json::from_str(&out).unwrap_or(Value::Null);
    v[0].clone()
}

fn env_of(addr: &str) -> String {
    let (st, body) = fetch(addr, "/cgi-bin/env");
    assert_eq!(st, 200, "{body}");
    body
}

#[test]
fn deploy_config_scale_rollback_destroy() {
    ensure_images();
    let d = Daemon::start();
    let app = unique("shop");
    d.admin().ok(&["apps:create", &app]);

    // v1: a ready image, answering on its task's host port.
    let out = d
        .admin()
        .run(&["deploy", "-a", &app, "--image", "skypanel-test/web:1"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stderr.contains("v1 is live"), "{}", out.stderr);
    let b = wait_backends(&d, &d.admin_token, &app, |b| b.len() == 1);
    assert_eq!(fetch(&b[0], "/"), (200, "web v1\n".into()));
    assert!(
        env_of(&b[0]).contains("PORT=5000"),
        "PORT is set in the container"
    );
    let ps = d.admin().json(&["ps", "-a", &app, "--json"]);
    assert_eq!(ps["processes"][0]["tasks"][0]["healthy"], true, "{ps}");
    assert!(d.admin().ok(&["ps", "-a", &app]).contains("healthy"));

    // The plan's limits are on the service.
    let svc = inspect(&format!("sp-{app}-web-v1"));
    let res = &svc["Spec"]["TaskTemplate"]["Resources"];
    assert_eq!(res["Limits"]["NanoCPUs"], 250_000_000, "hobby: 0.25 CPU");
    assert_eq!(
        res["Limits"]["MemoryBytes"],
        256 * 1024 * 1024,
        "hobby: 256M"
    );
    assert_eq!(svc["Spec"]["EndpointSpec"]["Mode"], "dnsrr");
    assert_eq!(svc["Spec"]["Labels"]["skypanel.app"], app.as_str());

    // v2: a config change is a release; the new value is inside the container.
    d.admin().ok(&["config:set", "-a", &app, "COLOR=blue"]);
    let b = wait_backends(&d, &d.admin_token, &app, |b| b.len() == 1);
    assert!(env_of(&b[0]).contains("COLOR=blue"));
    // The old release is drained, then removed.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !inspect(&format!("sp-{app}-web-v1")).is_null() {
        assert!(
            std::time::Instant::now() < deadline,
            "the old release was never removed"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }

    // Scale within the plan; above it is refused.
    d.admin().ok(&["ps:scale", "-a", &app, "web=2"]);
    let b = wait_backends(&d, &d.admin_token, &app, |b| b.len() == 2);
    for addr in &b {
        assert_eq!(fetch(addr, "/").0, 200, "{addr}");
    }
    let err = d.admin().fails(&["ps:scale", "-a", &app, "web=3"]);
    assert!(err.contains("allows 0 to 2 replicas"), "{err}");

    // v3: a new image keeps the formation; v4: new config.
    d.admin()
        .ok(&["deploy", "-a", &app, "--image", "skypanel-test/web:2"]);
    d.admin().ok(&["config:set", "-a", &app, "COLOR=green"]);
    let b = wait_backends(&d, &d.admin_token, &app, |b| b.len() == 2);
    for addr in &b {
        assert_eq!(fetch(addr, "/").1, "web v2\n");
        assert!(env_of(addr).contains("COLOR=green"));
    }

    // Roll back to v2: its image and its config come back.
    let out = d.admin().run(&["releases:rollback", "-a", &app, "v2"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let b = wait_backends(&d, &d.admin_token, &app, |b| b.len() == 2);
    for addr in &b {
        assert_eq!(fetch(addr, "/").1, "web v1\n");
        let env = env_of(addr);
        assert!(
            env.contains("COLOR=blue") && !env.contains("COLOR=green"),
            "{env}"
        );
    }
    assert_eq!(d.admin().ok(&["config:get", "-a", &app, "COLOR"]), "blue\n");
    let releases = d.admin().json(&["releases", "-a", &app, "--json"]);
    let statuses: Vec<(i64, String, String)> = releases
        .as_array()
        .expect("releases")
        .iter()
        .map(|r| {
            (
                r["version"].as_i64().unwrap_or(0),
                r["status"].as_str().unwrap_or("").into(),
                r["description"].as_str().unwrap_or("").into(),
            )
        })
        .collect();
    assert_eq!(
        statuses[0],
        (5, "live".into(), "Rollback to v2".into()),
        "{statuses:?}"
    );
    assert!(
        statuses[1..].iter().all(|(_, s, _)| s == "superseded"),
        "{statuses:?}"
    );
    // Default rollback: the release before the live one (v4).
    d.admin().ok(&["releases:rollback", "-a", &app]);
    assert_eq!(
        d.admin().ok(&["config:get", "-a", &app, "COLOR"]),
        "green\n"
    );

    // --no-restart records config without a release.
    d.admin()
        .ok(&["config:set", "-a", &app, "QUIET=1", "--no-restart"]);
    assert_eq!(
        d.admin()
            .json(&["releases", "-a", &app, "--json"])
            .as_array()
            .map(Vec::len),
        Some(6)
    );

    // Destroy leaves no labelled service behind.
    d.admin().ok(&["apps:destroy", &app, "--confirm", &app]);
    let left = docker(&[
        "service",
        "ls",
        "-q",
        "--filter",
        &format!("label=skypanel.app={app}"),
    ]);
    assert!(left.trim().is_empty(), "services left: {left}");
}

#[test]
fn a_release_that_never_gets_healthy_leaves_the_previous_one_serving() {
    ensure_images();
    let d = Daemon::start();
    let app = unique("sturdy");
    d.admin().ok(&["apps:create", &app]);
    d.admin()
        .ok(&["deploy", "-a", &app, "--image", "skypanel-test/web:1"]);
    let before = wait_backends(&d, &d.admin_token, &app, |b| b.len() == 1);
    d.admin().ok(&[
        "checks:set",
        "-a",
        &app,
        "attempts=3",
        "wait=1",
        "timeout=2",
    ]);

    let err = d
        .admin()
        .fails(&["deploy", "-a", &app, "--image", "skypanel-test/unhealthy"]);
    assert!(
        err.contains("v2 of") && err.contains("failed 3 checks") && err.contains("keeps serving"),
        "{err}"
    );
    let err = d
        .admin()
        .fails(&["deploy", "-a", &app, "--image", "skypanel-test/crash"]);
    assert!(err.contains("v3 of") && err.contains("failed"), "{err}");

    // v1 is untouched and still answers; nothing of v2 or v3 is left.
    assert_eq!(
        wait_backends(&d, &d.admin_token, &app, |b| b.len() == 1),
        before
    );
    assert_eq!(fetch(&before[0], "/"), (200, "web v1\n".into()));
    let releases = d.admin().json(&["releases", "-a", &app, "--json"]);
    assert_eq!(releases[0]["status"], "failed");
    assert!(
        releases[0]["reason"].as_str().unwrap_or("").len() > 5,
        "{releases}"
    );
    assert_eq!(releases[1]["status"], "failed");
    assert!(
        releases[1]["reason"]
            .as_str()
            .unwrap_or("")
            .contains("checks"),
        "which check failed: {releases}"
    );
    assert_eq!(releases[2]["status"], "live");
    for v in ["v2", "v3"] {
        assert!(
            inspect(&format!("sp-{app}-web-{v}")).is_null(),
            "{v} was not cleaned up"
        );
    }
    // A missing image is refused before anything happens.
    let err = d
        .admin()
        .fails(&["deploy", "-a", &app, "--image", "skypanel-test/nope:9"]);
    assert!(
        err.contains("image skypanel-test/nope:9 is not on this server"),
        "{err}"
    );
    assert_eq!(
        d.admin()
            .json(&["releases", "-a", &app, "--json"])
            .as_array()
            .map(Vec::len),
        Some(3)
    );
}

#[test]
fn orgs_cannot_reach_each_others_apps() {
    ensure_images();
    let d = Daemon::start();
    let (a, b, c) = (unique("alpha"), unique("beta"), unique("gamma"));
    let other = unique("rivals");
    d.admin().ok(&["orgs:create", &other]);
    d.admin().ok(&["apps:create", &a, "-o", "main"]);
    d.admin().ok(&["apps:create", &c, "-o", "main"]);
    d.admin().ok(&["apps:create", &b, "-o", &other]);
    for app in [&a, &b, &c] {
        d.admin()
            .ok(&["deploy", "-a", app, "--image", "skypanel-test/web:1"]);
    }
    let container = docker(&[
        "ps",
        "-q",
        "--filter",
        &format!("label=com.docker.swarm.service.name=sp-{a}-web-v1"),
    ]);
    let container = container
        .split_whitespace()
        .next()
        .expect("a running container of app a")
        .to_string();
    // busybox's nc (its static wget crashes on lookups) speaks enough HTTP.
    let reach = |service: &str| {
        let cmd = format!("printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 3 {service} 5000");
        docker(&["exec", &container, "sh", "-c", &cmd])
    };
    let same = reach(&format!("sp-{c}-web-v1"));
    assert!(
        same.starts_with("HTTP/1.") && same.ends_with("web v1\n"),
        "same org: reachable by service name: {same:?}"
    );
    let other = reach(&format!("sp-{b}-web-v1"));
    assert_eq!(other, "", "another org's app must not be reachable");
}

#[test]
fn old_release_images_are_pruned_and_destroy_removes_the_rest() {
    ensure_images();
    let d = Daemon::start();
    let app = unique("trim");
    d.admin()
        .ok(&["admin", "settings:set", "release_images_keep", "1"]);
    d.admin().ok(&["apps:create", &app]);
    d.admin()
        .ok(&["deploy", "-a", &app, "--image", "skypanel-test/web:1"]);
    d.admin()
        .ok(&["deploy", "-a", &app, "--image", "skypanel-test/web:2"]);
    let tags = |app: &str| -> Vec<String> {
        docker(&[
            "images",
            &format!("skypanel/{app}"),
            "--format",
            "{{.Repository}}:{{.Tag}}",
        ])
        .split_whitespace()
        .map(str::to_string)
        .collect()
    };
    let releases = d.admin().json(&["releases", "-a", &app, "--json"]);
    let live_image = releases[0]["image"].as_str().expect("image").to_string();
    assert!(
        live_image.starts_with(&format!("skypanel/{app}:")),
        "releases run the platform's own tag: {live_image}"
    );
    // Pruning follows the drain of the old release.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while tags(&app) != vec![live_image.clone()] {
        assert!(
            std::time::Instant::now() < deadline,
            "only the newest release's image is kept: {:?}",
            tags(&app)
        );
        std::thread::sleep(std::time::Duration::from_millis(300));
    }
    // The user's own tags are untouched.
    assert!(
        !docker(&["images", "-q", "skypanel-test/web:1"])
            .trim()
            .is_empty()
    );
    let err = d.admin().fails(&["releases:rollback", "-a", &app, "v1"]);
    assert!(err.contains("is no longer on this server"), "{err}");
    d.admin().ok(&["apps:destroy", &app, "--confirm", &app]);
    assert!(
        tags(&app).is_empty(),
        "destroy leaves no image of the app: {:?}",
        tags(&app)
    );
}
