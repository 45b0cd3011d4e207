//! The CLI's side of the API: the saved login (a 0600 TOML file) and an HTTP
//! client that turns the daemon's JSON errors into messages for the user.

use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::PathBuf;

use anyhow::{Context, Result, anyhow, bail};
use reqwest::Method;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::api;

pub const CONFIG_ENV: &str = "SKYPANEL_CONFIG";
pub const SERVER_ENV: &str = "SKYPANEL_SERVER";
pub const TOKEN_ENV: &str = "SKYPANEL_TOKEN";

#[derive(Default, Serialize, Deserialize)]
pub struct Login {
    pub server: Option<String>,
    pub token: Option<String>,
}

impl std::fmt::Debug for Login {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Login")
            .field("server", &self.server)
            .field("token", &self.token.as_ref().map(|_| "<hidden>"))
            .finish()
    }
}

pub fn config_path() -> Result<PathBuf> {
    if let Some(p) = std::env::var_os(CONFIG_ENV) {
        return Ok(PathBuf::from(p));
    }
    let base = match std::env::var_os("XDG_CONFIG_HOME") {
        Some(x) if !x.is_empty() => PathBuf::from(x),
        _ => PathBuf::from(
            std::env::var_os("HOME").ok_or_else(|| anyhow!("HOME is not set: set {CONFIG_ENV}"))?,
        )
        .join(".config"),
    };
    Ok(base.join("skypanel").join("config.toml"))
}

pub fn load_file() -> Result<Login> {
    let path = config_path()?;
    match std::fs::read_to_string(&path) {
        Ok(text) => toml::from_str(&text).with_context(|| {
            format!(
                "{} is not a valid SkyPanel config: fix it or log in again",
                path.display()
            )
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Login::default()),
        Err(e) => Err(anyhow!("cannot read {}: {e}", path.display())),
    }
}

/// Writes the login with mode 0600 (it holds a token).
pub fn save_file(login: &Login) -> Result<PathBuf> {
    let path = config_path()?;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let text = toml::to_string(login)?;
    let tmp = path.with_extension("toml.tmp");
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600))?;
    f.write_all(text.as_bytes())?;
    f.sync_all()?;
    std::fs::rename(&tmp, &path).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(path)
}

/// The file's values with `SKYPANEL_SERVER` / `SKYPANEL_TOKEN` on top.
pub fn effective() -> Result<Login> {
    let mut l = load_file()?;
    if let Ok(s) = std::env::var(SERVER_ENV) {
        l.server = Some(s);
    }
    if let Ok(t) = std::env::var(TOKEN_ENV) {
        l.token = Some(t);
    }
    Ok(l)
}

pub fn normalize_server(s: &str) -> Result<String> {
    let s = s.trim().trim_end_matches('/');
    if !(s.starts_with("http://") || s.starts_with("https://")) || s.len() < 10 {
        bail!("server URL \"{s}\" is invalid: give it as http://HOST:PORT or https://HOST");
    }
    Ok(s.to_string())
}

pub struct Client {
    http: reqwest::Client,
    server: String,
    token: Option<String>,
}

