//! Per-org webhooks: events are recorded and queued in the same transaction
//! ([`raise`]), and [`run`] delivers the queue: a JSON POST signed with
//! HMAC-SHA256 under the endpoint's secret, retried with backoff (2 s
//! doubling, at most an hour between attempts, [`store::MAX_ATTEMPTS`] in
//! all). Each attempt is recorded, so `orgs:webhooks` shows it.
//!
//! The signature header is `X-SkyPanel-Signature: t=UNIX,v1=HEX` where HEX
//! is the HMAC-SHA256 of `"{t}.{body}"` keyed with the secret's text, as
//! Stripe does: a receiver checks it and rejects old timestamps.

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tokio::sync::{Notify, watch};

use crate::api::{WebhookEnvelope, event_data};
use crate::error::{Error, Result};
use crate::store::{self, Db, Store};

/// The event groups an endpoint can ask for. `node` is for admins.
pub const EVENTS: &[&str] = &["deploy", "crash", "health", "billing", "node"];

pub const SIGNATURE_HEADER: &str = "x-skypanel-signature";
const WEBHOOK_AGENT: &str = concat!("SkyPanel-Webhooks/", env!("CARGO_PKG_VERSION"));
pub const EVENT_HEADER: &str = "x-skypanel-event";
pub const DELIVERY_HEADER: &str = "x-skypanel-delivery";

/// An event kind's public name and its group; `None` for events no webhook
/// carries (stop, start, reconcile …).
pub fn public_name(kind: &str) -> Option<(&'static str, &'static str)> {
    Some(match kind {
        "deploy_started" => ("deploy.started", "deploy"),
        "deploy" => ("deploy.succeeded", "deploy"),
        "deploy_failed" => ("deploy.failed", "deploy"),
        "task_restarted" => ("task.crashed", "crash"),
        "task_replaced" => ("task.replaced", "health"),
        "health_alert" => ("health.alert", "health"),
        "health_recovered" => ("health.recovered", "health"),
        "billing_low_balance" => ("billing.low_balance", "billing"),
        "billing_suspended" => ("billing.suspended", "billing"),
        "billing_resumed" => ("billing.resumed", "billing"),
        "node_down" => ("node.down", "node"),
        "node_up" => ("node.up", "node"),
        "node_availability" => ("node.availability", "node"),
        _ => return None,
    })
}

/// Parses `--events deploy,crash`: known groups, no repeats, sorted as in
/// [`EVENTS`]. Empty means all but `node` (which admins ask for by name).
pub fn parse_events(text: &str, admin: bool) -> Result<Vec<String>> {
    let wanted: Vec<&str> = text
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    for w in &wanted {
        if !EVENTS.contains(w) {
            return Err(Error::Invalid(format!(
                "unknown webhook event \"{}\": use a comma-separated list of {}",
                crate::validate::printable(w),
                EVENTS.join(", ")
            )));
        }
        if *w == "node" && !admin {
            return Err(Error::Forbidden(
                "only admins can receive node events: leave `node` out of --events".into(),
            ));
        }
    }
    Ok(EVENTS
        .iter()
        .filter(|e| {
            if wanted.is_empty() {
                **e != "node"
            } else {
                wanted.contains(e)
            }
        })
        .map(|e| e.to_string())
        .collect())
}

/// An event as it is raised: who, what, and the line users read.
pub struct Raised<'a> {
    pub level: &'a str,
    pub kind: &'a str,
    pub app: Option<&'a str>,
    pub node: Option<&'a str>,
    pub message: &'a str,
}

/// Records an event and queues it for the endpoints that want it, in the
/// caller's transaction. `org` is the app's org; node events (no org) go to
/// every endpoint that asked for `node`. Returns the deliveries queued.
pub fn raise(
    db: &Db,
    org: Option<(i64, &str)>,
    e: &Raised,
    data: Value,
    now: i64,
) -> Result<usize> {
    db.add_event(e.level, e.kind, e.app, e.node, e.message, now)?;
    let Some((name, group)) = public_name(e.kind) else {
        return Ok(0);
    };
    if org.is_none() && group != "node" {
        return Ok(0);
    }
    let payload = WebhookEnvelope {
        event: name.to_string(),
        level: e.level.to_string(),
        message: e.message.to_string(),
        at: crate::api::time(now),
        org: org.map(|(_, o)| o.to_string()),
        app: e.app.map(str::to_string),
        node: e.node.map(str::to_string),
        data,
        delivery: None,
    };
    db.enqueue_webhooks(org.map(|o| o.0), group, name, &event_data(&payload), now)
}

