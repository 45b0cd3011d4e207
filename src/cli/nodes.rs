//! `skypanel admin nodes…` and `skypanel admin events`.

use anyhow::Result;
use clap::Args;

use super::JsonFlag;
use super::client::{Client, seg};
use super::output;
use crate::api;

fn mem(mb: i64) -> String {
    if mb >= 1024 {
        format!("{:.1}G", mb as f64 / 1024.0)
    } else {
        format!("{mb}M")
    }
}

pub async fn list(j: JsonFlag) -> Result<()> {
    let nodes: Vec<api::Node> = Client::from_login()?.get("/admin/nodes").await?;
    if j.json {
        return output::json(&nodes);
    }
    output::table(
        [
            "hostname",
            "role",
            "status",
            "availability",
            "cpus (reserved)",
            "memory (reserved)",
            "tasks",
            "heartbeat",
        ],
        nodes.iter().map(|n| {
            [
                n.hostname.clone(),
                n.role.clone(),
                n.status.clone(),
                n.availability.clone(),
                format!("{} ({})", n.cpus, n.reserved_cpus),
                format!("{} ({})", mem(n.memory_mb), mem(n.reserved_memory_mb)),
                n.tasks.to_string(),
                n.last_heartbeat.clone(),
            ]
        }),
    );
    Ok(())
}

#[derive(Args, Debug)]
pub struct NodeArgs {
    /// Node id (or its first 12+ characters) or hostname
    pub node: String,
    #[command(flatten)]
    pub json: JsonFlag,
}

fn show(n: &api::Node, json: bool) -> Result<()> {
    if json {
        return output::json(n);
    }
    output::heading(&n.hostname);
    output::pairs(&[
        ("id", n.id.clone()),
        ("role", n.role.clone()),
        ("status", n.status.clone()),
        ("availability", n.availability.clone()),
        ("address", n.addr.clone()),
        ("engine", n.engine.clone()),
        ("cpus", format!("{} ({} reserved)", n.cpus, n.reserved_cpus)),
        (
            "memory",
            format!(
                "{} ({} reserved)",
                mem(n.memory_mb),
                mem(n.reserved_memory_mb)
            ),
        ),
        ("tasks", n.tasks.to_string()),
        ("heartbeat", n.last_heartbeat.clone()),
    ]);
    Ok(())
}

pub async fn info(a: NodeArgs) -> Result<()> {
    let n: api::Node = Client::from_login()?
        .get(&format!("/admin/nodes/{}", seg(&a.node)))
        .await?;
    show(&n, a.json.json)
}

pub async fn drain(a: NodeArgs) -> Result<()> {
    let n: api::Node = Client::from_login()?
        .post(
            &format!("/admin/nodes/{}/drain", seg(&a.node)),
            &serde_json::json!({}),
        )
        .await?;
    show(&n, a.json.json)
}

pub async fn activate(a: NodeArgs) -> Result<()> {
    let n: api::Node = Client::from_login()?
        .post(
            &format!("/admin/nodes/{}/activate", seg(&a.node)),
            &serde_json::json!({}),
        )
        .await?;
    show(&n, a.json.json)
}

pub async fn remove(a: NodeArgs) -> Result<()> {
    let n: api::Node = Client::from_login()?
        .delete(&format!("/admin/nodes/{}", seg(&a.node)))
        .await?;
    println!("Removed node {}.", n.hostname);
    Ok(())
}

#[derive(Args, Debug)]
pub struct JoinArgs {
    /// The command for a new manager instead of a worker
    #[arg(long)]
    pub manager: bool,
    #[command(flatten)]
    pub json: JsonFlag,
}

pub async fn join_command(a: JoinArgs) -> Result<()> {
    let query = api::JoinQuery { manager: a.manager };
    let j: api::JoinCommand = Client::from_login()?
        .get_query("/admin/join-command", &query)
        .await?;
    if a.json.json {
        return output::json(&j);
    }
    println!("{}", j.command);
    Ok(())
}

#[derive(Args, Debug)]
pub struct EventsArgs {
    /// How many of the newest events
    #[arg(short = 'n', long, default_value = "50")]
    pub limit: i64,
    #[command(flatten)]
    pub json: JsonFlag,
}

pub async fn events(a: EventsArgs) -> Result<()> {
    let list: Vec<api::Event> = Client::from_login()?
        .get_query(
            "/admin/events",
            &api::EventsQuery {
                limit: Some(a.limit),
            },
        )
        .await?;
    if a.json.json {
        return output::json(&list);
    }
    output::table(
        ["at", "level", "kind", "about", "message"],
        list.iter().rev().map(|e| {
            let about = e.app.clone().or_else(|| e.node.clone()).unwrap_or_default();
            [
                e.at.clone(),
                e.level.clone(),
                e.kind.clone(),
                about,
                e.message.clone(),
            ]
        }),
    );
    Ok(())
}

pub async fn reconcile(j: JsonFlag) -> Result<()> {
    let actions: Vec<String> = Client::from_login()?
        .post("/admin/reconcile", &serde_json::json!({}))
        .await?;
    if j.json {
        return output::json(&actions);
    }
    if actions.is_empty() {
        println!("Everything matches: nothing to do.");
    }
    for a in actions {
        println!("{a}");
    }
    Ok(())
}
