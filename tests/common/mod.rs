//! The harness: a daemon on its own temp data dir and port, the CLI as a
//! subprocess, and a small blocking HTTP client for API-level checks.

#![allow(dead_code)]

pub mod case;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

use serde_json::Value;

pub const BIN: &str = env!("CARGO_BIN_EXE_skypanel");

static SEQ: AtomicU32 = AtomicU32::new(0);

/// A name unique in this test run, usable as an app, org or plan name.
/// reqwest is built without a default crypto provider: tests use ring, as
/// the binary does. Called by every helper that starts a daemon or a client.
pub fn tls_init() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

pub fn unique(prefix: &str) -> String {
    format!(
        "{prefix}{}x{}",
        std::process::id() % 10_000,
        SEQ.fetch_add(1, Ordering::SeqCst)
    )
}

pub struct Daemon {
    pub dir: tempfile::TempDir,
    pub url: String,
    /// `127.0.0.1:PORT` of the router (HTTP).
    pub router: String,
    /// `127.0.0.1:PORT` of the router (HTTPS).
    pub router_tls: String,
    pub admin_token: String,
    /// The `skypanel.instance` label on every Docker object this daemon makes.
    pub instance: String,
    child: Option<Child>,
    _swarm: SwarmGuard,
    /// Extra `daemon` arguments and environment (kept across respawns).
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
}

/// Tests share one Swarm. Most share it freely; a test that changes the node
/// itself (drain) holds it alone.
static SWARM: std::sync::RwLock<()> = std::sync::RwLock::new(());

