//! Organizations and members.

use anyhow::Result;
use clap::Args;

use super::JsonFlag;
use super::client::{Client, seg};
use super::output::{self, opt};
use crate::api;

pub async fn list(j: JsonFlag) -> Result<()> {
    let list: Vec<api::Org> = Client::from_login()?.get("/orgs").await?;
    if j.json {
        return output::json(&list);
    }
    output::table(
        ["name", "role", "members", "apps", "created"],
        list.iter().map(|o| {
            [
                o.name.clone(),
                opt(&o.role),
                o.members.to_string(),
                o.apps.to_string(),
                o.created_at.clone(),
            ]
        }),
    );
    Ok(())
}

#[derive(Args, Debug)]
pub struct CreateArgs {
    pub name: String,
    #[command(flatten)]
    pub json: JsonFlag,
}

pub async fn create(a: CreateArgs) -> Result<()> {
    let o: api::Org = Client::from_login()?
        .post("/orgs", &api::CreateOrg { name: a.name })
        .await?;
    if a.json.json {
        return output::json(&o);
    }
    println!("Created organization {}; you are its owner.", o.name);
    Ok(())
}

#[derive(Args, Debug)]
pub struct MembersArgs {
    #[arg(short = 'o', long = "org")]
    pub org: String,
    #[command(flatten)]
    pub json: JsonFlag,
}

fn show(members: &[api::Member]) {
    output::table(
        ["email", "role", "added"],
        members
            .iter()
            .map(|m| [m.email.clone(), m.role.clone(), m.added_at.clone()]),
    );
}

pub async fn members(a: MembersArgs) -> Result<()> {
    let list: Vec<api::Member> = Client::from_login()?
        .get(&format!("/orgs/{}/members", seg(&a.org)))
        .await?;
    if a.json.json {
        return output::json(&list);
    }
    show(&list);
    Ok(())
}

#[derive(Args, Debug)]
pub struct AddArgs {
    #[arg(short = 'o', long = "org")]
    pub org: String,
    pub email: String,
    /// owner or member
    #[arg(long, default_value = "member")]
    pub role: String,
    #[command(flatten)]
    pub json: JsonFlag,
}

pub async fn add(a: AddArgs) -> Result<()> {
    let body = api::AddMember {
        email: a.email.clone(),
        role: a.role.clone(),
    };
    let list: Vec<api::Member> = Client::from_login()?
        .post(&format!("/orgs/{}/members", seg(&a.org)), &body)
        .await?;
    if a.json.json {
        return output::json(&list);
    }
    println!("{} is now {} of {}.", a.email, a.role, a.org);
    Ok(())
}

#[derive(Args, Debug)]
pub struct RemoveArgs {
    #[arg(short = 'o', long = "org")]
    pub org: String,
    pub email: String,
}

pub async fn remove(a: RemoveArgs) -> Result<()> {
    let _: Vec<api::Member> = Client::from_login()?
        .delete(&format!("/orgs/{}/members/{}", seg(&a.org), seg(&a.email)))
        .await?;
    println!("Removed {} from {}.", a.email, a.org);
    Ok(())
}
