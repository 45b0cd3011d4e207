//! Domains and maintenance mode.

use anyhow::Result;
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

pub async fn list(a: ListArgs) -> Result<()> {
    let name = git::resolve_app(a.app.app)?;
    let d: api::Domains = Client::from_login()?
        .get(&format!("/apps/{}/domains", seg(&name)))
        .await?;
    if a.json.json {
        return output::json(&d);
    }
    output::heading(&format!("{name} domains"));
    println!("{} (default)", d.default);
    for c in &d.custom {
        println!("{}", c.hostname);
    }
    Ok(())
}

#[derive(Args, Debug)]
pub struct DomainArgs {
    #[command(flatten)]
    pub app: AppFlag,
    /// The hostname, like shop.example.com
    pub hostname: String,
}

pub async fn add(a: DomainArgs) -> Result<()> {
    let name = git::resolve_app(a.app.app)?;
    let d: api::Domain = Client::from_login()?
        .post(
            &format!("/apps/{}/domains", seg(&name)),
            &api::AddDomain {
                hostname: a.hostname,
            },
        )
        .await?;
    println!(
        "Added {} to {name}. Point its DNS (an A record, or a CNAME to {name}'s default hostname) at this server.",
        d.hostname
    );
    Ok(())
}

pub async fn remove(a: DomainArgs) -> Result<()> {
    let name = git::resolve_app(a.app.app)?;
    let _: api::Domains = Client::from_login()?
        .delete(&format!(
            "/apps/{}/domains/{}",
            seg(&name),
            seg(&a.hostname)
        ))
        .await?;
    println!("Removed {} from {name}.", a.hostname);
    Ok(())
}

#[derive(Args, Debug)]
pub struct AppArgs {
    #[command(flatten)]
    pub app: AppFlag,
}

pub async fn maintenance(a: AppArgs) -> Result<()> {
    let name = git::resolve_app(a.app.app)?;
    let m: api::Maintenance = Client::from_login()?
        .get(&format!("/apps/{}/maintenance", seg(&name)))
        .await?;
    println!("{}", if m.enabled { "on" } else { "off" });
    Ok(())
}

pub async fn set_maintenance(a: AppArgs, enabled: bool) -> Result<()> {
    let name = git::resolve_app(a.app.app)?;
    let _: api::Maintenance = Client::from_login()?
        .put(
            &format!("/apps/{}/maintenance", seg(&name)),
            &api::Maintenance { enabled },
        )
        .await?;
    if enabled {
        println!(
            "Maintenance mode is on: {name} answers every request with a 503 maintenance page."
        );
    } else {
        println!("Maintenance mode is off: {name} serves requests again.");
    }
    Ok(())
}
