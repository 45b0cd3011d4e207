//! Builds and `git push`: builds, their output, cancel, the builder and
//! deploy branch, the cache, the git remote with its credential helper, and
//! the two commands git itself runs (`git-credential`, `git-hook`).

use std::io::{BufRead, Write};

use anyhow::{Context, Result, anyhow, bail};
use clap::Args;

use super::client::{self, Client, seg};
use super::output::{self, opt};
use super::{AppFlag, JsonFlag, git};
use crate::api;

#[derive(Args, Debug)]
pub struct ListArgs {
    #[command(flatten)]
    pub app: AppFlag,
    #[command(flatten)]
    pub json: JsonFlag,
}

pub async fn list(a: ListArgs) -> Result<()> {
    let name = git::resolve_app(a.app.app)?;
    let list: Vec<api::Build> = Client::from_login()?
        .get(&format!("/apps/{}/builds", seg(&name)))
        .await?;
    if a.json.json {
        return output::json(&list);
    }
    if list.is_empty() {
        println!("No builds of {name} yet: push with `git push skypanel main`.");
        return Ok(());
    }
    output::heading(&format!("{name} builds"));
    output::table(
        [
            "build", "release", "builder", "commit", "status", "duration", "by", "started",
        ],
        list.iter().map(|b| {
            [
                format!("#{}", b.number),
                b.release
                    .map(|v| format!("v{v}"))
                    .unwrap_or_else(|| "-".into()),
                b.builder.clone(),
                b.commit.chars().take(7).collect(),
                b.status.to_string(),
                b.duration_s
                    .map(|d| format!("{d}s"))
                    .unwrap_or_else(|| "-".into()),
                opt(&b.created_by),
                b.started_at.clone(),
            ]
        }),
    );
    Ok(())
}

#[derive(Args, Debug)]
pub struct OutputArgs {
    #[command(flatten)]
    pub app: AppFlag,
    /// The build: a number (3 or #3), or the release it made (v3); default the latest
    pub build: Option<String>,
    #[command(flatten)]
    pub json: JsonFlag,
}

pub async fn output(a: OutputArgs) -> Result<()> {
    let name = git::resolve_app(a.app.app)?;
    let which = a.build.unwrap_or_else(|| "latest".into());
    let o: api::BuildOutput = Client::from_login()?
        .get(&format!(
            "/apps/{}/builds/{}/output",
            seg(&name),
            seg(&which)
        ))
        .await?;
    if a.json.json {
        return output::json(&o);
    }
    print!("{}", o.output);
    std::io::stdout().flush()?;
    Ok(())
}

#[derive(Args, Debug)]
pub struct AppArgs {
    #[command(flatten)]
    pub app: AppFlag,
}

pub async fn cancel(a: AppArgs) -> Result<()> {
    let name = git::resolve_app(a.app.app)?;
    let _: api::Canceled = Client::from_login()?
        .post(
            &format!("/apps/{}/builds/cancel", seg(&name)),
            &serde_json::json!({}),
        )
        .await?;
    println!(
        "Canceled the running build of {name}; its push is rejected and the live release keeps serving."
    );
    Ok(())
}

pub async fn purge_cache(a: AppArgs) -> Result<()> {
    let name = git::resolve_app(a.app.app)?;
    let r: api::CachePurged = Client::from_login()?
        .delete(&format!("/apps/{}/build-cache", seg(&name)))
        .await?;
    println!(
        "Purged {} build cache{} of {name}; the next build starts cold.",
        r.caches,
        if r.caches == 1 { "" } else { "s" }
    );
    Ok(())
}

#[derive(Args, Debug)]
pub struct BuilderSetArgs {
    #[command(flatten)]
    pub app: AppFlag,
    /// auto (Dockerfile if there is one, else buildpacks), dockerfile or herokuish
    pub builder: String,
}

pub async fn builder_set(a: BuilderSetArgs) -> Result<()> {
    let name = git::resolve_app(a.app.app)?;
    let body = api::BuildSettingsUpdate {
        builder: Some(a.builder),
        deploy_branch: None,
    };
    let s: api::BuildSettings = Client::from_login()?
        .patch(&format!("/apps/{}/build-settings", seg(&name)), &body)
        .await?;
    println!("{name} builds with {} from the next push.", s.builder);
    Ok(())
}

#[derive(Args, Debug)]
pub struct GitSetArgs {
    #[command(flatten)]
    pub app: AppFlag,
    /// The property: deploy-branch
    pub key: String,
    /// Its value; leave out to restore the default (main or master)
    pub value: Option<String>,
}