/// `t=UNIX,v1=HEX`, the signature of `body` sent at `t`.
pub fn sign(secret: &str, t: i64, body: &str) -> String {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret.as_bytes());
    let tag = ring::hmac::sign(&key, format!("{t}.{body}").as_bytes());
    format!("t={t},v1={}", crate::crypto::hex_encode(tag.as_ref()))
}

/// A new endpoint secret: `whsec_` and 64 hex digits.
pub fn new_secret() -> Result<String> {
    let t = crate::crypto::new_token()?;
    let hex = t.rsplit('_').next().unwrap_or(&t);
    Ok(format!("whsec_{hex}"))
}

/// Delivers due webhooks until `stop`; `wake` is notified when one is queued.
pub async fn run(store: Store, wake: Arc<Notify>, mut stop: watch::Receiver<bool>) {
    let client = match crate::outbound::client() {
        Ok(c) => c,
        Err(e) => return tracing::error!(error = %e, "cannot send webhooks"),
    };
    loop {
        let due = store
            .read(|db| db.due_deliveries(store::now(), 32))
            .await
            .unwrap_or_else(|e| {
                tracing::warn!(error = %e, "cannot read webhook deliveries");
                Vec::new()
            });
        let busy = !due.is_empty();
        futures_util::future::join_all(due.into_iter().map(|d| deliver(client, &store, d))).await;
        if busy {
            continue;
        }
        let next = store.read(|db| db.next_delivery_at()).await.ok().flatten();
        let wait = next
            .map(|at| (at - store::now()).clamp(0, 30))
            .unwrap_or(30) as u64;
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(wait.max(1))) => {}
            _ = wake.notified() => {}
            _ = stop.changed() => return,
        }
        if *stop.borrow() {
            return;
        }
    }
}

async fn deliver(client: &reqwest::Client, store: &Store, due: store::DueDelivery) {
    let d = &due.delivery;
    let t = store::now();
    let r = client
        .post(&due.url)
        .timeout(Duration::from_secs(10))
        .header("user-agent", WEBHOOK_AGENT)
        .header("content-type", "application/json")
        .header(SIGNATURE_HEADER, sign(&due.secret, t, &d.payload))
        .header(EVENT_HEADER, &d.event)
        .header(DELIVERY_HEADER, d.id.to_string())
        .body(d.payload.clone())
        .send()
        .await;
    let (ok, status, error) = match r {
        Ok(res) if res.status().is_success() => (true, Some(res.status().as_u16()), None),
        Ok(res) => (
            false,
            Some(res.status().as_u16()),
            Some(format!("the endpoint answered {}", res.status())),
        ),
        Err(e) => (false, None, Some(error_text(&e))),
    };
    if !ok {
        tracing::info!(delivery = d.id, url = %due.url, error = error.as_deref().unwrap_or(""), "webhook delivery failed");
    }
    let id = d.id;
    if let Err(e) = store
        .write(move |db| db.delivery_attempted(id, ok, status, error.as_deref(), store::now()))
        .await
    {
        tracing::error!(error = %e, "cannot record a webhook attempt");
    }
}

fn error_text(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        return "no answer in 10s".into();
    }
    crate::runtime::error_chain(e)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_is_hmac_sha256_of_time_dot_body() {
        // Python: hmac.new(b"Jefe", b"0.what do ya want for nothing?", sha256).hexdigest()
        let s = sign("Jefe", 0, "what do ya want for nothing?");
        assert_eq!(
            s,
            "t=0,v1=37f471929915ccd2cbbe79feb84ffcff4f2bb25e15fc41c2506687331ae179cc"
        );
    }

    #[test]
    fn events_parse_and_refuse_unknown_or_node_for_members() {
        assert_eq!(
            parse_events("", false).expect("all"),
            ["deploy", "crash", "health", "billing"]
        );
        assert_eq!(
            parse_events("health, deploy", false).expect("two"),
            ["deploy", "health"]
        );
        assert_eq!(parse_events("node", true).expect("node"), ["node"]);
        let e = parse_events("deploy,party", false)
            .expect_err("party")
            .to_string();
        assert!(
            e.contains("\"party\"") && e.contains("deploy, crash"),
            "{e}"
        );
        assert!(matches!(
            parse_events("node", false),
            Err(Error::Forbidden(_))
        ));
    }
}
