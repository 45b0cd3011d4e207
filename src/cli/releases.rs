//! deploy, releases, rollback, ps, scale and checks.

use std::time::Duration;

use anyhow::{Result, bail};
use clap::Args;

use super::client::{Client, seg};
use super::output::{self, opt};
use super::{AppFlag, JsonFlag, git};
use crate::api;

/// Waits for a release to finish rolling out; fails with its reason.
pub async fn wait(c: &Client, app: &str, r: api::Release, quiet: bool) -> Result<api::Release> {
    if !quiet {
        eprint!("Releasing v{} of {app} ({}) ...", r.version, r.image);
    }
    // The daemon holds each request until the release settles (or 25 s),
    // so asking again at once is no busy loop.
    let path = format!("/apps/{}/releases/{}", seg(app), r.version);
    let query = api::ReleaseQuery { wait: true };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15 * 60);
    loop {
        let asked = tokio::time::Instant::now();
        let cur: api::Release = c.get_query(&path, &query).await?;
        match cur.status {
            api::ReleaseStatus::Live => {
                if !quiet {
                    eprintln!(" done, v{} is live", cur.version);
                }
                return Ok(cur);
            }
            api::ReleaseStatus::Failed | api::ReleaseStatus::Superseded => {
                if !quiet {
                    eprintln!(" {}", cur.status);
                }
                bail!(
                    "v{} of {app} {}: {}; the previous release keeps serving",
                    cur.version,
                    cur.status,
                    cur.reason.unwrap_or_else(|| "no reason recorded".into())
                );
            }
            _ if tokio::time::Instant::now() > deadline => {
                bail!(
                    "v{} of {app} is still {} after 15 minutes: see `skypanel releases -a {app}`",
                    cur.version,
                    cur.status
                )
            }
            // A server that answered at once without the release settling
            // ignored the wait (an older daemon): ask again, but not at once.
            _ if asked.elapsed() < Duration::from_millis(100) => {
                tokio::time::sleep(Duration::from_secs(1)).await
            }
            _ => {}
        }
    }
}

#[derive(Args, Debug)]
pub struct DeployArgs {
    #[command(flatten)]
    pub app: AppFlag,
    /// A ready image on this server, like shop:1.4
    #[arg(long)]
    pub image: String,
    /// The process type this image runs
    #[arg(long, default_value = "web")]
    pub process: String,
    #[command(flatten)]
    pub json: JsonFlag,
}

pub async fn deploy(a: DeployArgs) -> Result<()> {
    let name = git::resolve_app(a.app.app)?;
    let c = Client::from_login()?;
    let r: api::Release = c
        .post(
            &format!("/apps/{}/releases", seg(&name)),
            &api::Deploy {
                image: a.image,
                process: Some(a.process),
            },
        )
        .await?;
    let done = wait(&c, &name, r, a.json.json).await?;
    if a.json.json {
        return output::json(&done);
    }
    Ok(())
}

#[derive(Args, Debug)]
pub struct ListArgs {
    #[command(flatten)]
    pub app: AppFlag,
    #[command(flatten)]
    pub json: JsonFlag,
}

pub async fn list(a: ListArgs) -> Result<()> {
    let name = git::resolve_app(a.app.app)?;
    let list: Vec<api::Release> = Client::from_login()?
        .get(&format!("/apps/{}/releases", seg(&name)))
        .await?;
    if a.json.json {
        return output::json(&list);
    }
    output::heading(&format!("{name} Releases"));
    output::table(
        ["version", "status", "image", "description", "by", "created"],
        list.iter().map(|r| {
            let status = match &r.reason {
                Some(why) if r.status == api::ReleaseStatus::Failed => format!("failed: {why}"),
                _ => r.status.to_string(),
            };
            [
                format!("v{}", r.version),
                status,
                r.image.clone(),
                r.description.clone(),
                opt(&r.created_by),
                r.created_at.clone(),
            ]
        }),
    );
    Ok(())
}

#[derive(Args, Debug)]
pub struct RollbackArgs {
    #[command(flatten)]
    pub app: AppFlag,
    /// The release to go back to (default: the one before the live one)
    pub version: Option<String>,
    #[command(flatten)]
    pub json: JsonFlag,
}

pub async fn rollback(a: RollbackArgs) -> Result<()> {
    let name = git::resolve_app(a.app.app)?;
    let version = match &a.version {
        Some(v) => Some(v.trim_start_matches('v').parse::<i64>().map_err(|_| {
            anyhow::anyhow!(
                "release \"{}\" is not a version: write it like v3 or 3",
                crate::validate::printable(v)
            )
        })?),
        None => None,
    };
    let c = Client::from_login()?;
    let r: api::Release = c
        .post(
            &format!("/apps/{}/rollback", seg(&name)),
            &api::Rollback { version },
        )
        .await?;
    if !a.json.json {
        eprintln!("{}", r.description);
    }
    let done = wait(&c, &name, r, a.json.json).await?;
    if a.json.json {
        return output::json(&done);
    }
    Ok(())
}

