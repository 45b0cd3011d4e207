//! A release's progress, for whoever waits on it (a push, the CLI's wait,
//! the release endpoint's `?wait=true`): its status as a `watch` channel
//! that the rollout moves after each store write, and the rollout's lines.
//! Nobody re-reads a status on a timer: a waiter subscribes, reads the
//! store, and reads it again only when the status moved.

use std::collections::HashMap;
use std::sync::Mutex;

use tokio::sync::{mpsc, watch};

use super::Runtime;
use crate::api::ReleaseStatus;

#[derive(Default)]
pub(super) struct Progress {
    lines: Mutex<HashMap<i64, mpsc::UnboundedSender<String>>>,
    status: Mutex<HashMap<i64, watch::Sender<ReleaseStatus>>>,
}

impl Progress {
    fn subscribe(&self, release_id: i64) -> watch::Receiver<ReleaseStatus> {
        let mut m = self.status.lock().unwrap_or_else(|p| p.into_inner());
        m.retain(|_, tx| tx.receiver_count() > 0);
        m.entry(release_id)
            .or_insert_with(|| watch::channel(ReleaseStatus::Pending).0)
            .subscribe()
    }

    /// Tells the waiters of `release_id` (if any) that its status is now
    /// `status`; a settled release's channel is dropped after the news.
    fn publish(&self, release_id: i64, status: ReleaseStatus) {
        let mut m = self.status.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(tx) = m.get(&release_id) {
            tx.send_replace(status);
        }
        if status.settled() {
            m.remove(&release_id);
        }
    }

    fn lines(&self, release_id: i64) -> mpsc::UnboundedReceiver<String> {
        let (tx, rx) = mpsc::unbounded_channel();
        let mut p = self.lines.lock().unwrap_or_else(|e| e.into_inner());
        p.retain(|_, tx| !tx.is_closed());
        p.insert(release_id, tx);
        rx
    }

    pub(super) fn say(&self, release_id: i64, line: String) {
        let p = self.lines.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(tx) = p.get(&release_id) {
            let _ = tx.send(line);
        }
    }
}

/// What a waiter holds: the release's status channel. Subscribe before
/// reading the store, then wait with [`StatusWatch::changed`] and read again.
pub struct StatusWatch<'a> {
    hub: &'a Progress,
    release_id: i64,
    rx: watch::Receiver<ReleaseStatus>,
}

impl StatusWatch<'_> {
    /// Returns once the status moved since the last call (or the release
    /// settled): then read the store again.
    pub async fn changed(&mut self) {
        if self.rx.changed().await.is_err() {
            // The channel was dropped once the release settled; the store
            // says so now. A fresh channel keeps a later wait from spinning.
            self.rx = self.hub.subscribe(self.release_id);
        }
    }
}

impl Runtime {
    /// The status channel of release `release_id` (see [`StatusWatch`]).
    pub fn watch_status(&self, release_id: i64) -> StatusWatch<'_> {
        StatusWatch {
            hub: &self.progress,
            release_id,
            rx: self.progress.subscribe(release_id),
        }
    }

    /// Lines describing the rollout of release `release_id` as it goes.
    pub fn watch_lines(&self, release_id: i64) -> mpsc::UnboundedReceiver<String> {
        self.progress.lines(release_id)
    }

    /// Tells the waiters of a release that was deleted with its app: they
    /// read the store again and find it gone.
    pub fn release_gone(&self, release_id: i64) {
        self.progress.publish(release_id, ReleaseStatus::Failed);
    }

    /// Called after a release's new status is stored.
    pub(super) fn published(&self, release_id: i64, status: ReleaseStatus) {
        self.progress.publish(release_id, status);
    }

    /// A rollout step: to whoever watches the release (a push) and to the
    /// app's log as `skypanel[deploy]`.
    pub(super) fn say(&self, app: &str, version: i64, release_id: i64, line: String) {
        self.say_as("deploy", app, version, release_id, line)
    }

    pub(super) fn say_as(
        &self,
        process: &str,
        app: &str,
        version: i64,
        release_id: i64,
        line: String,
    ) {
        self.events
            .log(app, process, Some(version), line.trim_start().to_string());
        self.progress.say(release_id, line);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn a_waiter_wakes_on_each_status_and_once_settled_never_spins() {
        let hub = Progress::default();
        let mut w = StatusWatch {
            hub: &hub,
            release_id: 7,
            rx: hub.subscribe(7),
        };
        // Nothing moved yet: the wait does not return.
        assert!(
            tokio::time::timeout(Duration::from_millis(20), w.changed())
                .await
                .is_err()
        );
        hub.publish(7, ReleaseStatus::Deploying);
        tokio::time::timeout(Duration::from_secs(1), w.changed())
            .await
            .expect("woken by deploying");
        hub.publish(7, ReleaseStatus::Live);
        tokio::time::timeout(Duration::from_secs(1), w.changed())
            .await
            .expect("woken by live");
        assert!(
            hub.status.lock().expect("lock").is_empty(),
            "settled channel dropped"
        );
        // After the channel is gone, a further wait returns once (read the
        // store, it is settled) and then waits on a fresh channel.
        tokio::time::timeout(Duration::from_secs(1), w.changed())
            .await
            .expect("the dropped channel counts as a change");
        assert!(
            tokio::time::timeout(Duration::from_millis(20), w.changed())
                .await
                .is_err()
        );
    }

    #[tokio::test]
    async fn publishing_to_a_release_nobody_waits_for_keeps_nothing() {
        let hub = Progress::default();
        hub.publish(1, ReleaseStatus::Deploying);
        assert!(hub.status.lock().expect("lock").is_empty());
        drop(hub.subscribe(2));
        // Channels nobody holds any more are swept on the next subscribe.
        let _keep = hub.subscribe(3);
        assert_eq!(hub.status.lock().expect("lock").len(), 1);
    }

    #[test]
    fn lines_go_to_the_newest_listener_of_a_release() {
        let hub = Progress::default();
        let mut rx = hub.lines(4);
        hub.say(4, "Deploying web (1 replica)".into());
        hub.say(5, "another release".into());
        assert_eq!(
            rx.try_recv().ok().as_deref(),
            Some("Deploying web (1 replica)")
        );
        assert!(rx.try_recv().is_err());
    }
}
