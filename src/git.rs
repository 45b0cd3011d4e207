//! The server side of `git push`: one bare repository per app under
//! `<data dir>/git`, git's smart HTTP protocol served by spawning
//! `git http-backend` (CGI) with both directions streamed, and reading the
//! pushed tree (also from the push's quarantine, before the ref moves).

use std::path::{Path, PathBuf};
use std::process::Stdio;

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::Response;
use futures_util::StreamExt;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

use crate::error::{Error, Result};

pub fn root(data_dir: &Path) -> PathBuf {
    data_dir.join("git")
}

pub fn repo_path(data_dir: &Path, app: &str) -> PathBuf {
    root(data_dir).join(format!("{app}.git"))
}

fn hook_script(exe: &Path) -> String {
    let quoted = exe.display().to_string().replace('\'', r"'\''");
    format!(
        "#!/bin/sh\n# Written by skypanel: builds and deploys pushes to the deploy branch.\nexec '{quoted}' git-hook pre-receive\n"
    )
}

/// Creates the app's bare repository (or repairs its hook); idempotent.
pub fn ensure_repo(data_dir: &Path, app: &str) -> Result<PathBuf> {
    let path = repo_path(data_dir, app);
    let git_err =
        |e: git2::Error| Error::Internal(format!("git repository of {app}: {}", e.message()));
    // Config is written once, when the repository is made: concurrent
    // requests would otherwise race for git's config lock.
    if git2::Repository::open_bare(&path).is_err() {
        std::fs::create_dir_all(root(data_dir))?;
        let mut opts = git2::RepositoryInitOptions::new();
        opts.bare(true).initial_head("main").mkdir(true);
        let repo = git2::Repository::init_opts(&path, &opts).map_err(git_err)?;
        let mut cfg = repo.config().map_err(git_err)?;
        cfg.set_bool("http.receivepack", true).map_err(git_err)?;
        cfg.set_bool("receive.denyNonFastForwards", false)
            .map_err(git_err)?;
        cfg.set_bool("core.logAllRefUpdates", true)
            .map_err(git_err)?;
    }
    // The hook names this binary; rewritten (atomically) when it moved.
    let exe = std::env::current_exe()?;
    let hooks = path.join("hooks");
    std::fs::create_dir_all(&hooks)?;
    let hook = hooks.join("pre-receive");
    let script = hook_script(&exe);
    if std::fs::read_to_string(&hook).ok().as_deref() != Some(script.as_str()) {
        use std::os::unix::fs::PermissionsExt;
        static SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let tmp = hooks.join(format!(".pre-receive.{}.{n}", std::process::id()));
        std::fs::write(&tmp, script)?;
        std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o755))?;
        std::fs::rename(&tmp, &hook)?;
    }
    Ok(path)
}

