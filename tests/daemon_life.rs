//! The daemon's life: health, restart with state intact, graceful shutdown with
//! a request in flight, refusals at start, idempotent `admin init`.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::Duration;

use serde_json::Value;

use crate::common::{Daemon, clean_command, unique};

#[test]
fn health_restart_and_idempotent_init() {
    let mut d = Daemon::start();
    let (st, h) = d.http(None).send("GET", "/api/health", None);
    assert_eq!(
        (st, h["status"].as_str(), h["database"].as_str()),
        (200, Some("ok"), Some("ok")),
        "{h}"
    );

    let app = unique("keep");
    d.admin().ok(&["apps:create", &app]);
    d.admin().ok(&["config:set", "-a", &app, "COLOR=blue"]);

    // init again: nothing new, no new token.
    let again: Value = serde_json::from_slice(
        &clean_command(d.dir.path())
            .args(["admin", "init", "--json", "--data-dir"])
            .arg(d.data_dir())
            .output()
            .expect("init")
            .stdout,
    )
    .expect("json");
    assert_eq!(
        (
            again["token"].is_null(),
            again["plans_seeded"].as_bool(),
            again["settings_seeded"].as_u64()
        ),
        (true, Some(false), Some(0))
    );
    assert_eq!(again["key_created"], false);

    let st = d.stop();
    assert!(st.success(), "SIGTERM is a clean stop: {st:?}");
    assert!(d.log().contains("daemon stopped"), "{}", d.log());
    d.spawn();
    assert_eq!(
        d.admin().ok(&["config:get", "-a", &app, "COLOR"]),
        "blue\n",
        "state survives a restart"
    );
}

#[test]
fn sigterm_lets_an_in_flight_request_finish() {
    let mut d = Daemon::start();
    let addr = d.url.trim_start_matches("http://").to_string();
    let body = format!("{{\"name\": \"{}\"}}", unique("late"));
    let mut s = TcpStream::connect(&addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    write!(
        s,
        "POST /api/v1/orgs HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        d.admin_token,
        body.len()
    )
    .expect("headers");
    let (first, rest) = body.split_at(5);
    s.write_all(first.as_bytes()).expect("half the body");
    s.flush().expect("flush");
    std::thread::sleep(Duration::from_millis(300));
    // Ask the daemon to stop while the request is half sent.
    let pid = d.pid();
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status();
    std::thread::sleep(Duration::from_millis(300));
    s.write_all(rest.as_bytes()).expect("rest of the body");
    let mut answer = String::new();
    let _ = s.read_to_string(&mut answer);
    assert!(
        answer.starts_with("HTTP/1.1 201"),
        "the in-flight request must finish: {answer:?}"
    );
    let st = d.stop();
    assert!(st.success(), "{st:?}");
    // New connections are refused once it stopped.
    assert!(TcpStream::connect(&addr).is_err());
}

/// Runs a daemon that is expected to refuse to start; returns its stderr.
fn refused_start(cwd: &Path, listen: &str, data: &Path, key: Option<&str>) -> String {
    let mut cmd = clean_command(cwd);
    cmd.args([
        "daemon",
        "--http-listen",
        "off",
        "--https-listen",
        "off",
        "--listen",
        listen,
        "--data-dir",
    ])
    .arg(data);
    if let Some(k) = key {
        cmd.env("SKYPANEL_ENCRYPTION_KEY", k);
    }
    let out = cmd.output().expect("run daemon");
    assert_eq!(
        out.status.code(),
        Some(1),
        "the daemon should refuse to start"
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn daemon_refuses_a_missing_database_and_a_wrong_key() {
    let dir = tempfile::tempdir().expect("tmp");
    let err = refused_start(dir.path(), "127.0.0.1:0", &dir.path().join("nothing"), None);
    assert!(
        err.contains("no SkyPanel database at") && err.contains("skypanel admin init"),
        "{err}"
    );

    let mut d = Daemon::start();
    d.stop();
    let err = refused_start(
        d.dir.path(),
        "127.0.0.1:0",
        &d.data_dir(),
        Some(&"11".repeat(32)),
    );
    assert!(err.contains("encryption key does not match"), "{err}");

    // A port already taken is a clear error too.
    d.spawn();
    let taken = d.url.trim_start_matches("http://").to_string();
    let err = refused_start(d.dir.path(), &taken, &d.data_dir(), None);
    assert!(err.contains(&format!("cannot listen on {taken}")), "{err}");
}

#[test]
fn init_with_key_from_environment_writes_no_key_file() {
    let dir = tempfile::tempdir().expect("tmp");
    let data = dir.path().join("data");
    let key = "22".repeat(32);
    let out = clean_command(dir.path())
        .args(["admin", "init", "--json", "--data-dir"])
        .arg(&data)
        .env("SKYPANEL_ENCRYPTION_KEY", &key)
        .output()
        .expect("init");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(r["key"], "SKYPANEL_ENCRYPTION_KEY");
    assert!(!data.join("encryption.key").exists());
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(data.join("skypanel.db"))
        .expect("db")
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600);
    // Without the key the data dir cannot be opened.
    let err = refused_start(dir.path(), "127.0.0.1:0", &data, None);
    assert!(err.contains("SKYPANEL_ENCRYPTION_KEY"), "{err}");
}

#[test]
fn init_without_an_engine_says_so_and_creates_nothing() {
    let dir = tempfile::tempdir().expect("tmp");
    let data = dir.path().join("data");
    let out = clean_command(dir.path())
        .args(["admin", "init", "--data-dir"])
        .arg(&data)
        .env("DOCKER_HOST", "unix:///nonexistent/docker.sock")
        .output()
        .expect("init");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("cannot reach the Docker engine") && err.contains("apt-get install docker.io"),
        "{err}"
    );
    assert!(
        !data.exists(),
        "nothing is created when the engine is missing"
    );
    // --skip-docker sets up the database alone.
    let out = clean_command(dir.path())
        .args(["admin", "init", "--skip-docker", "--json", "--data-dir"])
        .arg(&data)
        .env("DOCKER_HOST", "unix:///nonexistent/docker.sock")
        .output()
        .expect("init");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert!(r["swarm"].is_null() && r["token"].is_string(), "{r}");
}

#[test]
fn the_daemon_runs_with_two_malloc_arenas() {
    let d = Daemon::start();
    let env = std::fs::read(format!("/proc/{}/environ", d.pid())).expect("environ");
    assert!(
        env.split(|b| *b == 0).any(|v| v == b"MALLOC_ARENA_MAX=2"),
        "the daemon re-ran itself with MALLOC_ARENA_MAX=2"
    );
    // Same pid, same pipes: it still answers.
    let (st, _) = d.http(None).send("GET", "/api/health", None);
    assert_eq!(st, 200);
}
