//! Apps and config vars.

use std::collections::BTreeMap;

use anyhow::{Result, bail};
use clap::Args;

use super::client::{Client, seg};
use super::git::{self, RemoteOutcome};
use super::output::{self, interactive, opt};
use super::{AppFlag, JsonFlag};
use crate::api;

#[derive(Args, Debug)]
pub struct ListArgs {
    /// Only this organization's apps
    #[arg(short = 'o', long = "org")]
    pub org: Option<String>,
    /// Every app on the platform (admins)
    #[arg(long)]
    pub all: bool,
    #[command(flatten)]
    pub json: JsonFlag,
}

pub async fn list(a: ListArgs) -> Result<()> {
    let query = api::AppsQuery {
        org: a.org.clone(),
        all: a.org.is_none() && a.all,
    };
    let list: Vec<api::App> = Client::from_login()?.get_query("/apps", &query).await?;
    if a.json.json {
        return output::json(&list);
    }
    if list.is_empty() {
        println!("No apps yet: create one with `skypanel apps:create NAME`.");
    }
    output::table(
        ["name", "org", "plan", "created"],
        list.iter().map(|x| {
            [
                x.name.clone(),
                x.org.clone(),
                x.plan.clone(),
                x.created_at.clone(),
            ]
        }),
    );
    Ok(())
}

#[derive(Args, Debug)]
pub struct CreateArgs {
    /// The app's name: lowercase letters, digits and dashes (it becomes a subdomain)
    pub name: String,
    /// The organization that owns it (default: your only one)
    #[arg(short = 'o', long = "org")]
    pub org: Option<String>,
    /// The plan (default: the platform's default plan)
    #[arg(long)]
    pub plan: Option<String>,
    /// Name of the git remote to add inside a repository
    #[arg(long, default_value = git::REMOTE)]
    pub remote: String,
    /// Do not add a git remote
    #[arg(long)]
    pub no_remote: bool,
    #[command(flatten)]
    pub json: JsonFlag,
}

pub async fn create(a: CreateArgs) -> Result<()> {
    let c = Client::from_login()?;
    let body = api::CreateApp {
        name: a.name,
        org: a.org,
        plan: a.plan,
    };
    let app: api::App = c.post("/apps", &body).await?;
    let remote = if a.no_remote {
        RemoteOutcome::NotARepo
    } else {
        git::add_remote(&a.remote, &app.git_url)?
    };
    if matches!(remote, RemoteOutcome::Added | RemoteOutcome::AlreadySet) {
        git::set_credential_helper(c.server())?;
    }
    if a.json.json {
        return output::json(&app);
    }
    println!("Created {} in {} on plan {}.", app.name, app.org, app.plan);
    println!("{} | {}", app.web_url, app.git_url);
    match remote {
        RemoteOutcome::Added => println!("Git remote {} added.", a.remote),
        RemoteOutcome::AlreadySet | RemoteOutcome::NotARepo => {}
        RemoteOutcome::PointsElsewhere(url) => eprintln!(
            "warning: git remote {} already points at {url}; left it as it is (use --remote NAME to add another)",
            a.remote
        ),
    }
    Ok(())
}

#[derive(Args, Debug)]
pub struct InfoArgs {
    #[command(flatten)]
    pub app: AppFlag,
    #[command(flatten)]
    pub json: JsonFlag,
}

pub async fn info(a: InfoArgs) -> Result<()> {
    let name = git::resolve_app(a.app.app)?;
    let app: api::App = Client::from_login()?
        .get(&format!("/apps/{}", seg(&name)))
        .await?;
    if a.json.json {
        return output::json(&app);
    }
    output::heading(&app.name);
    output::pairs(&[
        ("Organization", app.org.clone()),
        ("Plan", app.plan.clone()),
        ("Web URL", app.web_url.clone()),
        ("Git URL", app.git_url.clone()),
        ("Config vars", app.config_vars.to_string()),
        ("Created", app.created_at.clone()),
        ("Created by", opt(&app.created_by)),
    ]);
    Ok(())
}

#[derive(Args, Debug)]
pub struct DestroyArgs {
    /// The app to destroy
    pub name: Option<String>,
    #[command(flatten)]
    pub app: AppFlag,
    /// The app's name again, to confirm
    #[arg(long)]
    pub confirm: Option<String>,
}

pub async fn destroy(a: DestroyArgs) -> Result<()> {
    let name = git::resolve_app(a.name.or(a.app.app))?;
    let confirmed = match a.confirm {
        Some(c) => c,
        None if interactive() => dialoguer::Input::<String>::new()
            .with_prompt(format!(
                "This deletes {name} and its config for good. Type its name to confirm"
            ))
            .interact_text()?,
        None => bail!("destroying {name} cannot be undone: pass --confirm {name}"),
    };
    if confirmed != name {
        bail!(
            "confirmation \"{confirmed}\" does not match the app name {name}: nothing was destroyed"
        );
    }
    let _: api::App = Client::from_login()?
        .delete(&format!("/apps/{}", seg(&name)))
        .await?;
    println!("Destroyed {name}.");
    Ok(())
}

#[derive(Args, Debug)]
pub struct ConfigArgs {
    #[command(flatten)]
    pub app: AppFlag,
    /// Print KEY='value' lines that a shell can eval
    #[arg(long, conflicts_with = "json")]
    pub shell: bool,
    #[command(flatten)]
    pub json: JsonFlag,
}