impl Client {
    pub fn new(server: &str, token: Option<String>) -> Result<Client> {
        let http = reqwest::Client::builder()
            .user_agent(concat!("skypanel/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(std::time::Duration::from_secs(10))
            .build()?;
        Ok(Client {
            http,
            server: normalize_server(server)?,
            token,
        })
    }

    /// A client from the saved login; fails with how to log in.
    pub fn from_login() -> Result<Client> {
        let l = effective()?;
        let server = l.server.ok_or_else(|| {
            anyhow!("not logged in: run `skypanel login --server URL --token TOKEN` (or set {SERVER_ENV} and {TOKEN_ENV})")
        })?;
        if l.token.is_none() {
            bail!(
                "no API token saved: run `skypanel login --server {server} --token TOKEN` (or set {TOKEN_ENV})"
            );
        }
        Client::new(&server, l.token)
    }

    pub fn server(&self) -> &str {
        &self.server
    }

    pub async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&impl Serialize>,
    ) -> Result<T> {
        self.call_query(method, path, None::<&()>, body).await
    }

    async fn call_query<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        query: Option<&impl Serialize>,
        body: Option<&impl Serialize>,
    ) -> Result<T> {
        let res = self.send_query(method, path, query, body).await?;
        let bytes = res
            .bytes()
            .await
            .with_context(|| format!("reading the answer from {}", self.server))?;
        let bytes = if bytes.is_empty() {
            &b"null"[..]
        } else {
            &bytes[..]
        };
        serde_json::from_slice(bytes).with_context(|| {
            format!("the answer from {} is not what this CLI expects: are the CLI and daemon versions the same?", self.server)
        })
    }

    /// Sends a request and returns the successful response unread (for
    /// streamed answers); an error answer becomes the daemon's message.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<&impl Serialize>,
    ) -> Result<reqwest::Response> {
        self.send_query(method, path, None::<&()>, body).await
    }

    /// Like [`Client::send`], with a query string made from `query` (one of
    /// the `api` query types, the same the daemon reads).
    pub async fn send_query(
        &self,
        method: Method,
        path: &str,
        query: Option<&impl Serialize>,
        body: Option<&impl Serialize>,
    ) -> Result<reqwest::Response> {
        let url = format!("{}{}{}", self.server, api::PREFIX, path);
        let mut req = self.http.request(method, &url);
        if let Some(q) = query {
            req = req.query(q);
        }
        if let Some(t) = &self.token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(b);
        }
        let res = req.send().await.map_err(|e| {
            if e.is_connect() || e.is_timeout() {
                anyhow!(
                    "cannot reach the SkyPanel daemon at {}: is it running? (`systemctl status skypanel`, or start \
                     `skypanel daemon`)",
                    self.server
                )
            } else {
                anyhow!("request to {} failed: {e}", self.server)
            }
        })?;
        let status = res.status();
        if status.is_success() {
            return Ok(res);
        }
        let bytes = res
            .bytes()
            .await
            .with_context(|| format!("reading the answer from {}", self.server))?;
        Err(match serde_json::from_slice::<api::ErrorBody>(&bytes) {
            Ok(e) => anyhow!("{}", e.error),
            Err(_) => anyhow!(
                "the server at {} answered {status}: is it a SkyPanel daemon?",
                self.server
            ),
        })
    }

    pub async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T> {
        self.call(Method::GET, path, None::<&()>).await
    }
    pub async fn get_query<T: DeserializeOwned>(
        &self,
        path: &str,
        query: &impl Serialize,
    ) -> Result<T> {
        self.call_query(Method::GET, path, Some(query), None::<&()>)
            .await
    }
    pub async fn post<T: DeserializeOwned>(&self, path: &str, body: &impl Serialize) -> Result<T> {
        self.call(Method::POST, path, Some(body)).await
    }
    pub async fn put<T: DeserializeOwned>(&self, path: &str, body: &impl Serialize) -> Result<T> {
        self.call(Method::PUT, path, Some(body)).await
    }
    pub async fn patch<T: DeserializeOwned>(&self, path: &str, body: &impl Serialize) -> Result<T> {
        self.call(Method::PATCH, path, Some(body)).await
    }
    pub async fn patch_query<T: DeserializeOwned>(
        &self,
        path: &str,
        query: &impl Serialize,
        body: &impl Serialize,
    ) -> Result<T> {
        self.call_query(Method::PATCH, path, Some(query), Some(body))
            .await
    }
    pub async fn delete<T: DeserializeOwned>(&self, path: &str) -> Result<T> {
        self.call(Method::DELETE, path, None::<&()>).await
    }
}

/// Escapes one path segment (emails, names) for a URL.
pub fn seg(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'@' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
