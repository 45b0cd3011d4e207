//! What the platform sends about itself: the webhook envelope, each event's
//! `data`, the node alert, and the payloads of queued jobs.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A value as the JSON the store and webhooks carry; `null` when it cannot
/// be written (it always can: these are plain structs).
pub fn event_data<T: Serialize>(data: &T) -> Value {
    serde_json::to_value(data).unwrap_or(Value::Null)
}

/// The body of every webhook delivery. `delivery` is the id the store gives
/// it (also in the `X-SkyPanel-Delivery` header).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WebhookEnvelope {
    /// The public name, like `deploy.succeeded`.
    pub event: String,
    pub level: String,
    pub message: String,
    pub at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub org: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub data: Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivery: Option<i64>,
}

/// `deploy.started`, `deploy.succeeded`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReleaseEvent {
    pub release: i64,
}

/// `deploy.failed`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReleaseFailed {
    pub release: i64,
    pub reason: String,
}

/// `task.replaced`: the health monitor replaced a task failing its checks.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TaskReplaced {
    pub task: String,
    pub process: String,
    pub slot: i64,
    pub release: i64,
    pub reason: String,
}

/// `health.alert`: every web task failed again; the monitor holds off.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HealthAlert {
    pub release: i64,
    pub reason: String,
    pub hold_seconds: u64,
}

/// `billing.suspended`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BillingSuspended {
    pub balance: String,
    pub threshold: String,
    pub currency: String,
}

/// `billing.resumed`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BillingResumed {
    pub balance: String,
    pub currency: String,
}

/// `billing.low_balance`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BillingLowBalance {
    pub balance: String,
    pub burn_hourly: String,
    pub runway_hours: Option<f64>,
    pub currency: String,
}

/// The body posted to `alert_webhook_url` when a node goes down or up.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NodeAlert {
    pub event: String,
    pub level: String,
    pub node: String,
    pub message: String,
    pub at: String,
}

/// The `deploy` job. Release ids are reused after an app is destroyed, so
/// the job names the app and version too and the handler checks them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DeployJob {
    pub release: i64,
    pub app: i64,
    pub version: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_webhook_envelope_leaves_out_what_an_event_does_not_have() {
        let e = WebhookEnvelope {
            event: "node.down".into(),
            level: "error".into(),
            message: "node n1 is down".into(),
            at: "2026-12-01T10:00:00Z".into(),
            org: None,
            app: None,
            node: Some("n1".into()),
            data: Value::Null,
            delivery: None,
        };
        let v = event_data(&e);
        let keys: Vec<&String> = v.as_object().expect("object").keys().collect();
        assert_eq!(keys, vec!["at", "event", "level", "message", "node"]);
        let mut e2 = e.clone();
        e2.app = Some("shop".into());
        e2.data = event_data(&ReleaseFailed {
            release: 3,
            reason: "task abc failed 3 checks".into(),
        });
        e2.delivery = Some(9);
        let back: WebhookEnvelope =
            serde_json::from_value(event_data(&e2)).expect("a receiver reads it back");
        assert_eq!(back, e2);
        assert_eq!(event_data(&e2)["data"]["release"], 3);
    }

    #[test]
    fn a_deploy_job_payload_reads_back_and_refuses_one_without_its_app() {
        let j = DeployJob {
            release: 11,
            app: 4,
            version: 3,
        };
        let v = event_data(&j);
        assert_eq!(
            v,
            serde_json::json!({"release": 11, "app": 4, "version": 3})
        );
        assert_eq!(serde_json::from_value::<DeployJob>(v).expect("parse"), j);
        assert!(serde_json::from_value::<DeployJob>(serde_json::json!({"release": 1})).is_err());
    }

    #[test]
    fn low_balance_data_has_a_null_runway_when_nothing_burns() {
        let d = BillingLowBalance {
            balance: "0.010000".into(),
            burn_hourly: "0.000000".into(),
            runway_hours: None,
            currency: "USD".into(),
        };
        assert_eq!(
            event_data(&d),
            serde_json::json!({"balance": "0.010000", "burn_hourly": "0.000000", "runway_hours": null, "currency": "USD"})
        );
    }
}