#[derive(Args, Debug)]
pub struct PsArgs {
    #[command(flatten)]
    pub app: AppFlag,
    #[command(flatten)]
    pub json: JsonFlag,
}

pub async fn ps(a: PsArgs) -> Result<()> {
    let name = git::resolve_app(a.app.app)?;
    let ps: api::Ps = Client::from_login()?
        .get(&format!("/apps/{}/ps", seg(&name)))
        .await?;
    if a.json.json {
        return output::json(&ps);
    }
    match ps.release {
        None => println!(
            "{name} has no live release yet: deploy one with `skypanel deploy -a {name} --image IMAGE`."
        ),
        Some(v) => {
            for p in &ps.processes {
                output::heading(&format!(
                    "{} ({}/{} running, v{v})",
                    p.name, p.running, p.desired
                ));
                output::table(
                    ["task", "state", "health", "node", "port"],
                    p.tasks.iter().map(|t| {
                        [
                            format!("{}.{}", p.name, t.slot),
                            match &t.error {
                                Some(e) => format!("{} ({e})", t.state),
                                None => t.state.clone(),
                            },
                            if t.healthy {
                                "healthy".into()
                            } else if p.name == "web" {
                                "not checked".into()
                            } else {
                                "-".into()
                            },
                            t.node.clone(),
                            t.port.map(|x| x.to_string()).unwrap_or_else(|| "-".into()),
                        ]
                    }),
                );
            }
        }
    }
    Ok(())
}

#[derive(Args, Debug)]
pub struct ScaleArgs {
    #[command(flatten)]
    pub app: AppFlag,
    /// TYPE=COUNT pairs, like web=3 worker=1
    #[arg(required = true, value_name = "TYPE=COUNT")]
    pub pairs: Vec<String>,
    #[command(flatten)]
    pub json: JsonFlag,
}

pub async fn scale(a: ScaleArgs) -> Result<()> {
    let name = git::resolve_app(a.app.app)?;
    let mut f = api::Formation::new();
    for p in &a.pairs {
        let parsed = p.split_once('=').and_then(|(k, v)| {
            v.trim()
                .parse::<i64>()
                .ok()
                .map(|n| (k.trim().to_string(), n))
        });
        let Some((k, n)) = parsed else {
            bail!(
                "\"{}\" is not TYPE=COUNT: write it like web=2",
                crate::validate::printable(p)
            );
        };
        f.insert(k, n);
    }
    let out: api::Formation = Client::from_login()?
        .patch(&format!("/apps/{}/formation", seg(&name)), &f)
        .await?;
    if a.json.json {
        return output::json(&out);
    }
    let shown: Vec<String> = out.iter().map(|(k, v)| format!("{k}={v}")).collect();
    println!("Scaled {name} to {}.", shown.join(" "));
    Ok(())
}

#[derive(Args, Debug)]
pub struct ChecksArgs {
    #[command(flatten)]
    pub app: AppFlag,
    #[command(flatten)]
    pub json: JsonFlag,
}

fn show_checks(name: &str, c: &api::Checks, json: bool) -> Result<()> {
    if json {
        return output::json(c);
    }
    output::heading(&format!(
        "{name} deploy checks ({})",
        if c.enabled {
            "HTTP"
        } else {
            "disabled: TCP connect only"
        }
    ));
    output::pairs(&[
        ("path", c.path.clone()),
        ("attempts", c.attempts.to_string()),
        ("timeout", format!("{}s", c.timeout)),
        ("wait", format!("{}s", c.wait)),
    ]);
    Ok(())
}

pub async fn checks(a: ChecksArgs) -> Result<()> {
    let name = git::resolve_app(a.app.app)?;
    let c: api::Checks = Client::from_login()?
        .get(&format!("/apps/{}/checks", seg(&name)))
        .await?;
    show_checks(&name, &c, a.json.json)
}

#[derive(Args, Debug)]
pub struct ChecksSetArgs {
    #[command(flatten)]
    pub app: AppFlag,
    /// path=/health attempts=5 timeout=5 wait=2
    #[arg(required = true, value_name = "KEY=VALUE")]
    pub pairs: Vec<String>,
    #[command(flatten)]
    pub json: JsonFlag,
}

pub async fn checks_set(a: ChecksSetArgs) -> Result<()> {
    let name = git::resolve_app(a.app.app)?;
    let mut u = api::ChecksUpdate {
        enabled: Some(true),
        ..Default::default()
    };
    for p in &a.pairs {
        let Some((k, v)) = p.split_once('=') else {
            bail!(
                "\"{}\" is not KEY=VALUE: use path=/health attempts=5 timeout=5 wait=2",
                crate::validate::printable(p)
            );
        };
        let num = || {
            v.parse::<i64>().map_err(|_| {
                anyhow::anyhow!(
                    "check {k}=\"{}\" is not a whole number",
                    crate::validate::printable(v)
                )
            })
        };
        match k {
            "path" => u.path = Some(v.to_string()),
            "attempts" => u.attempts = Some(num()?),
            "timeout" => u.timeout = Some(num()?),
            "wait" => u.wait = Some(num()?),
            other => bail!(
                "unknown check setting \"{}\": use path, attempts, timeout or wait",
                crate::validate::printable(other)
            ),
        }
    }
    let c: api::Checks = Client::from_login()?
        .put(&format!("/apps/{}/checks", seg(&name)), &u)
        .await?;
    show_checks(&name, &c, a.json.json)
}