/// Single-quotes a value for POSIX shells: `it's` → `'it'\''s'`.
pub fn shell_quote(v: &str) -> String {
    format!("'{}'", v.replace('\'', r"'\''"))
}

async fn fetch_config(name: &str) -> Result<api::Config> {
    Client::from_login()?
        .get(&format!("/apps/{}/config", seg(name)))
        .await
}

pub async fn config(a: ConfigArgs) -> Result<()> {
    let name = git::resolve_app(a.app.app)?;
    let cfg = fetch_config(&name).await?;
    if a.json.json {
        return output::json(&cfg);
    }
    if a.shell {
        for (k, v) in &cfg {
            println!("{k}={}", shell_quote(v));
        }
        return Ok(());
    }
    output::heading(&format!("{name} Config Vars"));
    let rows: Vec<(&str, String)> = cfg.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
    output::pairs(&rows);
    Ok(())
}

#[derive(Args, Debug)]
pub struct ConfigGetArgs {
    #[command(flatten)]
    pub app: AppFlag,
    pub key: String,
}

pub async fn config_get(a: ConfigGetArgs) -> Result<()> {
    crate::validate::config_key(&a.key)?;
    let name = git::resolve_app(a.app.app)?;
    let cfg = fetch_config(&name).await?;
    match cfg.get(&a.key) {
        Some(v) => {
            println!("{v}");
            Ok(())
        }
        None => bail!(
            "config var {} is not set on {name}: run `skypanel config -a {name}` to list them",
            a.key
        ),
    }
}

#[derive(Args, Debug)]
pub struct ConfigSetArgs {
    #[command(flatten)]
    pub app: AppFlag,
    /// Record the change without rolling out a new release
    #[arg(long)]
    pub no_restart: bool,
    /// KEY=VALUE pairs
    #[arg(required = true, value_name = "KEY=VALUE")]
    pub pairs: Vec<String>,
    #[command(flatten)]
    pub json: JsonFlag,
}

/// Parses `KEY=VALUE` arguments; a malformed one is an error before anything is sent.
pub fn parse_pairs(pairs: &[String]) -> Result<BTreeMap<String, Option<String>>> {
    let mut out = BTreeMap::new();
    for p in pairs {
        let Some((k, v)) = p.split_once('=') else {
            bail!(
                "\"{}\" is not KEY=VALUE: write config:set KEY=VALUE (quote values with spaces)",
                crate::validate::printable(p.split_whitespace().next().unwrap_or(""))
            );
        };
        crate::validate::config_key(k)?;
        crate::validate::config_value(k, v)?;
        out.insert(k.to_string(), Some(v.to_string()));
    }
    Ok(out)
}

pub async fn config_set(a: ConfigSetArgs) -> Result<()> {
    let name = git::resolve_app(a.app.app)?;
    let patch = parse_pairs(&a.pairs)?;
    let c = Client::from_login()?;
    let out = patch_config(&c, &name, &patch, a.no_restart, a.json.json).await?;
    if a.json.json {
        return output::json(&out.config);
    }
    println!(
        "Set {} on {name}.",
        patch.keys().cloned().collect::<Vec<_>>().join(", ")
    );
    Ok(())
}

/// Sends the change and, when it starts a release, waits for its rollout.
async fn patch_config(
    c: &Client,
    app: &str,
    patch: &BTreeMap<String, Option<String>>,
    no_restart: bool,
    quiet: bool,
) -> Result<api::ConfigUpdated> {
    let query = api::ConfigQuery {
        restart: no_restart.then_some(false),
    };
    let out: api::ConfigUpdated = c
        .patch_query(&format!("/apps/{}/config", seg(app)), &query, patch)
        .await?;
    if let Some(r) = &out.release {
        super::releases::wait(c, app, r.clone(), quiet).await?;
    }
    Ok(out)
}

#[derive(Args, Debug)]
pub struct ConfigUnsetArgs {
    #[command(flatten)]
    pub app: AppFlag,
    /// Record the change without rolling out a new release
    #[arg(long)]
    pub no_restart: bool,
    #[arg(required = true, value_name = "KEY")]
    pub keys: Vec<String>,
}

pub async fn config_unset(a: ConfigUnsetArgs) -> Result<()> {
    let name = git::resolve_app(a.app.app)?;
    let mut patch = BTreeMap::new();
    for k in &a.keys {
        crate::validate::config_key(k)?;
        patch.insert(k.clone(), None::<String>);
    }
    let c = Client::from_login()?;
    patch_config(&c, &name, &patch, a.no_restart, false).await?;
    println!("Unset {} on {name}.", a.keys.join(", "));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_quoting_survives_eval() {
        assert_eq!(shell_quote("plain"), "'plain'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        let pairs = parse_pairs(&["A=1".into(), "B=x=y".into(), "C=".into()]).expect("ok");
        assert_eq!(pairs["B"].as_deref(), Some("x=y"));
        assert_eq!(pairs["C"].as_deref(), Some(""));
        assert!(parse_pairs(&["NOEQUALS".into()]).is_err());
        assert!(parse_pairs(&["1A=x".into()]).is_err());
    }
}
