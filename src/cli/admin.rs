//! `skypanel admin …` and `skypanel plans`.

use anyhow::Result;
use clap::Args;

use super::client::{self, Client, Login, seg};
use super::output::{self};
use super::{AdminCommand, DataDir, JsonFlag};
use crate::api;

#[derive(Args, Debug)]
pub struct InitArgs {
    #[command(flatten)]
    pub data_dir: DataDir,
    /// Email of the first admin
    #[arg(long, default_value = "admin@localhost")]
    pub email: String,
    /// Organization created for the first admin
    #[arg(long, default_value = "main")]
    pub org: String,
    /// Also save a login for this server URL with the new admin token (first run only)
    #[arg(long, value_name = "URL")]
    pub login: Option<String>,
    /// Address the Swarm manager advertises when Swarm is initialised here
    #[arg(long, value_name = "ADDRESS")]
    pub advertise_addr: Option<String>,
    /// Set up the database only; leave Docker and Swarm for a later `admin init`
    #[arg(long)]
    pub skip_docker: bool,
    #[command(flatten)]
    pub json: JsonFlag,
}

pub async fn init(a: InitArgs) -> Result<()> {
    let login = a
        .login
        .as_deref()
        .map(client::normalize_server)
        .transpose()?;
    let swarm = if a.skip_docker {
        None
    } else {
        Some(crate::init::engine(a.advertise_addr.as_deref()).await?)
    };
    let opts = crate::init::Options {
        data_dir: a.data_dir.path,
        admin_email: a.email,
        org: a.org,
    };
    let report = crate::init::run(&opts, swarm.as_ref())?;
    let mut saved = None;
    if let (Some(server), Some(token)) = (&login, &report.token) {
        saved = Some(client::save_file(&Login {
            server: Some(server.clone()),
            token: Some(token.clone()),
        })?);
    }
    if a.json.json {
        return output::json(&report);
    }
    println!("SkyPanel data dir ready: {}", report.data_dir);
    output::pairs(&[
        ("database", report.database.clone()),
        (
            "key",
            format!(
                "{}{}",
                report.key,
                if report.key_created { " (created)" } else { "" }
            ),
        ),
        ("admin", report.admin.clone()),
        (
            "swarm",
            report
                .swarm
                .clone()
                .unwrap_or_else(|| "not set up (--skip-docker)".into()),
        ),
        (
            "organization",
            report.org.clone().unwrap_or_else(|| "(unchanged)".into()),
        ),
    ]);
    match (&report.token, saved) {
        (Some(_), Some(path)) => println!(
            "Logged in as {} (saved in {}).",
            report.admin,
            path.display()
        ),
        (Some(t), None) => {
            println!("The admin's token is shown only this once. Log in with:");
            println!(
                "  skypanel login --server http://{} --token {t}",
                super::DEFAULT_LISTEN
            );
        }
        (None, _) => println!(
            "Already initialised; nothing was changed. New tokens: `skypanel tokens:create`."
        ),
    }
    Ok(())
}

pub async fn dispatch(cmd: AdminCommand) -> Result<()> {
    use AdminCommand as A;
    match cmd {
        A::Init(a) => init(a).await,
        A::Users(j) => users(j).await,
        A::UsersCreate(a) => create_user(a).await,
        A::Orgs(j) => super::billing::admin_orgs(j).await,
        A::BillingCredit(a) => super::billing::credit(a).await,
        A::BillingDebit(a) => super::billing::debit(a).await,
        A::BillingRun(a) => super::billing::run(a).await,
        A::PlansCreate(a) => create_plan(a).await,
        A::PlansUpdate(a) => update_plan(a).await,
        A::PlansRemove(a) => remove_plan(a).await,
        A::Nodes(j) => super::nodes::list(j).await,
        A::NodesInfo(a) => super::nodes::info(a).await,
        A::NodesDrain(a) => super::nodes::drain(a).await,
        A::NodesActivate(a) => super::nodes::activate(a).await,
        A::NodesRemove(a) => super::nodes::remove(a).await,
        A::NodesJoinCommand(a) => super::nodes::join_command(a).await,
        A::Events(a) => super::nodes::events(a).await,
        A::Reconcile(j) => super::nodes::reconcile(j).await,
        A::Settings(j) => settings(j).await,
        A::SettingsGet(a) => setting_get(a).await,
        A::SettingsSet(a) => setting_set(a).await,
        A::SettingsUnset(a) => setting_unset(a).await,
    }
}

