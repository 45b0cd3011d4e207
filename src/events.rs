//! Recording what happens: an event in the store (with its webhook
//! deliveries, in one transaction), a platform line in the app's log, and a
//! wake-up for the webhook sender. The runtime, the health monitor, billing
//! and the node monitor all record through here.

use std::sync::Arc;

use serde_json::Value;
use tokio::sync::Notify;

use crate::logs::Logs;
use crate::store::{self, Store};

#[derive(Clone)]
pub struct Events {
    store: Store,
    logs: Arc<Logs>,
    webhooks_wake: Arc<Notify>,
}

impl Events {
    pub fn new(store: Store, logs: Arc<Logs>, webhooks_wake: Arc<Notify>) -> Events {
        Events {
            store,
            logs,
            webhooks_wake,
        }
    }

    /// A platform line in the app's log.
    pub fn log(&self, app: &str, process: &str, release: Option<i64>, line: String) {
        self.logs.platform(app, process, release, line);
    }

    /// Tells the webhook sender that deliveries were queued (by a caller
    /// that raised events in a transaction of its own).
    pub fn queued(&self) {
        self.webhooks_wake.notify_one();
    }

    /// Records an event of `app` (or of the platform) with `data` for
    /// webhooks, writes it to the app's log, and queues it for the org's
    /// webhooks.
    pub async fn record(
        &self,
        level: &str,
        kind: &str,
        app: Option<&str>,
        message: String,
        data: Value,
    ) {
        if let Some(a) = app {
            let process = if kind.starts_with("deploy") {
                "deploy"
            } else {
                "runtime"
            };
            self.log(a, process, None, message.clone());
        }
        let (level, kind, app) = (level.to_string(), kind.to_string(), app.map(str::to_string));
        let r = self
            .store
            .write(move |db| {
                let org = match &app {
                    Some(a) => db.app_by_name(a)?.map(|a| (a.org_id, a.org)),
                    None => None,
                };
                crate::webhooks::raise(
                    db,
                    org.as_ref().map(|(id, name)| (*id, name.as_str())),
                    &crate::webhooks::Raised {
                        level: &level,
                        kind: &kind,
                        app: app.as_deref(),
                        node: None,
                        message: &message,
                    },
                    data,
                    store::now(),
                )
            })
            .await;
        match r {
            Ok(0) => {}
            Ok(_) => self.queued(),
            Err(e) => tracing::error!(error = %e, "cannot record an event"),
        }
    }
}
