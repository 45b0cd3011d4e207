//! `skypanel logs`: an app's stored lines, or a live tail.

use std::io::Write;

use anyhow::{Context, Result};
use clap::Args;
use reqwest::Method;

use super::client::{Client, seg};
use super::{AppFlag, git};
use crate::api;

#[derive(Args, Debug)]
pub struct LogsArgs {
    #[command(flatten)]
    pub app: AppFlag,
    /// Keep streaming new lines (Ctrl-C to stop)
    #[arg(short = 't', long = "tail")]
    pub tail: bool,
    /// How many of the newest lines to show first (1 to 10000)
    #[arg(short = 'n', long = "num", default_value_t = 100, value_name = "N")]
    pub num: i64,
    /// Only this process type (web), task (web.1), or platform part (deploy, router, runtime)
    #[arg(short = 'p', long = "process", value_name = "PROCESS")]
    pub process: Option<String>,
    /// Only the app's own output (app) or the platform's lines (skypanel)
    #[arg(short = 's', long = "source", value_name = "SOURCE")]
    pub source: Option<String>,
    /// Only lines from this long ago (30m, 2h, 1d) or this time (RFC 3339)
    #[arg(long, value_name = "WHEN")]
    pub since: Option<String>,
    /// Only lines of this release (v7)
    #[arg(long, value_name = "RELEASE")]
    pub release: Option<String>,
    /// Print one JSON object per line
    #[arg(long)]
    pub json: bool,
}

/// `2026-11-24T10:00:01Z app[web.1]: text`
pub fn render(l: &api::LogLine) -> String {
    let at = l.at.get(..19).map_or(l.at.clone(), |s| format!("{s}Z"));
    format!("{at} {}[{}]: {}", l.source, l.process, l.line)
}

pub async fn logs(a: LogsArgs) -> Result<()> {
    let name = git::resolve_app(a.app.app)?;
    let query = api::LogsQuery {
        lines: Some(a.num.to_string()),
        tail: a.tail,
        since: a.since.clone(),
        process: a.process.clone(),
        source: a.source.clone(),
        release: a.release.clone(),
    };
    let path = format!("/apps/{}/logs", seg(&name));
    let mut res = Client::from_login()?
        .send_query(Method::GET, &path, Some(&query), None::<&()>)
        .await?;
    let mut buf: Vec<u8> = Vec::new();
    let stdout = std::io::stdout();
    // Made once: Ctrl-C at any moment ends the tail cleanly.
    let mut interrupted = std::pin::pin!(tokio::signal::ctrl_c());
    loop {
        let chunk = tokio::select! {
            c = res.chunk() => c.context("the log stream broke off")?,
            _ = &mut interrupted => return Ok(()),
        };
        let Some(chunk) = chunk else { break };
        buf.extend_from_slice(&chunk);
        let mut out = stdout.lock();
        while let Some(pos) = buf.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = buf.drain(..=pos).collect();
            let line = &line[..line.len() - 1];
            if line.is_empty() {
                continue;
            }
            let event: api::LogEvent = serde_json::from_slice(line).with_context(|| {
                "a log line from the daemon is not what this CLI expects: are the CLI and daemon versions the same?"
            })?;
            let text = match &event {
                _ if a.json => serde_json::to_string(&event)?,
                api::LogEvent::Line(l) => render(l),
                api::LogEvent::Missed { missed } => {
                    eprintln!(
                        "skypanel: skipped {missed} lines: this terminal read too slowly (they are stored; \
                         `skypanel logs -a {name} -n N` shows them)"
                    );
                    continue;
                }
            };
            if writeln!(out, "{text}").is_err() {
                // The reader went away (`| head`): stop quietly.
                return Ok(());
            }
        }
        if out.flush().is_err() {
            return Ok(());
        }
    }
    Ok(())
}