pub async fn checks_disable(a: ChecksArgs) -> Result<()> {
    let name = git::resolve_app(a.app.app)?;
    let u = api::ChecksUpdate {
        enabled: Some(false),
        ..Default::default()
    };
    let c: api::Checks = Client::from_login()?
        .put(&format!("/apps/{}/checks", seg(&name)), &u)
        .await?;
    show_checks(&name, &c, a.json.json)
}

#[derive(Args, Debug)]
pub struct RestartArgs {
    #[command(flatten)]
    pub app: AppFlag,
    /// Only this process type
    pub process: Option<String>,
}

pub async fn restart(a: RestartArgs) -> Result<()> {
    let name = git::resolve_app(a.app.app)?;
    eprint!("Restarting {name} ...");
    let _: api::Ps = Client::from_login()?
        .post(
            &format!("/apps/{}/restart", seg(&name)),
            &api::Restart { process: a.process },
        )
        .await
        .inspect_err(|_| eprintln!())?;
    eprintln!(" done");
    Ok(())
}

pub async fn stop_start(a: PsArgs, stop: bool) -> Result<()> {
    let name = git::resolve_app(a.app.app)?;
    let verb = if stop { "stop" } else { "start" };
    let ps: api::Ps = Client::from_login()?
        .post(
            &format!("/apps/{}/{verb}", seg(&name)),
            &serde_json::json!({}),
        )
        .await?;
    if a.json.json {
        return output::json(&ps);
    }
    println!("{} {name}.", if stop { "Stopped" } else { "Started" });
    Ok(())
}

#[derive(Args, Debug)]
pub struct HistoryArgs {
    #[command(flatten)]
    pub app: AppFlag,
    /// How many probes, newest first
    #[arg(short = 'n', long = "num", default_value = "50")]
    pub num: String,
    #[command(flatten)]
    pub json: JsonFlag,
}

pub async fn checks_history(a: HistoryArgs) -> Result<()> {
    let name = git::resolve_app(a.app.app)?;
    let list: Vec<api::ProbeRecord> = Client::from_login()?
        .get_query(
            &format!("/apps/{}/checks/history", seg(&name)),
            &api::HistoryQuery {
                lines: Some(a.num.clone()),
            },
        )
        .await?;
    if a.json.json {
        return output::json(&list);
    }
    if list.is_empty() {
        println!(
            "No health probes of {name} yet: the monitor probes live web tasks every health_check_interval_s."
        );
        return Ok(());
    }
    output::table(
        ["time", "task", "release", "result", "latency", "action"],
        list.iter().map(|p| {
            [
                p.at.clone(),
                format!("web.{} ({})", p.slot, p.task.get(..12).unwrap_or(&p.task)),
                format!("v{}", p.release),
                if p.ok {
                    "ok".into()
                } else {
                    format!("failed: {}", p.detail)
                },
                format!("{} ms", p.latency_ms),
                p.action.clone(),
            ]
        }),
    );
    Ok(())
}

fn mb(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / 1_048_576.0)
}

pub async fn stats(a: ChecksArgs) -> Result<()> {
    let name = git::resolve_app(a.app.app)?;
    let s: api::AppStats = Client::from_login()?
        .get(&format!("/apps/{}/stats", seg(&name)))
        .await?;
    if a.json.json {
        return output::json(&s);
    }
    match s.release {
        Some(v) => println!("=== {} v{v}", s.app),
        None => println!("=== {} (not deployed)", s.app),
    }
    if !s.processes.is_empty() {
        output::table(
            [
                "process",
                "replicas",
                "cpu",
                "memory (used / limit)",
                "restarts",
            ],
            s.processes.iter().map(|p| {
                let mut mem = format!("{} / {}", mb(p.memory_bytes), mb(p.memory_limit_bytes));
                if p.unsampled > 0 {
                    mem.push_str(&format!(" ({} on other nodes not sampled)", p.unsampled));
                }
                [
                    p.process.clone(),
                    format!("{}/{}", p.running, p.desired),
                    format!("{:.1}%", p.cpu_percent),
                    mem,
                    p.restarts.to_string(),
                ]
            }),
        );
    }
    let r = &s.router;
    println!(
        "Router, last hour: {} requests ({:.1}/min), {} answered 5xx, p95 {}",
        r.requests_last_hour,
        r.requests_per_minute,
        r.errors_5xx_last_hour,
        r.p95_ms.map_or("-".to_string(), |v| format!("{v:.1} ms"))
    );
    Ok(())
}