async fn users(j: JsonFlag) -> Result<()> {
    let list: Vec<api::User> = Client::from_login()?.get("/admin/users").await?;
    if j.json {
        return output::json(&list);
    }
    output::table(
        ["email", "admin", "created"],
        list.iter().map(|u| {
            [
                u.email.clone(),
                if u.is_admin { "yes" } else { "" }.into(),
                u.created_at.clone(),
            ]
        }),
    );
    Ok(())
}

#[derive(Args, Debug)]
pub struct UserCreateArgs {
    pub email: String,
    /// Make the user a platform admin
    #[arg(long)]
    pub admin: bool,
    #[command(flatten)]
    pub json: JsonFlag,
}

async fn create_user(a: UserCreateArgs) -> Result<()> {
    let u: api::CreatedUser = Client::from_login()?
        .post(
            "/admin/users",
            &api::CreateUser {
                email: a.email,
                admin: a.admin,
            },
        )
        .await?;
    if a.json.json {
        return output::json(&u);
    }
    println!(
        "Created user {}{}. Their token is shown only this once:",
        u.user.email,
        if u.user.is_admin { " (admin)" } else { "" }
    );
    println!("{}", u.token);
    Ok(())
}

pub async fn plans(j: JsonFlag) -> Result<()> {
    let list: Vec<api::Plan> = Client::from_login()?.get("/plans").await?;
    if j.json {
        return output::json(&list);
    }
    output::table(
        [
            "name",
            "cpu",
            "memory",
            "max replicas",
            "price/hour",
            "~price/month",
            "features",
        ],
        list.iter().map(|p| {
            [
                format!("{}{}", p.name, if p.default { " (default)" } else { "" }),
                p.cpu.clone(),
                p.memory.clone(),
                p.max_replicas.to_string(),
                p.price_hourly.clone(),
                p.price_monthly.clone(),
                p.features.join(", "),
            ]
        }),
    );
    Ok(())
}

#[derive(Args, Debug)]
pub struct PlanFigures {
    /// CPUs, like 0.5
    #[arg(long)]
    pub cpu: Option<String>,
    /// Memory, like 512M or 2G
    #[arg(long)]
    pub memory: Option<String>,
    /// Most replicas an app on this plan may run
    #[arg(long)]
    pub max_replicas: Option<String>,
    /// Price per hour, like 0.0070
    #[arg(long)]
    pub price_hourly: Option<String>,
    /// A feature (repeat for several)
    #[arg(long = "feature")]
    pub features: Vec<String>,
    #[command(flatten)]
    pub json: JsonFlag,
}

impl PlanFigures {
    fn spec(&self, name: Option<String>) -> Result<api::PlanSpec> {
        let max_replicas = match &self.max_replicas {
            Some(m) => Some(m.trim().parse::<i64>().map_err(|_| {
                anyhow::anyhow!(
                    "max replicas \"{}\" is not a whole number: give one like 3",
                    crate::validate::printable(m)
                )
            })?),
            None => None,
        };
        Ok(api::PlanSpec {
            name,
            cpu: self.cpu.clone(),
            memory: self.memory.clone(),
            max_replicas,
            price_hourly: self.price_hourly.clone(),
            features: (!self.features.is_empty()).then(|| self.features.clone()),
        })
    }
}

#[derive(Args, Debug)]
pub struct PlanCreateArgs {
    pub name: String,
    #[command(flatten)]
    pub figures: PlanFigures,
}

