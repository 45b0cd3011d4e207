//! `git push`: real pushes with the real git client to a real daemon, built
//! through the real Docker engine, then served by the Swarm.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::{Daemon, ensure_images, fetch, unique, wait_backends};

/// A local git repository of a test app.
pub struct Repo {
    pub dir: tempfile::TempDir,
}

fn git_cmd(dir: &Path) -> Command {
    let mut c = Command::new("git");
    c.current_dir(dir)
        .env("HOME", dir)
        .env("XDG_CONFIG_HOME", dir.join(".xdg"))
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("GIT_AUTHOR_NAME", "Tess")
        .env("GIT_AUTHOR_EMAIL", "tess@example.com")
        .env("GIT_COMMITTER_NAME", "Tess")
        .env("GIT_COMMITTER_EMAIL", "tess@example.com")
        .env_remove("SKYPANEL_SERVER")
        .env_remove("SKYPANEL_TOKEN")
        .env_remove("SKYPANEL_CONFIG");
    c
}

impl Repo {
    pub fn new(files: &[(&str, &str)]) -> Repo {
        let r = Repo {
            dir: tempfile::tempdir().expect("tempdir"),
        };
        r.git(&["init", "-q", "-b", "main"]);
        r.commit(files, "first");
        r
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn git(&self, args: &[&str]) -> String {
        let out = git_cmd(self.path()).args(args).output().expect("git");
        assert!(
            out.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// Writes the files and commits them; returns the commit id.
    pub fn commit(&self, files: &[(&str, &str)], msg: &str) -> String {
        for (name, text) in files {
            let p = self.path().join(name);
            if let Some(dir) = p.parent() {
                std::fs::create_dir_all(dir).expect("mkdir");
            }
            std::fs::write(&p, text).expect("write");
        }
        self.git(&["add", "-A"]);
        self.git(&["commit", "-q", "--allow-empty", "-m", msg]);
        self.git(&["rev-parse", "HEAD"])
    }

    /// `git ARGS` as the user of `token` (through the credential helper
    /// `apps:create` configured), or with no credentials at all.
    pub fn push_cmd(&self, d: &Daemon, token: Option<&str>, args: &[&str]) -> Command {
        let mut c = git_cmd(self.path());
        if let Some(t) = token {
            c.env("SKYPANEL_SERVER", &d.url).env("SKYPANEL_TOKEN", t);
        }
        c.args(args);
        c
    }

    /// Runs a push to the end: (exit code, everything git printed).
    pub fn push(&self, d: &Daemon, token: Option<&str>, args: &[&str]) -> (i32, String) {
        let out = self
            .push_cmd(d, token, args)
            .stdin(Stdio::null())
            .output()
            .expect("git push");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.code().unwrap_or(-1), text)
    }

    pub fn push_ok(&self, d: &Daemon, token: &str) -> String {
        let (code, out) = self.push(d, Some(token), &["push", "skypanel", "main"]);
        assert_eq!(code, 0, "the push failed:\n{out}");
        out
    }
}

/// A push running in the background, read line by line.
pub struct LivePush {
    child: Child,
    lines: std::sync::mpsc::Receiver<String>,
    pub seen: Vec<String>,
}

impl LivePush {
    pub fn start(repo: &Repo, d: &Daemon, token: &str) -> LivePush {
        let mut child = repo
            .push_cmd(d, Some(token), &["push", "--progress", "skypanel", "main"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("git push");
        let err = child.stderr.take().expect("stderr");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            // git ends progress lines with \r; remote: lines with \n.
            for line in BufReader::new(err).split(b'\n') {
                let Ok(line) = line else { break };
                if tx
                    .send(String::from_utf8_lossy(&line).into_owned())
                    .is_err()
                {
                    break;
                }
            }
        });
        LivePush {
            child,
            lines: rx,
            seen: Vec::new(),
        }
    }

    /// Reads until a line contains `needle`; panics after `secs`.
    pub fn wait_for(&mut self, needle: &str, secs: u64) {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            if self.seen.iter().any(|l| l.contains(needle)) {
                return;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(l) => self.seen.push(l),
                Err(_) => panic!(
                    "no line with {needle:?} in {secs} s:\n{}",
                    self.seen.join("\n")
                ),
            }
        }
    }

    /// Waits for the push to end: (exit code, all its output).
    pub fn finish(mut self) -> (i32, String) {
        let status = self.child.wait().expect("wait");
        while let Ok(l) = self.lines.recv_timeout(Duration::from_secs(5)) {
            self.seen.push(l);
        }
        (status.code().unwrap_or(-1), self.seen.join("\n"))
    }
}

impl Drop for LivePush {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn dockerfile(marker: &str) -> String {
    format!("FROM skypanel-test/web:1\nRUN echo {marker} > /www/index.html\n")
}

/// The body the live release serves at `/`.
pub fn serves(d: &Daemon, token: &str, app: &str, want: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let backends = wait_backends(d, token, app, |b| !b.is_empty());
        let bodies: Vec<String> = backends.iter().map(|b| fetch(b, "/").1).collect();
        if bodies.iter().all(|b| b.contains(want)) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{app} does not serve {want:?}: {bodies:?}"
        );
        std::thread::sleep(Duration::from_millis(300));
    }
}

