//! The node manager (the seeds' `NodeManagerService`): every
//! `node_monitor_interval_s` the Swarm's nodes are recorded with their status,
//! availability, capacity and reservations. A node that goes down, comes
//! back, or changes availability raises an event and an HTTP POST (JSON) to
//! `alert_webhook_url` when it is set. The local node is
//! registered when the daemon starts.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use tokio::sync::watch;

use crate::error::Result;
use crate::runtime::Runtime;
use crate::store::{self, Node, Store};

/// Reads the nodes from the engine, stores them and raises events for changes.
pub async fn check_nodes(rt: &Runtime, store: &Store) -> Result<Vec<Node>> {
    let infos = rt.engine().await?.nodes().await?;
    let now = store::now();
    let mut alerts = Vec::new();
    let mut out = Vec::new();
    for i in infos {
        let n = Node {
            id: i.id,
            hostname: i.hostname,
            role: i.role,
            status: i.status,
            availability: i.availability,
            addr: i.addr,
            engine: i.engine,
            cpus_nano: i.cpus_nano,
            memory_bytes: i.memory_bytes,
            reserved_nano: i.reserved_nano,
            reserved_bytes: i.reserved_bytes,
            tasks: i.tasks,
            first_seen: now,
            last_heartbeat: now,
        };
        let node = n.clone();
        let raised = store
            .write(move |db| {
                let before = db.upsert_node(&node)?;
                let name = node.hostname.clone();
                let mut raised = Vec::new();
                let mut event = |level: &str, kind: &str, msg: String| -> Result<()> {
                    crate::webhooks::raise(
                        db,
                        None,
                        level,
                        kind,
                        None,
                        Some(&name),
                        &msg,
                        serde_json::Value::Null,
                        now,
                    )?;
                    raised.push((level.to_string(), kind.to_string(), msg));
                    Ok(())
                };
                match before {
                    None => event(
                        "info",
                        "node_registered",
                        format!("node {} ({}) registered", node.hostname, node.role),
                    )?,
                    Some(b) => {
                        if b.status != node.status {
                            if node.status == "ready" {
                                event(
                                    "info",
                                    "node_up",
                                    format!(
                                        "node {} is {} again (was {})",
                                        node.hostname, node.status, b.status
                                    ),
                                )?;
                            } else {
                                event(
                                    "warning",
                                    "node_down",
                                    format!(
                                        "node {} is {} (was {})",
                                        node.hostname, node.status, b.status
                                    ),
                                )?;
                            }
                        }
                        if b.availability != node.availability {
                            let level = if node.availability == "active" {
                                "info"
                            } else {
                                "warning"
                            };
                            event(
                                level,
                                "node_availability",
                                format!(
                                    "node {} is now {} (was {})",
                                    node.hostname, node.availability, b.availability
                                ),
                            )?;
                        }
                    }
                }
                Ok(raised)
            })
            .await?;
        alerts.extend(
            raised
                .into_iter()
                .filter(|(_, kind, _)| kind != "node_registered")
                .map(|a| (n.hostname.clone(), a)),
        );
        out.push(n);
    }
    if !alerts.is_empty() {
        rt.webhooks_wake.notify_one();
        let url = store.read(|db| db.setting("alert_webhook_url")).await?;
        if !url.is_empty() {
            for (node, (level, kind, message)) in alerts {
                post_alert(&url, json!({"event": kind, "level": level, "node": node, "message": message, "at": crate::api::time(now)})).await;
            }
        }
    }
    Ok(out)
}

async fn post_alert(url: &str, body: serde_json::Value) {
    let client = match reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
    {
        Ok(c) => c,
        Err(e) => return tracing::warn!(error = %e, "cannot build the alert client"),
    };
    match client.post(url).json(&body).send().await {
        Ok(r) if r.status().is_success() => {}
        Ok(r) => tracing::warn!(
            status = r.status().as_u16(),
            "the alert webhook refused the alert"
        ),
        Err(e) => tracing::warn!(error = %e, "cannot deliver the alert webhook"),
    }
}

/// Runs the node check now and then every `node_monitor_interval_s`, until `stop`.
pub async fn run(rt: Arc<Runtime>, store: Store, mut stop: watch::Receiver<bool>) {
    loop {
        if let Err(e) = check_nodes(&rt, &store).await {
            tracing::warn!(error = %e, "node check failed");
        }
        let secs = store
            .read(|db| db.setting_i64("node_monitor_interval_s"))
            .await
            .unwrap_or(30);
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(secs.max(1) as u64)) => {}
            _ = stop.changed() => return,
        }
        if *stop.borrow() {
            return;
        }
    }
}
