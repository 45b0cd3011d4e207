//! TLS certificates: list, bring your own, ACME, remove, HTTPS redirect.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::Args;

use super::client::{Client, seg};
use super::output;
use super::{AppFlag, JsonFlag, git};
use crate::api;

#[derive(Args, Debug)]
pub struct ListArgs {
    #[command(flatten)]
    pub app: AppFlag,
    #[command(flatten)]
    pub json: JsonFlag,
}

fn show(c: &api::Certs) {
    output::heading(&format!("{} certificates", c.app));
    output::table(
        ["Hostname", "Status", "Source", "Expires", "Note"],
        c.certs.iter().map(|s| {
            let note = match (&s.error, &s.retry_at) {
                (Some(e), Some(r)) => format!("{e} (retry after {r})"),
                (Some(e), None) => e.clone(),
                _ => s.issuer.clone().unwrap_or_default(),
            };
            [
                s.hostname.clone(),
                s.status.to_string(),
                output::opt(&s.source),
                output::opt(&s.expires_at),
                note,
            ]
        }),
    );
    println!(
        "HTTP to HTTPS redirect: {}",
        if c.https_redirect { "on" } else { "off" }
    );
}

pub async fn list(a: ListArgs) -> Result<()> {
    let name = git::resolve_app(a.app.app)?;
    let c: api::Certs = Client::from_login()?
        .get(&format!("/apps/{}/certs", seg(&name)))
        .await?;
    if a.json.json {
        return output::json(&c);
    }
    show(&c);
    Ok(())
}

#[derive(Args, Debug)]
pub struct AddArgs {
    #[command(flatten)]
    pub app: AppFlag,
    /// PEM certificate chain, the server's certificate first
    pub certificate: PathBuf,
    /// PEM private key of the certificate (unencrypted)
    pub private_key: PathBuf,
}

fn read_pem(path: &PathBuf, what: &str) -> Result<String> {
    std::fs::read_to_string(path).with_context(|| {
        format!(
            "cannot read the {what} file {}: give the path of a PEM file",
            path.display()
        )
    })
}

pub async fn add(a: AddArgs) -> Result<()> {
    let name = git::resolve_app(a.app.app)?;
    let body = api::AddCert {
        certificate: read_pem(&a.certificate, "certificate")?,
        private_key: read_pem(&a.private_key, "private key")?,
    };
    let c: api::Certs = Client::from_login()?
        .post(&format!("/apps/{}/certs", seg(&name)), &body)
        .await?;
    let served: Vec<&str> = c
        .certs
        .iter()
        .filter(|s| s.status == api::CertStatus::Issued && s.source.as_deref() == Some("manual"))
        .map(|s| s.hostname.as_str())
        .collect();
    println!(
        "Added the certificate to {name}: HTTPS for {}.",
        served.join(", ")
    );
    Ok(())
}

#[derive(Args, Debug)]
pub struct AutoArgs {
    #[command(flatten)]
    pub app: AppFlag,
    /// One hostname (default: every hostname of the app without a certificate of your own)
    pub hostname: Option<String>,
    /// Wait until each certificate is issued or has failed
    #[arg(long)]
    pub wait: bool,
}

pub async fn auto(a: AutoArgs) -> Result<()> {
    let name = git::resolve_app(a.app.app)?;
    let client = Client::from_login()?;
    let before: api::Certs = client.get(&format!("/apps/{}/certs", seg(&name))).await?;
    let c: api::Certs = client
        .post(
            &format!("/apps/{}/certs/auto", seg(&name)),
            &api::AutoCert {
                hostname: a.hostname.clone(),
            },
        )
        .await?;
    // The hostnames ACME works on: all but those with a certificate of their own.
    let hosts: Vec<String> = c
        .certs
        .iter()
        .filter(|s| s.source.as_deref() == Some("acme"))
        .filter(|s| a.hostname.as_ref().is_none_or(|h| *h == s.hostname))
        .map(|s| s.hostname.clone())
        .collect();
    if hosts.is_empty() {
        println!("Every hostname of {name} has a certificate of your own; nothing to do.");
        return Ok(());
    }
    println!(
        "Requesting certificates for {} by ACME (HTTP-01: the hostnames must point at this server).",
        hosts.join(", ")
    );
    if !a.wait {
        println!("Run `skypanel certs -a {name}` to follow them.");
        return Ok(());
    }
    // An issued certificate being renewed counts as done when its expiry moves.
    let old_expiry = |h: &str| {
        before
            .certs
            .iter()
            .find(|s| s.hostname == h)
            .and_then(|s| s.expires_at.clone())
    };
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let now: api::Certs = client.get(&format!("/apps/{}/certs", seg(&name))).await?;
        let mine: Vec<&api::CertState> = now
            .certs
            .iter()
            .filter(|s| hosts.contains(&s.hostname))
            .collect();
        let done = |s: &&api::CertState| match s.status {
            api::CertStatus::Issued => s.expires_at != old_expiry(&s.hostname) || s.error.is_some(),
            api::CertStatus::Error => true,
            _ => false,
        };
        if mine.iter().all(done) {
            let mut failed = 0;
            for s in &mine {
                match (&s.error, &s.expires_at) {
                    (Some(e), _) => {
                        failed += 1;
                        println!("{}: failed: {e}", s.hostname);
                    }
                    (None, Some(x)) => println!("{}: issued, expires {x}", s.hostname),
                    (None, None) => println!("{}: issued", s.hostname),
                }
            }
            if failed > 0 {
                bail!(
                    "{failed} certificate(s) could not be issued; {name} stays on HTTP for them. \
                     Check that their DNS points at this server, then run `skypanel certs:auto -a {name}` again"
                );
            }
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!(
                "the certificates are still pending after 5 minutes: follow them with `skypanel certs -a {name}`"
            );
        }
    }
}

#[derive(Args, Debug)]
pub struct RemoveArgs {
    #[command(flatten)]
    pub app: AppFlag,
    /// The hostname whose certificate goes
    pub hostname: String,
}

pub async fn remove(a: RemoveArgs) -> Result<()> {
    let name = git::resolve_app(a.app.app)?;
    let _: api::Certs = Client::from_login()?
        .delete(&format!("/apps/{}/certs/{}", seg(&name), seg(&a.hostname)))
        .await?;
    println!(
        "Removed the certificate of {}: it is served over HTTP only.",
        a.hostname
    );
    Ok(())
}

#[derive(Args, Debug)]
pub struct RedirectArgs {
    #[command(flatten)]
    pub app: AppFlag,
    /// on: plain-HTTP requests to a hostname with a certificate go to HTTPS (the default); off: both are served
    #[arg(value_parser = ["on", "off"])]
    pub state: String,
}

pub async fn redirect(a: RedirectArgs) -> Result<()> {
    let name = git::resolve_app(a.app.app)?;
    let enabled = a.state == "on";
    let _: api::Certs = Client::from_login()?
        .put(
            &format!("/apps/{}/https-redirect", seg(&name)),
            &api::HttpsRedirect { enabled },
        )
        .await?;
    if enabled {
        println!("HTTP requests to {name}'s hostnames with a certificate now redirect to HTTPS.");
    } else {
        println!("{name} is served over both HTTP and HTTPS (no redirect).");
    }
    Ok(())
}