fn builds(d: &Daemon, token: &str, app: &str) -> Vec<Value> {
    d.cli(token)
        .json(&["builds", "-a", app, "--json"])
        .as_array()
        .expect("list")
        .clone()
}

#[test]
fn dockerfile_push_goes_live_and_a_failed_push_keeps_the_live_release() {
    ensure_images();
    let d = Daemon::start();
    let tok = d.admin_token.clone();
    let app = unique("push");
    let m1 = unique("first");
    let repo = Repo::new(&[
        ("Dockerfile", &dockerfile(&m1)),
        (
            "app.json",
            r#"{"healthchecks": {"web": [{"type": "startup", "path": "/index.html", "attempts": 7}]},
                "scripts": {"dokku": {"predeploy": "echo predeploy-ran-$PORT"}}}"#,
        ),
    ]);
    let c1 = repo.git(&["rev-parse", "HEAD"]);
    d.cli(&tok).cwd(repo.path()).ok(&["apps:create", &app]);

    let out = repo.push_ok(&d, &tok);
    for want in [
        format!(
            "remote: -----> Building {app} (dockerfile) from {}",
            &c1[..7]
        ),
        "remote:        Step 1/".to_string(),
        "remote: -----> Releasing v1".to_string(),
        "remote: -----> Deploying web (1 replica)".to_string(),
        format!("remote: =====> {app} deployed: http://{app}.localhost"),
    ] {
        assert!(out.contains(&want), "no {want:?} in:\n{out}");
    }
    assert!(
        out.contains("predeploy-ran-5000"),
        "app.json predeploy runs with the config:\n{out}"
    );
    serves(&d, &tok, &app, &m1);
    // Nothing changed: every layer comes from Docker's cache.
    let base = repo.commit(&[], "no change");
    let out = repo.push_ok(&d, &tok);
    assert!(
        out.contains("Using cache") && !out.contains("Running in"),
        "{out}"
    );
    let checks = d.cli(&tok).json(&["checks", "-a", &app, "--json"]);
    assert_eq!(
        (checks["path"].as_str(), checks["attempts"].as_i64()),
        (Some("/index.html"), Some(7)),
        "app.json healthchecks.web sets the deploy checks: {checks}"
    );

    // A broken build is rejected; v1 keeps answering.
    repo.commit(
        &[("Dockerfile", "FROM skypanel-test/web:1\nRUN exit 7\n")],
        "broken",
    );
    let (code, out) = repo.push(&d, Some(&tok), &["push", "skypanel", "main"]);
    assert_ne!(code, 0, "a failed build must fail the push:\n{out}");
    assert!(
        out.contains("remote:  !     the Docker build failed")
            && out.contains("pre-receive hook declined"),
        "{out}"
    );
    serves(&d, &tok, &app, &m1);
    let releases = d.cli(&tok).json(&["releases", "-a", &app, "--json"]);
    assert_eq!(releases.as_array().map(Vec::len), Some(2), "{releases}");
    let b = builds(&d, &tok, &app);
    assert_eq!(b.len(), 3, "{b:?}");
    assert_eq!(
        (b[0]["status"].as_str(), b[0]["release"].as_i64()),
        (Some("failed"), None)
    );
    assert_eq!(
        (
            b[2]["status"].as_str(),
            b[2]["release"].as_i64(),
            b[2]["builder"].as_str(),
            b[2]["commit"].as_str(),
            b[2]["created_by"].as_str()
        ),
        (
            Some("succeeded"),
            Some(1),
            Some("dockerfile"),
            Some(c1.as_str()),
            Some("admin@localhost")
        )
    );
    // Stored logs, of the failed build too.
    let failed = d.cli(&tok).ok(&["builds:output", "-a", &app, "3"]);
    assert!(failed.contains("returned a non-zero code: 7"), "{failed}");
    let first = d.cli(&tok).ok(&["builds:output", "-a", &app, "v1"]);
    assert!(
        first.contains("Step 1/") && first.contains("Releasing v1"),
        "{first}"
    );
    let latest = d.cli(&tok).ok(&["builds:output", "-a", &app]);
    assert_eq!(latest, failed);

    // Other branches are stored, not deployed.
    let (code, out) = repo.push(&d, Some(&tok), &["push", "skypanel", "main:feature"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("refs/heads/feature stored"), "{out}");
    assert_eq!(builds(&d, &tok, &app).len(), 3);

    // A force push deploys the pushed commit: rewrite history on top of v1.
    repo.git(&["reset", "-q", "--hard", &base]);
    let m2 = unique("second");
    repo.commit(&[("Dockerfile", &dockerfile(&m2))], "second");
    repo.push_ok(&d, &tok);
    serves(&d, &tok, &app, &m2);
    let m3 = unique("forced");
    repo.git(&["reset", "-q", "--hard", &base]);
    let c3 = repo.commit(&[("Dockerfile", &dockerfile(&m3))], "forced");
    let (code, out) = repo.push(&d, Some(&tok), &["push", "skypanel", "main"]);
    assert_ne!(code, 0, "a non-fast-forward push needs --force:\n{out}");
    let (code, out) = repo.push(&d, Some(&tok), &["push", "--force", "skypanel", "main"]);
    assert_eq!(code, 0, "{out}");
    serves(&d, &tok, &app, &m3);
    assert_eq!(
        builds(&d, &tok, &app)[0]["commit"].as_str(),
        Some(c3.as_str())
    );

    // The deploy branch can change.
    d.cli(&tok)
        .cwd(repo.path())
        .ok(&["git:set", "deploy-branch", "production"]);
    let (code, out) = repo.push(&d, Some(&tok), &["push", "skypanel", "main"]);
    assert_eq!(code, 0, "{out}");
    let m4 = unique("prod");
    repo.commit(&[("Dockerfile", &dockerfile(&m4))], "prod");
    let (code, out) = repo.push(&d, Some(&tok), &["push", "skypanel", "main"]);
    assert!(
        code == 0 && out.contains("only production deploys"),
        "{out}"
    );
    let (code, out) = repo.push(&d, Some(&tok), &["push", "skypanel", "main:production"]);
    assert_eq!(code, 0, "{out}");
    serves(&d, &tok, &app, &m4);

    // A failing release command aborts the deploy; the live release stays.
    repo.commit(
        &[
            ("Dockerfile", &dockerfile(&unique("never"))),
            (
                "Procfile",
                "web: httpd -f -p $PORT -h /www\nrelease: echo migrating; exit 4\n",
            ),
        ],
        "bad release command",
    );
    let (code, out) = repo.push(&d, Some(&tok), &["push", "skypanel", "main:production"]);
    assert_ne!(code, 0, "{out}");
    assert!(
        out.contains("Running the release command") && out.contains("migrating"),
        "{out}"
    );
    assert!(out.contains("the release command exited with 4"), "{out}");
    serves(&d, &tok, &app, &m4);

    // Builds run within build_memory_limit and build_cpu_limit.
    d.admin()
        .ok(&["admin", "settings:set", "build_memory_limit", "96"]);
    d.admin()
        .ok(&["admin", "settings:set", "build_cpu_limit", "500"]);
    let m5 = unique("limited");
    repo.commit(
        &[
            (
                "Dockerfile",
                &format!(
                    "FROM skypanel-test/web:1\nRUN echo {m5} > /www/index.html; \
                     echo mem=$(cat /sys/fs/cgroup/memory.max 2>/dev/null || cat /sys/fs/cgroup/memory/memory.limit_in_bytes); \
                     echo cpu=$(cat /sys/fs/cgroup/cpu.max 2>/dev/null || cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us)\n"
                ),
            ),
            ("Procfile", "web: httpd -f -p $PORT -h /www\n"),
        ],
        "limited",
    );
    let (code, out) = repo.push(&d, Some(&tok), &["push", "skypanel", "main:production"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains(&format!("mem={}", 96 * 1024 * 1024)), "{out}");
    assert!(out.contains("cpu=50000"), "{out}");
    serves(&d, &tok, &app, &m5);
}

#[test]
fn build_output_streams_and_pushes_wait_for_a_running_build_or_are_canceled() {
    ensure_images();
    let d = Daemon::start();
    let tok = d.admin_token.clone();
    let app = unique("slow");
    let marker = unique("streamed");
    // Fails at its end, so the waiting push is the one that deploys.
    let slow = Repo::new(&[(
        "Dockerfile",
        &format!("FROM skypanel-test/web:1\nRUN echo {marker}\nRUN sleep 6 && exit 1\n"),
    )]);
    d.cli(&tok).cwd(slow.path()).ok(&["apps:create", &app]);
    let mut first = LivePush::start(&slow, &d, &tok);
    first.wait_for(&marker, 60);
    // The line arrived while the build still runs.
    let b = builds(&d, &tok, &app);
    assert_eq!(b[0]["status"].as_str(), Some("building"), "{b:?}");

    // A second push to the same app waits for it.
    let good_marker = unique("waited");
    let other = Repo::new(&[("Dockerfile", &dockerfile(&good_marker))]);
    d.cli(&tok)
        .cwd(other.path())
        .ok(&["git:remote", "-a", &app]);
    let mut second = LivePush::start(&other, &d, &tok);
    second.wait_for(
        &format!("Waiting for the build of {app} in progress to finish"),
        30,
    );
    let (code, out) = first.finish();
    assert_ne!(code, 0, "{out}");
    let (code, out) = second.finish();
    assert_eq!(
        code, 0,
        "the waiting push deploys once the first is done:\n{out}"
    );
    serves(&d, &tok, &app, &good_marker);

    // builds:cancel stops a running build and rejects its push.
    let cancel_marker = unique("cancel");
    other.commit(
        &[(
            "Dockerfile",
            &format!("FROM skypanel-test/web:1\nRUN echo {cancel_marker}\nRUN sleep 30\n"),
        )],
        "slow again",
    );
    let mut third = LivePush::start(&other, &d, &tok);
    third.wait_for(&cancel_marker, 60);
    // A push that would wait longer than build_queue_timeout is refused.
    d.admin()
        .ok(&["admin", "settings:set", "build_queue_timeout", "2"]);
    let impatient = Repo::new(&[("Dockerfile", &dockerfile("impatient"))]);
    d.cli(&tok)
        .cwd(impatient.path())
        .ok(&["git:remote", "-a", &app]);
    let (code, out) = impatient.push(&d, Some(&tok), &["push", "--force", "skypanel", "main"]);
    assert_ne!(code, 0, "{out}");
    assert!(
        out.contains(&format!(
            "another build of {app} still runs after 2 s (build_queue_timeout)"
        )),
        "{out}"
    );
    let started = Instant::now();
    d.cli(&tok).cwd(other.path()).ok(&["builds:cancel"]);
    let (code, out) = third.finish();
    assert_ne!(code, 0, "{out}");
    assert!(out.contains("canceled"), "{out}");
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "the canceled push did not end promptly"
    );
    assert_eq!(
        builds(&d, &tok, &app)[0]["status"].as_str(),
        Some("canceled")
    );
    serves(&d, &tok, &app, &good_marker);
    let err = d.cli(&tok).cwd(other.path()).fails(&["builds:cancel"]);
    assert!(err.contains("no build running"), "{err}");
}