fn show_plan(p: &api::Plan, verb: &str) {
    println!(
        "{verb} plan {}: {} CPU, {}, up to {} replicas, {}/hour",
        p.name, p.cpu, p.memory, p.max_replicas, p.price_hourly
    );
}

async fn create_plan(a: PlanCreateArgs) -> Result<()> {
    let f = &a.figures;
    let missing: Vec<&str> = [
        ("--cpu", f.cpu.is_none()),
        ("--memory", f.memory.is_none()),
        ("--max-replicas", f.max_replicas.is_none()),
        ("--price-hourly", f.price_hourly.is_none()),
    ]
    .iter()
    .filter(|(_, m)| *m)
    .map(|(n, _)| *n)
    .collect();
    if !missing.is_empty() {
        anyhow::bail!(
            "a new plan needs {}: for example --cpu 0.5 --memory 512M --max-replicas 3 --price-hourly 0.0070",
            missing.join(", ")
        );
    }
    let p: api::Plan = Client::from_login()?
        .post("/admin/plans", &f.spec(Some(a.name))?)
        .await?;
    if f.json.json {
        return output::json(&p);
    }
    show_plan(&p, "Created");
    Ok(())
}

#[derive(Args, Debug)]
pub struct PlanUpdateArgs {
    pub name: String,
    #[command(flatten)]
    pub figures: PlanFigures,
}

async fn update_plan(a: PlanUpdateArgs) -> Result<()> {
    let p: api::Plan = Client::from_login()?
        .patch(
            &format!("/admin/plans/{}", seg(&a.name)),
            &a.figures.spec(None)?,
        )
        .await?;
    if a.figures.json.json {
        return output::json(&p);
    }
    show_plan(&p, "Updated");
    Ok(())
}

#[derive(Args, Debug)]
pub struct PlanRemoveArgs {
    pub name: String,
}

async fn remove_plan(a: PlanRemoveArgs) -> Result<()> {
    let _: serde_json::Value = Client::from_login()?
        .delete(&format!("/admin/plans/{}", seg(&a.name)))
        .await?;
    println!("Removed plan {}.", a.name);
    Ok(())
}

async fn settings(j: JsonFlag) -> Result<()> {
    let list: Vec<api::Setting> = Client::from_login()?.get("/admin/settings").await?;
    if j.json {
        return output::json(&list);
    }
    output::table(
        ["key", "value", "default", "category"],
        list.iter().map(|s| {
            [
                s.key.clone(),
                s.value.clone(),
                s.default.clone(),
                s.category.clone(),
            ]
        }),
    );
    Ok(())
}

#[derive(Args, Debug)]
pub struct SettingKeyArgs {
    pub key: String,
    #[command(flatten)]
    pub json: JsonFlag,
}

fn show_setting(s: &api::Setting, json: bool) -> Result<()> {
    if json {
        return output::json(s);
    }
    output::pairs(&[
        ("key", s.key.clone()),
        ("value", s.value.clone()),
        ("default", s.default.clone()),
        ("allowed", s.allowed.clone()),
        ("about", s.description.clone()),
    ]);
    Ok(())
}

async fn setting_get(a: SettingKeyArgs) -> Result<()> {
    let s: api::Setting = Client::from_login()?
        .get(&format!("/admin/settings/{}", seg(&a.key)))
        .await?;
    show_setting(&s, a.json.json)
}

#[derive(Args, Debug)]
pub struct SettingSetArgs {
    pub key: String,
    pub value: String,
    #[command(flatten)]
    pub json: JsonFlag,
}

async fn setting_set(a: SettingSetArgs) -> Result<()> {
    let s: api::Setting = Client::from_login()?
        .put(
            &format!("/admin/settings/{}", seg(&a.key)),
            &api::SetSetting { value: a.value },
        )
        .await?;
    show_setting(&s, a.json.json)
}

async fn setting_unset(a: SettingKeyArgs) -> Result<()> {
    let s: api::Setting = Client::from_login()?
        .delete(&format!("/admin/settings/{}", seg(&a.key)))
        .await?;
    show_setting(&s, a.json.json)
}
