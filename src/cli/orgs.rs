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

#[derive(Args, Debug)]
pub struct WebhooksArgs {
    #[arg(short = 'o', long = "org")]
    pub org: String,
    #[command(flatten)]
    pub json: JsonFlag,
}

pub async fn webhooks(a: WebhooksArgs) -> Result<()> {
    let w: api::Webhooks = Client::from_login()?
        .get(&format!("/orgs/{}/webhooks", seg(&a.org)))
        .await?;
    if a.json.json {
        return output::json(&w);
    }
    if w.webhooks.is_empty() {
        println!(
            "{} has no webhooks. Add one with `skypanel orgs:webhooks:add -o {} URL`.",
            a.org, a.org
        );
    } else {
        output::table(
            ["id", "url", "events", "added by", "created"],
            w.webhooks.iter().map(|h| {
                [
                    h.id.to_string(),
                    h.url.clone(),
                    h.events.join(","),
                    h.created_by.clone(),
                    h.created_at.clone(),
                ]
            }),
        );
    }
    if !w.deliveries.is_empty() {
        println!("\nLatest deliveries:");
        output::table(
            [
                "id",
                "webhook",
                "event",
                "state",
                "attempts",
                "last answer",
                "last attempt",
                "next attempt",
            ],
            w.deliveries.iter().map(|d| {
                [
                    d.id.to_string(),
                    d.webhook.to_string(),
                    d.event.clone(),
                    d.state.clone(),
                    d.attempts.to_string(),
                    match (&d.last_status, &d.last_error) {
                        (Some(s), _) => s.to_string(),
                        (None, Some(e)) => e.clone(),
                        _ => String::new(),
                    },
                    opt(&d.last_attempt_at),
                    opt(&d.next_attempt_at),
                ]
            }),
        );
    }
    Ok(())
}

#[derive(Args, Debug)]
pub struct WebhookAddArgs {
    #[arg(short = 'o', long = "org")]
    pub org: String,
    /// Where events are POSTed (http:// or https://)
    pub url: String,
    /// Event groups: deploy, crash, health, billing (and node, for admins); default all but node
    #[arg(long, default_value = "")]
    pub events: String,
    #[command(flatten)]
    pub json: JsonFlag,
}

pub async fn webhook_add(a: WebhookAddArgs) -> Result<()> {
    let body = api::AddWebhook {
        url: a.url,
        events: a.events,
    };
    let n: api::NewWebhook = Client::from_login()?
        .post(&format!("/orgs/{}/webhooks", seg(&a.org)), &body)
        .await?;
    if a.json.json {
        return output::json(&n);
    }
    println!(
        "Added webhook {} to {}: {} ({}).",
        n.webhook.id,
        a.org,
        n.webhook.url,
        n.webhook.events.join(",")
    );
    println!("Signing secret (shown once; keep it to check the X-SkyPanel-Signature header):");
    println!("{}", n.secret);
    Ok(())
}

#[derive(Args, Debug)]
pub struct WebhookRemoveArgs {
    #[arg(short = 'o', long = "org")]
    pub org: String,
    /// The webhook's id (see `orgs:webhooks`)
    pub id: String,
}

pub async fn webhook_remove(a: WebhookRemoveArgs) -> Result<()> {
    let _: () = Client::from_login()?
        .delete(&format!("/orgs/{}/webhooks/{}", seg(&a.org), seg(&a.id)))
        .await?;
    println!("Removed webhook {} from {}.", a.id, a.org);
    Ok(())
}