#[test]
fn two_apps_pushed_at_once_both_deploy() {
    ensure_images();
    let d = Daemon::start();
    let tok = d.admin_token.clone();
    let apps: Vec<(String, String, Repo)> = (0..2)
        .map(|i| {
            let m = unique(&format!("par{i}"));
            let repo = Repo::new(&[(
                "Dockerfile",
                &format!("FROM skypanel-test/web:1\nRUN sleep 2 && echo {m} > /www/index.html\n"),
            )]);
            let app = unique("par");
            d.cli(&tok).cwd(repo.path()).ok(&["apps:create", &app]);
            (app, m, repo)
        })
        .collect();
    let outs: Vec<(i32, String)> = std::thread::scope(|s| {
        let handles: Vec<_> = apps
            .iter()
            .map(|(_, _, repo)| {
                s.spawn(|| repo.push(&d, Some(&tok), &["push", "skypanel", "main"]))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("push thread"))
            .collect()
    });
    for (code, out) in &outs {
        assert_eq!(*code, 0, "{out}");
        assert!(
            !out.contains("Waiting for"),
            "different apps do not wait for each other:\n{out}"
        );
    }
    for (app, m, _) in &apps {
        serves(&d, &tok, app, m);
    }
    // With one build slot, the second push waits for the first.
    d.admin()
        .ok(&["admin", "settings:set", "build_concurrency", "1"]);
    let outs: Vec<(i32, String)> = std::thread::scope(|s| {
        let handles: Vec<_> = apps
            .iter()
            .map(|(_, _, repo)| {
                s.spawn(|| {
                    let m = unique("slot");
                    repo.commit(
                        &[(
                            "Dockerfile",
                            &format!("FROM skypanel-test/web:1\nRUN sleep 3 && echo {m} > /www/index.html\n"),
                        )],
                        "again",
                    );
                    repo.push(&d, Some(&tok), &["push", "skypanel", "main"])
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("push thread"))
            .collect()
    });
    assert!(outs.iter().all(|(code, _)| *code == 0), "{outs:?}");
    let waited = outs
        .iter()
        .filter(|(_, out)| {
            out.contains("Waiting for a free build slot (1 builds running, build_concurrency is 1)")
        })
        .count();
    assert_eq!(waited, 1, "exactly one push waits for the slot: {outs:?}");
}

#[test]
fn pushes_need_a_valid_token_of_the_apps_org_and_respect_the_deploy_limit() {
    ensure_images();
    let d = Daemon::start();
    let owner = d.user(&(unique("owner") + "@example.com"), false);
    let stranger = d.user(&(unique("stranger") + "@example.com"), false);
    let org = unique("pushorg");
    d.cli(&owner).ok(&["orgs:create", &org]);
    d.cli(&stranger).ok(&["orgs:create", &unique("elsewhere")]);
    let app = unique("guarded");
    let repo = Repo::new(&[("README.md", "nothing to build here\n")]);
    d.cli(&owner)
        .cwd(repo.path())
        .ok(&["apps:create", &app, "-o", &org]);

    // Nothing a builder recognises.
    let (code, out) = repo.push(&d, Some(&owner), &["push", "skypanel", "main"]);
    assert_ne!(code, 0, "{out}");
    assert!(
        out.contains("cannot tell how to build this app") && out.contains("requirements.txt"),
        "{out}"
    );

    // 3 MiB that do not compress: git sends the pack in chunks (over http.postBuffer).
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let noise: String = (0..3 * 1024 * 1024)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            char::from(b'!' + (x % 90) as u8)
        })
        .collect();
    let buildable = repo.commit(
        &[
            ("Dockerfile", &dockerfile("guarded")),
            ("noise.txt", &noise),
        ],
        "buildable",
    );
    // Another org's user: the same answer as for an app that does not exist.
    let (code, out) = repo.push(&d, Some(&stranger), &["push", "skypanel", "main"]);
    assert_ne!(code, 0);
    assert!(out.contains("not found"), "{out}");
    let ghost = format!("{}/git/{}.git", d.url, unique("ghost"));
    let (code2, out2) = repo.push(&d, Some(&stranger), &["push", &ghost, "main"]);
    assert_ne!(code2, 0);
    let strip = |s: &str, what: &str| {
        s.lines()
            .filter(|l| l.starts_with("fatal:") || l.starts_with("remote:"))
            .map(|l| l.replace(what, "URL"))
            .collect::<Vec<_>>()
    };
    let ghost_name = ghost
        .rsplit('/')
        .next()
        .unwrap_or_default()
        .trim_end_matches(".git");
    assert_eq!(
        strip(
            &out.replace(&format!("{}/git/{app}.git", d.url), "URL"),
            &app
        ),
        strip(&out2.replace(&ghost, "URL"), ghost_name),
        "a stranger must not tell a real app from a missing one"
    );
    // No credentials at all.
    let (code, out) = repo.push(&d, None, &["push", "skypanel", "main"]);
    assert_ne!(code, 0);
    assert!(
        out.contains("could not read Username") || out.contains("Authentication failed"),
        "{out}"
    );
    // A revoked token.
    let created = d
        .cli(&owner)
        .json(&["tokens:create", "--name", "ci", "--json"]);
    let secret = created["secret"]
        .as_str()
        .or(created["token"].as_str())
        .expect("token")
        .to_string();
    let id = created["token"]["id"]
        .as_i64()
        .or(created["id"].as_i64())
        .expect("id");
    d.cli(&owner).ok(&["tokens:revoke", &id.to_string()]);
    let (code, out) = repo.push(&d, Some(&secret), &["push", "skypanel", "main"]);
    assert_ne!(code, 0);
    assert!(out.contains("Authentication failed"), "{out}");
    // The raw endpoints answer the same way.
    let http = reqwest::blocking::Client::new();
    let refs = format!("{}/git/{app}.git/info/refs?service=git-receive-pack", d.url);
    let st = |r: reqwest::blocking::RequestBuilder| r.send().expect("request").status().as_u16();
    assert_eq!(st(http.get(&refs)), 401);
    assert_eq!(st(http.get(&refs).basic_auth("x", Some(&secret))), 401);
    assert_eq!(st(http.get(&refs).basic_auth("x", Some(&stranger))), 404);
    assert_eq!(st(http.get(&refs).basic_auth("x", Some(&owner))), 200);
    let hook = format!("{}/internal/git/pre-receive", d.url);
    assert_eq!(
        st(http
            .post(&hook)
            .header("x-skypanel-push", "guess")
            .body(r#"{"updates": []}"#)),
        403
    );
    assert!(
        builds(&d, &owner, &app).is_empty(),
        "no refused push made a build"
    );

    // max_deployments_per_hour, per org.
    d.admin()
        .ok(&["admin", "settings:set", "max_deployments_per_hour", "1"]);
    repo.push_ok(&d, &owner);
    serves(&d, &owner, &app, "guarded");
    // Members fetch through the same endpoint (upload-pack).
    let (code, out) = repo.push(&d, Some(&owner), &["ls-remote", "skypanel", "main"]);
    assert!(code == 0 && out.starts_with(&buildable), "{out}");
    repo.commit(&[("Dockerfile", &dockerfile("over the limit"))], "more");
    let (code, out) = repo.push(&d, Some(&owner), &["push", "skypanel", "main"]);
    assert_ne!(code, 0);
    assert!(
        out.contains(&format!(
            "organization {org} started 1 deployments in the last hour"
        )) && out.contains("max_deployments_per_hour (1)"),
        "{out}"
    );
    assert_eq!(builds(&d, &owner, &app).len(), 1);
    serves(&d, &owner, &app, "guarded");
}

/// The buildpack path against one artifact store.
fn buildpack_push(s3_bucket: Option<&str>) {
    ensure_images();
    let d = Daemon::start();
    let tok = d.admin_token.clone();
    let admin = |args: &[&str]| {
        d.admin()
            .ok(&[&["admin", "settings:set"][..], args].concat())
    };
    admin(&["buildpack_builder_image", "skypanel-test/herokuish"]);
    admin(&["release_images_keep", "1"]);
    let s3 = std::env::var("SKYPANEL_TEST_S3").unwrap_or_else(|_| "http://127.0.0.1:5599".into());
    if let Some(bucket) = s3_bucket {
        let st = reqwest::blocking::Client::new()
            .put(format!("{s3}/{bucket}"))
            .send()
            .expect("the S3 server (tests/setup.sh starts moto on 127.0.0.1:5599)")
            .status();
        assert!(st.is_success(), "create bucket: {st}");
        admin(&["s3_endpoint", &s3]);
        admin(&["s3_bucket", bucket]);
        admin(&["s3_access_key_id", "testing"]);
        admin(&["s3_secret_access_key", "testing"]);
        admin(&["storage_type", "s3"]);
    }
    // The artifact under `key` exists in the store.
    let stored = |key: &str| -> bool {
        match s3_bucket {
            // moto lets anyone list a bucket (reading objects needs a signature).
            Some(b) => reqwest::blocking::get(format!("{s3}/{b}?prefix={key}"))
                .and_then(|r| r.text())
                .expect("s3 list")
                .contains(&format!("<Key>{key}</Key>")),
            None => d.data_dir().join("storage").join(key).is_file(),
        }
    };
    let app = unique("bp");
    let m1 = unique("slugone");
    let repo = Repo::new(&[
        ("index.html", &format!("<h1>{m1}</h1>\n")),
        (
            "Procfile",
            "web: httpd -f -p $PORT -h /app\nworker: sh -c 'while true; do echo working; sleep 5; done'\nrelease: echo release-ran-$RELEASE_NOTE\n",
        ),
    ]);
    d.cli(&tok).cwd(repo.path()).ok(&["apps:create", &app]);
    d.cli(&tok).cwd(repo.path()).ok(&[
        "config:set",
        "BUILDPACK_URL=https://example.com/buildpack.git",
        "RELEASE_NOTE=noted",
    ]);
    let out = repo.push_ok(&d, &tok);
    for want in [
        format!("Building {app} (herokuish)"),
        "BUILDPACK_URL=https://example.com/buildpack.git".into(),
        "release-ran-noted".into(),
        "Deploying web (1 replica), worker (0 replicas)".into(),
    ] {
        assert!(out.contains(&want), "no {want:?} in:\n{out}");
    }
    let grab = |out: &str, prefix: &str| -> String {
        out.lines()
            .find_map(|l| l.split(prefix).nth(1))
            .map(|rest| {
                rest.split_whitespace()
                    .next()
                    .unwrap_or_default()
                    .to_string()
            })
            .unwrap_or_else(|| panic!("no {prefix:?} in:\n{out}"))
    };
    let marker = grab(&out, "cache marker written: ");
    let slug = grab(&out, "Slug stored: ");
    assert!(stored(&slug), "slug {slug} is not in the store");
    serves(&d, &tok, &app, &m1);

    // Procfile process types: worker runs its own command once scaled.
    d.cli(&tok).cwd(repo.path()).ok(&["ps:scale", "worker=1"]);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let ps = d.cli(&tok).json(&["ps", "-a", &app, "--json"]);
        let worker = ps["processes"]
            .as_array()
            .expect("processes")
            .iter()
            .find(|p| p["name"] == "worker")
            .cloned()
            .unwrap_or_default();
        if worker["running"].as_i64() == Some(1) {
            break;
        }
        assert!(Instant::now() < deadline, "worker never ran: {ps}");
        std::thread::sleep(Duration::from_millis(300));
    }
    let args = crate::common::docker(&[
        "service",
        "inspect",
        &format!("sp-{app}-worker-v1"),
        "--format",
        "{{json .Spec.TaskTemplate.ContainerSpec.Args}}",
    ]);
    assert_eq!(args.trim(), r#"["/start","worker"]"#);

    // The cache comes back on the next build.
    let m2 = unique("slugtwo");
    repo.commit(&[("index.html", &format!("<h1>{m2}</h1>\n"))], "two");
    let out = repo.push_ok(&d, &tok);
    assert!(
        out.contains(&format!("cache marker found: {marker}")),
        "{out}"
    );
    serves(&d, &tok, &app, &m2);
    let v1 = d.cli(&tok).json(&["releases", "-a", &app, "--json"]);
    let v1_image = v1
        .as_array()
        .expect("releases")
        .iter()
        .find(|r| r["version"] == 1)
        .and_then(|r| r["image"].as_str())
        .expect("v1")
        .to_string();
    // release_images_keep = 1: v1's image was pruned…
    let deadline = Instant::now() + Duration::from_secs(30);
    while !crate::common::docker(&["images", "-q", &v1_image])
        .trim()
        .is_empty()
    {
        assert!(Instant::now() < deadline, "{v1_image} was not pruned");
        std::thread::sleep(Duration::from_millis(300));
    }
    // …so the rollback rebuilds it from the stored slug.
    d.cli(&tok)
        .cwd(repo.path())
        .ok(&["releases:rollback", "v1"]);
    serves(&d, &tok, &app, &m1);
    assert!(
        d.log().contains("image rebuilt from the slug"),
        "{}",
        d.log()
    );

    // The build log is in the store too.
    let log = d.cli(&tok).ok(&["builds:output", "-a", &app, "1"]);
    assert!(
        log.contains(&format!("cache marker written: {marker}")),
        "{log}"
    );

    // Purging the cache makes the next build start cold.
    let purged = d.cli(&tok).cwd(repo.path()).ok(&["repo:purge-cache"]);
    assert!(purged.contains("Purged 1 build cache"), "{purged}");
    let m3 = unique("slugthree");
    repo.commit(&[("index.html", &format!("<h1>{m3}</h1>\n"))], "three");
    let out = repo.push_ok(&d, &tok);
    assert!(
        out.contains("No build cache yet") && out.contains("cache marker written: "),
        "{out}"
    );
    assert_ne!(grab(&out, "cache marker written: "), marker);
    serves(&d, &tok, &app, &m3);

    // Destroying the app deletes its repository and artifacts.
    d.cli(&tok)
        .ok(&["apps:destroy", "-a", &app, "--confirm", &app]);
    assert!(!stored(&slug), "the slug outlived its app");
    assert!(!d.data_dir().join("git").join(format!("{app}.git")).exists());
}

#[test]
fn buildpack_push_with_the_local_artifact_store() {
    buildpack_push(None);
}

#[test]
fn buildpack_push_with_an_s3_artifact_store() {
    buildpack_push(Some(&unique("artifacts")));
}
