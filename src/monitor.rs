//! The node manager (the seeds' `NodeManagerService`): every
//! `node_monitor_interval_s` the Swarm's nodes are recorded with their status,
//! availability, capacity and reservations. A node that goes down, comes
//! back, or changes availability raises an event and an HTTP POST (JSON) to
//! `alert_webhook_url` when it is set. The local node is
//! registered when the daemon starts.

use std::time::Duration;

use tokio::sync::watch;

use crate::api;
use crate::docker::EngineCell;
use crate::error::Result;
use crate::events::Events;
use crate::store::{self, Node, Store};

/// What changed about a node since it was last seen, as events (level,
/// kind, message): registered, down, up again, availability.
fn changes(before: Option<&Node>, node: &Node) -> Vec<(String, String, String)> {
    let ev = |level: &str, kind: &str, msg: String| (level.to_string(), kind.to_string(), msg);
    let Some(b) = before else {
        return vec![ev(
            "info",
            "node_registered",
            format!("node {} ({}) registered", node.hostname, node.role),
        )];
    };
    let mut out = Vec::new();
    if b.status != node.status {
        out.push(if node.status == "ready" {
            ev(
                "info",
                "node_up",
                format!(
                    "node {} is {} again (was {})",
                    node.hostname, node.status, b.status
                ),
            )
        } else {
            ev(
                "warning",
                "node_down",
                format!(
                    "node {} is {} (was {})",
                    node.hostname, node.status, b.status
                ),
            )
        });
    }
    if b.availability != node.availability {
        let level = if node.availability == "active" {
            "info"
        } else {
            "warning"
        };
        out.push(ev(
            level,
            "node_availability",
            format!(
                "node {} is now {} (was {})",
                node.hostname, node.availability, b.availability
            ),
        ));
    }
    out
}

/// Reads the nodes from the engine, stores them and raises events for changes.
pub async fn check_nodes(
    engine: &EngineCell,
    events: &Events,
    store: &Store,
    settings: &crate::settings::Current,
) -> Result<Vec<Node>> {
    let infos = engine.get().await?.nodes().await?;
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
                let raised = changes(before.as_ref(), &node);
                for (level, kind, message) in &raised {
                    crate::webhooks::raise(
                        db,
                        None,
                        &crate::webhooks::Raised {
                            level,
                            kind,
                            app: None,
                            node: Some(&node.hostname),
                            message,
                        },
                        serde_json::Value::Null,
                        now,
                    )?;
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
        events.queued();
        let url = settings.get().alert_webhook_url.clone();
        if !url.is_empty() {
            for (node, (level, event, message)) in alerts {
                let alert = api::NodeAlert {
                    event,
                    level,
                    node,
                    message,
                    at: api::time(now),
                };
                post_alert(&url, &alert).await;
            }
        }
    }
    Ok(out)
}

async fn post_alert(url: &str, body: &api::NodeAlert) {
    let client = match crate::outbound::client() {
        Ok(c) => c,
        Err(e) => return tracing::warn!(error = %e, "cannot send the alert"),
    };
    match client
        .post(url)
        .timeout(Duration::from_secs(5))
        .json(body)
        .send()
        .await
    {
        Ok(r) if r.status().is_success() => {}
        Ok(r) => tracing::warn!(
            status = r.status().as_u16(),
            "the alert webhook refused the alert"
        ),
        Err(e) => tracing::warn!(error = %e, "cannot deliver the alert webhook"),
    }
}

/// Runs the node check now and then every `node_monitor_interval_s`, until `stop`.
pub async fn run(
    engine: EngineCell,
    events: Events,
    store: Store,
    settings: crate::settings::Current,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        if let Err(e) = check_nodes(&engine, &events, &store, &settings).await {
            tracing::warn!(error = %e, "node check failed");
        }
        let secs = settings.get().node_monitor_interval_s;
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(secs.max(1) as u64)) => {}
            _ = stop.changed() => return,
        }
        if *stop.borrow() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(status: &str, availability: &str) -> Node {
        Node {
            hostname: "n1".into(),
            role: "worker".into(),
            status: status.into(),
            availability: availability.into(),
            ..Default::default()
        }
    }

    #[test]
    fn a_node_raises_one_event_per_change() {
        let kinds = |b: Option<&Node>, n: &Node| -> Vec<String> {
            changes(b, n).into_iter().map(|(_, k, _)| k).collect()
        };
        assert_eq!(kinds(None, &node("ready", "active")), ["node_registered"]);
        let up = node("ready", "active");
        assert!(changes(Some(&up), &up).is_empty());
        let down = changes(Some(&up), &node("down", "active"));
        assert_eq!(
            down,
            [(
                "warning".into(),
                "node_down".into(),
                "node n1 is down (was ready)".into()
            )]
        );
        assert_eq!(
            kinds(Some(&node("down", "active")), &node("ready", "drain")),
            ["node_up", "node_availability"]
        );
        assert_eq!(changes(Some(&up), &node("ready", "drain"))[0].0, "warning");
    }
}
