//! login, logout, whoami and tokens.

use anyhow::{Result, bail};
use clap::Args;

use super::JsonFlag;
use super::client::{self, Client, Login, seg};
use super::output::{self, interactive, opt};
use crate::api;

#[derive(Args, Debug)]
pub struct LoginArgs {
    /// The daemon's URL, like http://127.0.0.1:7780 (default: the saved one)
    #[arg(long)]
    pub server: Option<String>,
    /// An API token (asked for on a terminal when left out)
    #[arg(long)]
    pub token: Option<String>,
}

pub async fn login(a: LoginArgs) -> Result<()> {
    let saved = client::load_file()?;
    let server = match a.server.or(saved.server) {
        Some(s) => client::normalize_server(&s)?,
        None => bail!("no server given: pass --server URL (like http://127.0.0.1:7780)"),
    };
    let token = match a.token {
        Some(t) => t,
        None if interactive() => dialoguer::Password::new()
            .with_prompt("API token")
            .interact()?,
        None => bail!(
            "no token given: pass --token TOKEN (an admin prints one with `skypanel admin users:create`)"
        ),
    };
    let token = token.trim().to_string();
    let me: api::Whoami = Client::new(&server, Some(token.clone()))?
        .get("/whoami")
        .await?;
    let path = client::save_file(&Login {
        server: Some(server.clone()),
        token: Some(token),
    })?;
    println!(
        "Logged in to {server} as {}{} (saved in {})",
        me.email,
        if me.is_admin { " (admin)" } else { "" },
        path.display()
    );
    Ok(())
}

pub fn logout() -> Result<()> {
    let mut l = client::load_file()?;
    if l.token.take().is_none() {
        println!("Not logged in.");
        return Ok(());
    }
    client::save_file(&l)?;
    println!("Logged out; the token is still valid until revoked (`skypanel tokens:revoke ID`).");
    Ok(())
}

pub async fn whoami(j: JsonFlag) -> Result<()> {
    let c = Client::from_login()?;
    let me: api::Whoami = c.get("/whoami").await?;
    if j.json {
        return output::json(&me);
    }
    println!("{}{}", me.email, if me.is_admin { " (admin)" } else { "" });
    for o in &me.orgs {
        println!("  {} ({})", o.org, o.role);
    }
    Ok(())
}

pub async fn tokens(j: JsonFlag) -> Result<()> {
    let list: Vec<api::Token> = Client::from_login()?.get("/tokens").await?;
    if j.json {
        return output::json(&list);
    }
    output::table(
        ["id", "name", "prefix", "created", "last used", "revoked"],
        list.iter().map(|t| {
            [
                t.id.to_string(),
                t.name.clone(),
                format!("{}…", t.prefix),
                t.created_at.clone(),
                opt(&t.last_used_at),
                opt(&t.revoked_at),
            ]
        }),
    );
    Ok(())
}

#[derive(Args, Debug)]
pub struct TokenCreateArgs {
    /// A name to tell the token apart (default: cli)
    #[arg(long)]
    pub name: Option<String>,
    #[command(flatten)]
    pub json: JsonFlag,
}

pub async fn create_token(a: TokenCreateArgs) -> Result<()> {
    let t: api::CreatedToken = Client::from_login()?
        .post("/tokens", &api::CreateToken { name: a.name })
        .await?;
    if a.json.json {
        return output::json(&t);
    }
    println!(
        "Created token {} ({}). It is shown only this once:",
        t.token.id, t.token.name
    );
    println!("{}", t.secret);
    Ok(())
}

#[derive(Args, Debug)]
pub struct TokenRevokeArgs {
    /// The token's id (see `skypanel tokens`)
    pub id: String,
}

pub async fn revoke_token(a: TokenRevokeArgs) -> Result<()> {
    let t: api::Token = Client::from_login()?
        .delete(&format!("/tokens/{}", seg(&a.id)))
        .await?;
    println!("Revoked token {} ({}).", t.id, t.name);
    Ok(())
}