pub fn remove_repo(data_dir: &Path, app: &str) -> Result<()> {
    match std::fs::remove_dir_all(repo_path(data_dir, app)) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// One CGI request to `git http-backend`.
pub struct CgiRequest {
    pub project_root: PathBuf,
    /// `/shop.git/info/refs`
    pub path_info: String,
    pub method: String,
    pub query: String,
    pub headers: HeaderMap,
    pub remote_user: String,
    pub remote_addr: String,
    /// Extra environment for receive-pack and its hooks.
    pub env: Vec<(String, String)>,
}

/// Runs `git http-backend` for `req`, feeding it `body` as it arrives and
/// answering with its output as it is produced.
/// `guard` lives as long as the response body (the push's hook secret).
pub async fn http_backend(
    req: CgiRequest,
    body: Body,
    guard: Option<Box<dyn Send>>,
) -> Result<Response> {
    let header = |name: &str| {
        req.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let mut cmd = tokio::process::Command::new("git");
    cmd.arg("http-backend")
        .env_clear()
        .env(
            "PATH",
            std::env::var_os("PATH").unwrap_or_else(|| "/usr/bin:/bin".into()),
        )
        .env("HOME", &req.project_root)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_PROJECT_ROOT", &req.project_root)
        .env("GIT_HTTP_EXPORT_ALL", "1")
        .env("PATH_INFO", &req.path_info)
        .env("REQUEST_METHOD", &req.method)
        .env("QUERY_STRING", &req.query)
        .env("REMOTE_USER", &req.remote_user)
        .env("REMOTE_ADDR", &req.remote_addr)
        .envs(req.env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(false);
    if let Some(v) = header("content-type") {
        cmd.env("CONTENT_TYPE", v);
    }
    if let Some(v) = header("content-length") {
        cmd.env("CONTENT_LENGTH", v);
    }
    if let Some(v) = header("content-encoding") {
        cmd.env("HTTP_CONTENT_ENCODING", v);
    }
    if let Some(v) = header("git-protocol") {
        cmd.env("GIT_PROTOCOL", v);
    }
    let mut child = cmd
        .spawn()
        .map_err(|e| Error::Internal(format!("cannot run git http-backend: {e}")))?;
    let (Some(mut stdin), Some(stdout), Some(stderr)) =
        (child.stdin.take(), child.stdout.take(), child.stderr.take())
    else {
        return Err(Error::Internal("git http-backend has no pipes".into()));
    };
    // Request body → stdin, as it arrives.
    tokio::spawn(async move {
        let mut data = body.into_data_stream();
        while let Some(chunk) = data.next().await {
            let Ok(chunk) = chunk else { break };
            if stdin.write_all(&chunk).await.is_err() {
                break;
            }
        }
        let _ = stdin.shutdown().await;
    });
    tokio::spawn(async move {
        let mut lines = BufReader::new(stderr).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            tracing::warn!(%line, "git http-backend");
        }
    });
    tokio::spawn(async move {
        let _ = child.wait().await;
    });
    // CGI headers, then the body streamed.
    let mut out = BufReader::new(stdout);
    let (status, headers) = cgi_head(&mut out).await?;
    let stream = futures_util::stream::unfold((out, guard), |(mut out, guard)| async move {
        let mut buf = vec![0u8; 32 * 1024];
        match out.read(&mut buf).await {
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((Ok::<_, std::io::Error>(Bytes::from(buf)), (out, guard)))
            }
            Err(e) => Some((Err(e), (out, guard))),
        }
    });
    let mut res = Response::new(Body::from_stream(stream));
    *res.status_mut() = status;
    *res.headers_mut() = headers;
    Ok(res)
}

/// The CGI response head git http-backend writes: `Status:` and headers,
/// up to the empty line.
async fn cgi_head(
    out: &mut BufReader<tokio::process::ChildStdout>,
) -> Result<(StatusCode, HeaderMap)> {
    let mut status = StatusCode::OK;
    let mut headers = HeaderMap::new();
    loop {
        let mut line = String::new();
        if out.read_line(&mut line).await? == 0 {
            return Err(Error::Internal(
                "git http-backend ended without a response".into(),
            ));
        }
        let line = line.trim_end_matches(['\r', '\n']);
        if line.is_empty() {
            break;
        }
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("status") {
            let code = value.split_whitespace().next().unwrap_or("500");
            status = code
                .parse::<u16>()
                .ok()
                .and_then(|c| StatusCode::from_u16(c).ok())
                .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        } else if let (Ok(n), Ok(v)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            headers.append(n, v);
        }
    }
    Ok((status, headers))
}

/// The commit a ref points at now, if it exists.
pub fn ref_value(repo: &Path, name: &str) -> Result<Option<String>> {
    let r = git2::Repository::open_bare(repo)
        .map_err(|e| Error::Internal(format!("git: {}", e.message())))?;
    Ok(r.refname_to_id(name).ok().map(|o| o.to_string()))
}

/// What the pushed commit holds, as far as choosing a builder goes.
#[derive(Clone, Debug, Default)]
pub struct Source {
    pub commit: String,
    /// Names at the root of the tree.
    pub root_files: Vec<String>,
    pub procfile: Option<String>,
    pub app_json: Option<String>,
}

impl Source {
    pub fn short(&self) -> &str {
        &self.commit[..self.commit.len().min(7)]
    }
    pub fn has(&self, name: &str) -> bool {
        self.root_files.iter().any(|f| f == name)
    }
}

/// Opens the app's repository so that objects of a push still in quarantine
/// (the pre-receive hook runs before they are moved in) can be read.
fn open(repo: &Path, quarantine: Option<&Path>) -> Result<git2::Repository> {
    let git_err = |e: git2::Error| Error::Internal(format!("git: {}", e.message()));
    let r = git2::Repository::open_bare(repo).map_err(git_err)?;
    if let Some(q) = quarantine {
        let objects = repo.join("objects").canonicalize()?;
        let q = q.canonicalize()?;
        if !q.starts_with(&objects) {
            return Err(Error::Invalid(
                "the push's object directory is outside the repository".into(),
            ));
        }
        r.odb()
            .and_then(|o| o.add_disk_alternate(&q.display().to_string()))
            .map_err(git_err)?;
    }
    Ok(r)
}

fn blob_text(repo: &git2::Repository, tree: &git2::Tree, name: &str) -> Option<String> {
    let entry = tree.get_name(name)?;
    let blob = entry.to_object(repo).ok()?.into_blob().ok()?;
    if blob.size() > 1024 * 1024 {
        return None;
    }
    Some(String::from_utf8_lossy(blob.content()).into_owned())
}

/// Reads what the builder needs to know about `commit`.
pub fn inspect(repo: &Path, quarantine: Option<&Path>, commit: &str) -> Result<Source> {
    let r = open(repo, quarantine)?;
    let oid = git2::Oid::from_str(commit)
        .map_err(|_| Error::Invalid(format!("{commit} is not a commit id")))?;
    let c = r
        .find_commit(oid)
        .map_err(|e| Error::Invalid(format!("commit {commit} cannot be read: {}", e.message())))?;
    let tree = c
        .tree()
        .map_err(|e| Error::Internal(format!("git: {}", e.message())))?;
    Ok(Source {
        commit: commit.to_string(),
        root_files: tree
            .iter()
            .filter_map(|e| e.name().ok().map(str::to_string))
            .collect(),
        procfile: blob_text(&r, &tree, "Procfile"),
        app_json: blob_text(&r, &tree, "app.json"),
    })
}

/// Writes the tree of `commit` as a tar file, every path under `prefix`
/// (`""` or `app/`). Modes come from git, owners are root and every mtime is
/// the commit's time, so the same tree always makes the same archive and
/// Docker's layer cache stays effective.
pub fn write_tar(
    repo: &Path,
    quarantine: Option<&Path>,
    commit: &str,
    prefix: &str,
    dest: &Path,
) -> Result<u64> {
    let r = open(repo, quarantine)?;
    let git_err = |e: git2::Error| Error::Internal(format!("git: {}", e.message()));
    let oid = git2::Oid::from_str(commit)
        .map_err(|_| Error::Invalid(format!("{commit} is not a commit id")))?;
    let c = r.find_commit(oid).map_err(git_err)?;
    let mtime = c.time().seconds().max(0) as u64;
    let tree = c.tree().map_err(git_err)?;
    let file = std::fs::File::create(dest)?;
    let mut tar = tar::Builder::new(std::io::BufWriter::new(file));
    let mut failure: Option<Error> = None;
    let mut count = 0u64;
    tree.walk(git2::TreeWalkMode::PreOrder, |dir, entry| {
        let Ok(name) = entry.name() else {
            return git2::TreeWalkResult::Ok;
        };
        let path = format!("{prefix}{dir}{name}");
        let mut h = tar::Header::new_gnu();
        h.set_mtime(mtime);
        h.set_uid(0);
        h.set_gid(0);
        let res = match entry.filemode() {
            0o040000 => {
                h.set_entry_type(tar::EntryType::Directory);
                h.set_mode(0o755);
                h.set_size(0);
                tar.append_data(&mut h, format!("{path}/"), std::io::empty())
            }
            mode @ (0o100644 | 0o100755 | 0o120000) => {
                let blob = match r.find_blob(entry.id()) {
                    Ok(b) => b,
                    Err(e) => {
                        failure = Some(git_err(e));
                        return git2::TreeWalkResult::Abort;
                    }
                };
                if mode == 0o120000 {
                    h.set_entry_type(tar::EntryType::Symlink);
                    h.set_mode(0o777);
                    h.set_size(0);
                    let target = String::from_utf8_lossy(blob.content()).into_owned();
                    tar.append_link(&mut h, &path, target)
                } else {
                    h.set_entry_type(tar::EntryType::Regular);
                    h.set_mode(if mode == 0o100755 { 0o755 } else { 0o644 });
                    h.set_size(blob.size() as u64);
                    tar.append_data(&mut h, &path, blob.content())
                }
            }
            // Submodules (gitlinks) have no content in this repository.
            _ => Ok(()),
        };
        count += 1;
        match res {
            Ok(()) => git2::TreeWalkResult::Ok,
            Err(e) => {
                failure = Some(e.into());
                git2::TreeWalkResult::Abort
            }
        }
    })
    .map_err(git_err)?;
    if let Some(e) = failure {
        return Err(e);
    }
    tar.into_inner()?
        .into_inner()
        .map_err(|e| Error::from(e.into_error()))?;
    Ok(count)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn commit_files(dir: &Path, files: &[(&str, &str)]) -> (PathBuf, String) {
        let repo_dir = dir.join("bare.git");
        let repo = git2::Repository::init_bare(&repo_dir).expect("init");
        let mut tb = repo.treebuilder(None).expect("tb");
        for (name, text) in files {
            let oid = repo.blob(text.as_bytes()).expect("blob");
            tb.insert(name, oid, 0o100644).expect("insert");
        }
        let tree = repo.find_tree(tb.write().expect("tree")).expect("find");
        let sig =
            git2::Signature::new("t", "t@x", &git2::Time::new(1_700_000_000, 0)).expect("sig");
        let c = repo
            .commit(None, &sig, &sig, "one", &tree, &[])
            .expect("commit");
        (repo_dir, c.to_string())
    }

    #[test]
    fn the_same_tree_makes_the_same_tar() {
        let dir = tempfile::tempdir().expect("tmp");
        let (repo, commit) = commit_files(
            dir.path(),
            &[("Procfile", "web: ./run\n"), ("index.html", "<h1>hi</h1>")],
        );
        let src = inspect(&repo, None, &commit).expect("inspect");
        assert!(src.has("index.html") && !src.has("Dockerfile"));
        assert_eq!(src.procfile.as_deref(), Some("web: ./run\n"));
        let (a, b) = (dir.path().join("a.tar"), dir.path().join("b.tar"));
        write_tar(&repo, None, &commit, "app/", &a).expect("tar a");
        std::thread::sleep(std::time::Duration::from_millis(1100));
        write_tar(&repo, None, &commit, "app/", &b).expect("tar b");
        assert_eq!(std::fs::read(&a).expect("a"), std::fs::read(&b).expect("b"));
        let mut ar = tar::Archive::new(std::fs::File::open(&a).expect("open"));
        let names: Vec<String> = ar
            .entries()
            .expect("entries")
            .map(|e| {
                e.expect("entry")
                    .path()
                    .expect("path")
                    .display()
                    .to_string()
            })
            .collect();
        assert_eq!(names, ["app/Procfile", "app/index.html"]);
    }
}