pub async fn git_set(a: GitSetArgs) -> Result<()> {
    let name = git::resolve_app(a.app.app)?;
    if a.key != "deploy-branch" {
        bail!(
            "unknown git property \"{}\": the one there is is deploy-branch (`skypanel git:set -a {name} deploy-branch main`)",
            a.key
        );
    }
    let body = api::BuildSettingsUpdate {
        builder: None,
        deploy_branch: Some(a.value.unwrap_or_default()),
    };
    let s: api::BuildSettings = Client::from_login()?
        .patch(&format!("/apps/{}/build-settings", seg(&name)), &body)
        .await?;
    match s.deploy_branch {
        Some(b) => println!("Pushes to {b} deploy {name}; other branches are only stored."),
        None => println!("Pushes to main or master deploy {name}; other branches are only stored."),
    }
    Ok(())
}

#[derive(Args, Debug)]
pub struct RemoteArgs {
    #[command(flatten)]
    pub app: AppFlag,
    /// The remote's name
    #[arg(short = 'r', long, default_value = git::REMOTE)]
    pub remote: String,
}

pub async fn remote(a: RemoteArgs) -> Result<()> {
    let name = a
        .app
        .app
        .ok_or_else(|| anyhow!("give the app: skypanel git:remote -a APP"))?;
    let c = Client::from_login()?;
    let s: api::BuildSettings = c
        .get(&format!("/apps/{}/build-settings", seg(&name)))
        .await?;
    match git::add_remote(&a.remote, &s.git_url)? {
        git::RemoteOutcome::NotARepo => {
            bail!(
                "not inside a git repository: run `git init` first, or cd into your app's repository"
            )
        }
        git::RemoteOutcome::Added => println!("Git remote {} added: {}", a.remote, s.git_url),
        git::RemoteOutcome::AlreadySet => {
            println!("Git remote {} already points at {}", a.remote, s.git_url)
        }
        git::RemoteOutcome::PointsElsewhere(url) => bail!(
            "git remote {} already points at {url}: remove it (`git remote remove {}`) or pick another name with --remote",
            a.remote,
            a.remote
        ),
    }
    git::set_credential_helper(c.server())?;
    Ok(())
}

/// `git credential` helper protocol: on `get`, answer with the saved token
/// for the saved server only; `store` and `erase` have nothing to do.
pub fn credential(op: &str) -> Result<()> {
    let mut attrs = std::collections::HashMap::new();
    for line in std::io::stdin().lock().lines() {
        let line = line?;
        if line.is_empty() {
            break;
        }
        if let Some((k, v)) = line.split_once('=') {
            attrs.insert(k.to_string(), v.to_string());
        }
    }
    if op != "get" {
        return Ok(());
    }
    let login = client::effective()?;
    let (Some(server), Some(token)) = (login.server, login.token) else {
        return Ok(());
    };
    let server = client::normalize_server(&server)?;
    let (proto, host) = server.split_once("://").unwrap_or(("", ""));
    let host = host.split('/').next().unwrap_or_default();
    if attrs.get("protocol").map(String::as_str) != Some(proto)
        || attrs.get("host").map(String::as_str) != Some(host)
    {
        return Ok(());
    }
    let mut out = std::io::stdout().lock();
    writeln!(out, "username=skypanel")?;
    writeln!(out, "password={token}")?;
    Ok(())
}

/// The pre-receive hook: hands the pushed refs to the daemon and relays
/// its output, line by line, as it comes. Exits non-zero to reject the push.
pub fn hook(kind: &str) -> Result<i32> {
    if kind != "pre-receive" {
        bail!("unknown hook {kind}");
    }
    let url = std::env::var("SKYPANEL_HOOK_URL").context(
        "SKYPANEL_HOOK_URL is not set: this command is run by git during a push to SkyPanel",
    )?;
    let token = std::env::var("SKYPANEL_PUSH_TOKEN").context("SKYPANEL_PUSH_TOKEN is not set")?;
    let mut updates = Vec::new();
    for line in std::io::stdin().lock().lines() {
        let line = line?;
        let parts: Vec<&str> = line.split_whitespace().collect();
        if let [old, new, r] = parts[..] {
            updates.push([old.to_string(), new.to_string(), r.to_string()]);
        }
    }
    let body = api::HookPush {
        updates,
        quarantine: std::env::var("GIT_QUARANTINE_PATH").ok(),
    };
    let http = reqwest::blocking::Client::builder()
        .timeout(None)
        .connect_timeout(std::time::Duration::from_secs(10))
        .build()?;
    let res = http
        .post(&url)
        .header("x-skypanel-push", token)
        .json(&body)
        .send()
        .context("cannot reach the SkyPanel daemon")?;
    if !res.status().is_success() {
        let status = res.status();
        println!(
            " !     the daemon refused the push ({status}): {}",
            res.text().unwrap_or_default().trim()
        );
        return Ok(1);
    }
    let mut out = std::io::stdout().lock();
    for line in std::io::BufReader::new(res).lines() {
        let line = line.context("the connection to the daemon broke during the build")?;
        if let Some(code) = line.strip_prefix(api::HOOK_EXIT) {
            return Ok(code.trim().parse().unwrap_or(1));
        }
        writeln!(out, "{line}")?;
        out.flush()?;
    }
    writeln!(out, " !     the daemon ended the build without a result")?;
    Ok(1)
}