#[allow(dead_code)]
enum SwarmGuard {
    Shared(std::sync::RwLockReadGuard<'static, ()>),
    Exclusive(std::sync::RwLockWriteGuard<'static, ()>),
}

static IMAGES: std::sync::Once = std::sync::Once::new();

/// Builds the local test images (tests/images/build.sh) once per run, when missing.
pub fn ensure_images() {
    IMAGES.call_once(|| {
        let script = format!("{}/tests/images/build.sh", env!("CARGO_MANIFEST_DIR"));
        let out = Command::new("sh")
            .arg(&script)
            .output()
            .expect("run tests/images/build.sh");
        assert!(
            out.status.success(),
            "building test images failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    });
}

/// Runs the docker CLI; returns stdout (empty on failure).
pub fn docker(args: &[&str]) -> String {
    Command::new("docker")
        .args(args)
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default()
}

/// The environment a test process starts from: nothing of the developer's.
pub fn clean_command(dir: &Path) -> Command {
    let mut c = Command::new(BIN);
    for v in [
        "SKYPANEL_SERVER",
        "SKYPANEL_TOKEN",
        "SKYPANEL_CONFIG",
        "SKYPANEL_DATA_DIR",
        "SKYPANEL_ENCRYPTION_KEY",
        "SKYPANEL_LISTEN",
    ] {
        c.env_remove(v);
    }
    c.env("HOME", dir)
        .env("XDG_CONFIG_HOME", dir.join("xdg"))
        .current_dir(dir);
    c
}

impl Daemon {
    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join("daemon.log")
    }

    /// `admin init`, then a daemon on 127.0.0.1:0.
    pub fn start() -> Daemon {
        Daemon::start_with(
            SwarmGuard::Shared(SWARM.read().unwrap_or_else(|p| p.into_inner())),
            None,
        )
    }

    /// Like `start`, with no other test using the Swarm meanwhile.
    pub fn start_exclusive() -> Daemon {
        Daemon::start_with(
            SwarmGuard::Exclusive(SWARM.write().unwrap_or_else(|p| p.into_inner())),
            None,
        )
    }

    fn start_with(guard: SwarmGuard, clock: Option<&str>) -> Daemon {
        tls_init();
        let dir = tempfile::tempdir().expect("tempdir");
        let out = clean_command(dir.path())
            .args(["admin", "init", "--json", "--data-dir"])
            .arg(dir.path().join("data"))
            .output()
            .expect("run admin init");
        assert!(
            out.status.success(),
            "admin init failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let report: Value = serde_json::from_slice(&out.stdout).expect("init json");
        let admin_token = report["token"]
            .as_str()
            .expect("first init prints a token")
            .to_string();
        let instance = report["instance"].as_str().expect("instance").to_string();
        let mut d = Daemon {
            dir,
            url: String::new(),
            router: String::new(),
            router_tls: String::new(),
            admin_token,
            instance,
            child: None,
            _swarm: guard,
            args: Vec::new(),
            env: Vec::new(),
        };
        if let Some(at) = clock {
            let file = d.dir.path().join("clock");
            std::fs::write(&file, at).expect("write the clock");
            d.args = vec!["--clock-file".into(), file.display().to_string()];
        }
        d.spawn();
        d
    }

    /// Like `start`, with billing on a clock the test sets (`set_clock`),
    /// starting at `at` (like 2026-11-02T10:00:05Z).
    pub fn start_with_clock(at: &str) -> Daemon {
        Daemon::start_with(
            SwarmGuard::Shared(SWARM.read().unwrap_or_else(|p| p.into_inner())),
            Some(at),
        )
    }

    /// Moves the billing clock (see `start_with_clock`).
    pub fn set_clock(&self, at: &str) {
        std::fs::write(self.dir.path().join("clock"), at).expect("write the clock");
    }

    /// Waits (up to `secs`) for the daemon to exit by itself.
    pub fn wait_exit(&mut self, secs: u64) -> std::process::ExitStatus {
        let mut child = self.child.take().expect("daemon running");
        for _ in 0..secs * 20 {
            if let Some(st) = child.try_wait().expect("wait") {
                return st;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        let _ = child.kill();
        panic!("the daemon did not exit within {secs} s");
    }

    /// Starts the daemon process on the existing data dir.
    pub fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
            .expect("log file");
        let mut child = clean_command(self.dir.path())
            .args([
                "daemon",
                "--listen",
                "127.0.0.1:0",
                "--http-listen",
                "127.0.0.1:0",
                "--https-listen",
                "127.0.0.1:0",
                "--data-dir",
            ])
            .arg(self.data_dir())
            .args(&self.args)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log))
            .spawn()
            .expect("spawn daemon");
        let stdout = child.stdout.take().expect("stdout");
        let mut out = BufReader::new(stdout);
        let mut line = String::new();
        out.read_line(&mut line).expect("read daemon stdout");
        let mut router = String::new();
        out.read_line(&mut router).expect("read daemon stdout");
        self.router = router
            .trim()
            .strip_prefix("skypanel router listening on http://")
            .unwrap_or_default()
            .to_string();
        let mut tls = String::new();
        out.read_line(&mut tls).expect("read daemon stdout");
        self.router_tls = tls
            .trim()
            .strip_prefix("skypanel router listening on https://")
            .unwrap_or_default()
            .to_string();
        let Some(url) = line.trim().strip_prefix("skypanel daemon listening on ") else {
            let _ = child.kill();
            panic!(
                "daemon did not start: {line:?}\n{}",
                std::fs::read_to_string(self.log_path()).unwrap_or_default()
            );
        };
        self.url = url.to_string();
        self.child = Some(child);
    }

    /// SIGTERM and wait; returns the exit status.
    pub fn stop(&mut self) -> std::process::ExitStatus {
        let mut child = self.child.take().expect("daemon running");
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        for _ in 0..100 {
            if let Some(st) = child.try_wait().expect("wait") {
                return st;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        let _ = child.kill();
        panic!("the daemon did not stop within 5 s of SIGTERM");
    }

    /// SIGKILL: the daemon gets no chance to finish anything.
    pub fn kill_hard(&mut self) {
        let mut child = self.child.take().expect("daemon running");
        let _ = child.kill();
        let _ = child.wait();
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    /// The CLI as `token`'s user, with its own config file.
    pub fn cli(&self, token: &str) -> Cli {
        let mut cmd = clean_command(self.dir.path());
        cmd.env("SKYPANEL_SERVER", &self.url)
            .env("SKYPANEL_TOKEN", token);
        Cli { cmd }
    }

    pub fn admin(&self) -> Cli {
        self.cli(&self.admin_token)
    }

    pub fn http(&self, token: Option<&str>) -> Http {
        Http {
            base: self.url.clone(),
            token: token.map(str::to_string),
            client: reqwest::blocking::Client::new(),
        }
    }

    /// A new user (through the API, as the admin); returns their token.
    pub fn user(&self, email: &str, admin: bool) -> String {
        let (st, v) = self.http(Some(&self.admin_token)).send(
            "POST",
            "/api/v1/admin/users",
            Some(serde_json::json!({"email": email, "admin": admin})),
        );
        assert_eq!(st, 201, "create user {email}: {v}");
        v["token"].as_str().expect("token").to_string()
    }
}

impl Drop for Daemon {
    /// Stops the daemon and removes every service and network it labelled,
    /// also when the test failed.
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        let label = format!("label=skypanel.instance={}", self.instance);
        let services = docker(&["service", "ls", "-q", "--filter", &label]);
        let ids: Vec<&str> = services.split_whitespace().collect();
        if !ids.is_empty() {
            docker(&[&["service", "rm"][..], &ids].concat());
        }
        // One-off containers (builds, release commands) of a test that failed mid-way.
        let containers = docker(&["ps", "-aq", "--filter", &label]);
        let ids: Vec<&str> = containers.split_whitespace().collect();
        if !ids.is_empty() {
            docker(&[&["rm", "-f"][..], &ids].concat());
        }
        let networks = docker(&["network", "ls", "-q", "--filter", &label]);
        for n in networks.split_whitespace() {
            // Tasks take a moment to leave the network after their service is gone.
            for _ in 0..60 {
                if Command::new("docker")
                    .args(["network", "rm", n])
                    .output()
                    .is_ok_and(|o| o.status.success())
                {
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(500));
            }
        }
        // Image tags of apps the test did not destroy.
        if let Ok(db) = rusqlite::Connection::open_with_flags(
            self.data_dir().join("skypanel.db"),
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
        ) {
            let names: Vec<String> = db
                .prepare("SELECT name FROM apps")
                .and_then(|mut st| st.query_map([], |r| r.get(0))?.collect())
                .unwrap_or_default();
            for name in names {
                for repo in [format!("skypanel/{name}"), format!("skypanel-build/{name}")] {
                    let tags = docker(&["images", &repo, "--format", "{{.Repository}}:{{.Tag}}"]);
                    for tag in tags.split_whitespace() {
                        docker(&["rmi", tag]);
                    }
                }
            }
        }
    }
}

/// GET http://addr/path; (status, body), or (0, error) when it cannot connect.
pub fn fetch(addr: &str, path: &str) -> (u16, String) {
    tls_init();
    let client = reqwest::blocking::Client::builder()
        .timeout(std::time::Duration::from_secs(5))
        .build()
        .expect("client");
    match client.get(format!("http://{addr}{path}")).send() {
        Ok(r) => (r.status().as_u16(), r.text().unwrap_or_default()),
        Err(e) => (0, e.to_string()),
    }
}

/// Polls `ps --json` until `pred` holds for the backends, or panics after 60 s.
pub fn wait_backends(
    d: &Daemon,
    token: &str,
    app: &str,
    pred: impl Fn(&[String]) -> bool,
) -> Vec<String> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let ps = d.cli(token).json(&["ps", "-a", app, "--json"]);
        let backends: Vec<String> = ps["backends"]
            .as_array()
            .expect("backends")
            .iter()
            .filter_map(|b| b.as_str().map(str::to_string))
            .collect();
        if pred(&backends) {
            return backends;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "backends of {app} never matched: {ps}"
        );
        std::thread::sleep(std::time::Duration::from_millis(300));
    }
}

pub struct Cli {
    pub cmd: Command,
}

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Cli {
    pub fn env(mut self, k: &str, v: impl AsRef<std::ffi::OsStr>) -> Cli {
        self.cmd.env(k, v);
        self
    }
    pub fn env_remove(mut self, k: &str) -> Cli {
        self.cmd.env_remove(k);
        self
    }
    pub fn cwd(mut self, dir: &Path) -> Cli {
        self.cmd.current_dir(dir);
        self
    }
    pub fn run(mut self, args: &[&str]) -> Run {
        let out: Output = self
            .cmd
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("run skypanel");
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
    /// Runs and expects success; returns stdout.
    pub fn ok(self, args: &[&str]) -> String {
        let r = self.run(args);
        assert_eq!(
            r.code, 0,
            "skypanel {args:?} failed:\n{}{}",
            r.stdout, r.stderr
        );
        r.stdout
    }
    pub fn json(self, args: &[&str]) -> Value {
        let out = self.ok(args);
        serde_json::from_str(&out)
            .unwrap_or_else(|e| panic!("skypanel {args:?} printed no JSON ({e}):\n{out}"))
    }
    /// Runs and expects a clean failure; returns stderr.
    pub fn fails(self, args: &[&str]) -> String {
        let r = self.run(args);
        assert_ne!(
            r.code, 0,
            "skypanel {args:?} should have failed:\n{}",
            r.stdout
        );
        assert!(
            !r.stderr.contains("panicked"),
            "skypanel {args:?} panicked:\n{}",
            r.stderr
        );
        r.stderr
    }
}

pub struct Http {
    pub base: String,
    pub token: Option<String>,
    client: reqwest::blocking::Client,
}

impl Http {
    pub fn send(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let m = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut req = self.client.request(m, format!("{}{}", self.base, path));
        if let Some(t) = &self.token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let res = req.send().expect("http request");
        let st = res.status().as_u16();
        let text = res.text().expect("body");
        (
            st,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }
    pub fn get(&self, path: &str) -> Value {
        let (st, v) = self.send("GET", path, None);
        assert_eq!(st, 200, "GET {path}: {v}");
        v
    }
}

/// Runs `git` in `dir`, expecting success.
pub fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("HOME", dir)
        .output()
        .expect("run git");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A kB figure of `/proc/PID/status` (`VmRSS`, `VmHWM`), 0 when unreadable.
pub fn proc_kb(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// One request an HTTP [`receiver`] got: request line and headers, body,
/// and the status it answered.
#[derive(Clone, Debug)]
pub struct Received {
    pub head: String,
    pub body: Vec<u8>,
    pub status: u16,
}

impl Received {
    /// A header's value (names compare case-insensitively).
    pub fn header(&self, name: &str) -> Option<String> {
        self.head.lines().skip(1).find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim()
                .eq_ignore_ascii_case(name)
                .then(|| v.trim().to_string())
        })
    }
}

/// A small HTTP/1.1 server on 127.0.0.1 (a Loki or webhook endpoint):
/// `respond(head, body, n)` picks the status of the `n`-th request (from 0),
/// and every request is kept.
pub struct Receiver {
    pub addr: String,
    pub got: std::sync::Arc<std::sync::Mutex<Vec<Received>>>,
}

pub fn receiver(respond: impl Fn(&str, &[u8], usize) -> u16 + Send + Sync + 'static) -> Receiver {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    let got: std::sync::Arc<std::sync::Mutex<Vec<Received>>> = Default::default();
    let seen = std::sync::Arc::clone(&got);
    let respond = std::sync::Arc::new(respond);
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(conn) = conn else { return };
            let seen = std::sync::Arc::clone(&seen);
            let respond = std::sync::Arc::clone(&respond);
            std::thread::spawn(move || {
                let mut r = BufReader::new(conn.try_clone().expect("clone"));
                let mut w = conn;
                loop {
                    let mut head = String::new();
                    let mut len = 0usize;
                    loop {
                        let mut l = String::new();
                        if r.read_line(&mut l).unwrap_or(0) == 0 {
                            return;
                        }
                        if let Some(v) = l.to_ascii_lowercase().strip_prefix("content-length:") {
                            len = v.trim().parse().unwrap_or(0);
                        }
                        if l == "\r\n" {
                            break;
                        }
                        head.push_str(&l);
                    }
                    let mut body = vec![0; len];
                    if r.read_exact(&mut body).is_err() {
                        return;
                    }
                    let status = {
                        let mut g = seen.lock().expect("lock");
                        let status = respond(&head, &body, g.len());
                        g.push(Received { head, body, status });
                        status
                    };
                    let _ = write!(w, "HTTP/1.1 {status} X\r\nContent-Length: 0\r\n\r\n");
                }
            });
        }
    });
    Receiver { addr, got }
}
