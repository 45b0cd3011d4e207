//! The Loki sink: when `loki_endpoint` is set, stored lines are also pushed
//! to Loki's push API (`POST <endpoint>/loki/api/v1/push`, JSON), labelled
//! `app`, `process`, `release`, `org` and `source`.
//!
//! The sink reads the log store in id order from its own position (kept in
//! the store per endpoint) and moves the position only after Loki accepted a
//! batch. Loki being down delays the push and loses nothing: the batch is
//! retried with backoff (1 s doubling to 60 s), and the lines are in the
//! local store all along. A newly set endpoint starts with the lines stored
//! from then on.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use tokio::sync::watch;

use super::Logs;
use crate::store::Store;
use crate::store::logs::LogLine;

const BATCH: i64 = 1000;

/// app, process, release, org, source.
type Labels = (String, String, String, String, String);

/// The push body for `lines`: one stream per label set, values in time order.
pub fn payload(lines: &[LogLine], orgs: &HashMap<String, String>) -> serde_json::Value {
    let mut streams: BTreeMap<Labels, Vec<(i64, &str)>> = BTreeMap::new();
    for l in lines {
        let key = (
            l.app.clone(),
            l.process.clone(),
            l.release.map(|r| r.to_string()).unwrap_or_default(),
            orgs.get(&l.app).cloned().unwrap_or_default(),
            l.source.clone(),
        );
        streams.entry(key).or_default().push((l.ts, &l.line));
    }
    let streams: Vec<serde_json::Value> = streams
        .into_iter()
        .map(|((app, process, release, org, source), mut values)| {
            values.sort_by_key(|(ts, _)| *ts);
            let mut labels = serde_json::Map::new();
            labels.insert("app".into(), app.into());
            labels.insert("process".into(), process.into());
            if !release.is_empty() {
                labels.insert("release".into(), release.into());
            }
            if !org.is_empty() {
                labels.insert("org".into(), org.into());
            }
            labels.insert("source".into(), source.into());
            json!({
                "stream": labels,
                "values": values
                    .into_iter()
                    .map(|(ts, line)| json!([ts.to_string(), line]))
                    .collect::<Vec<_>>(),
            })
        })
        .collect();
    json!({ "streams": streams })
}

pub async fn run(
    logs: Arc<Logs>,
    store: Store,
    settings: crate::settings::Current,
    mut stop: watch::Receiver<bool>,
) {
    let client = match crate::outbound::client() {
        Ok(c) => c,
        Err(e) => return tracing::error!(error = %e, "cannot send logs to Loki"),
    };
    let mut backoff = Duration::from_secs(1);
    loop {
        let pause = match push_once(&logs, &store, &settings, client).await {
            Ok(true) => {
                backoff = Duration::from_secs(1);
                continue;
            }
            Ok(false) => None,
            Err(e) => {
                tracing::warn!(error = %e, retry_in_s = backoff.as_secs(), "cannot push logs to Loki");
                let b = backoff;
                backoff = (backoff * 2).min(Duration::from_secs(60));
                Some(b)
            }
        };
        tokio::select! {
            _ = logs.wrote.notified(), if pause.is_none() => {
                // Let a batch gather.
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            _ = tokio::time::sleep(pause.unwrap_or(Duration::from_secs(10))) => {}
            _ = stop.changed() => return,
        }
    }
}

/// Pushes the next batch. `Ok(true)`: a full batch went, more may wait.
async fn push_once(
    logs: &Arc<Logs>,
    store: &Store,
    settings: &crate::settings::Current,
    client: &reqwest::Client,
) -> crate::error::Result<bool> {
    let endpoint = settings.get().loki_endpoint.clone();
    if endpoint.is_empty() {
        return Ok(false);
    }
    let name = format!("loki:{endpoint}");
    let n = name.clone();
    let (after, lines) = logs
        .read(move |db| {
            let after = match db.position(&n)? {
                Some(p) => p,
                None => {
                    let last = db.last_id()?;
                    db.set_position(&n, last)?;
                    last
                }
            };
            Ok((after, db.lines_after(after, BATCH)?))
        })
        .await?;
    let Some(last) = lines.last().map(|l| l.id) else {
        return Ok(false);
    };
    let orgs: HashMap<String, String> = store
        .read(|db| db.apps_visible(None, None))
        .await?
        .into_iter()
        .map(|a| (a.name, a.org))
        .collect();
    let body = payload(&lines, &orgs);
    let url = format!("{endpoint}/loki/api/v1/push");
    let res = client
        .post(&url)
        .timeout(Duration::from_secs(15))
        .json(&body)
        .send()
        .await
        .map_err(|e| crate::error::Error::Internal(format!("{url}: {e}")))?;
    if !res.status().is_success() {
        let status = res.status();
        let text = res.text().await.unwrap_or_default();
        return Err(crate::error::Error::Internal(format!(
            "{url} answered {status}: {}",
            text.chars().take(200).collect::<String>()
        )));
    }
    logs.read(move |db| db.set_position(&name, last)).await?;
    tracing::debug!(lines = lines.len(), after, "pushed logs to Loki");
    Ok(lines.len() as i64 == BATCH)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_groups_streams_by_labels_in_time_order() {
        let line = |id, ts, process: &str, text: &str| LogLine {
            id,
            app: "shop".into(),
            ts,
            source: "app".into(),
            process: process.into(),
            release: Some(3),
            line: text.into(),
        };
        let orgs = HashMap::from([("shop".to_string(), "acme".to_string())]);
        let p = payload(
            &[
                line(1, 20, "web.1", "b"),
                line(2, 10, "web.1", "a"),
                line(3, 15, "web.2", "c"),
            ],
            &orgs,
        );
        let streams = p["streams"].as_array().expect("streams");
        assert_eq!(streams.len(), 2);
        assert_eq!(
            streams[0]["stream"],
            json!({"app": "shop", "process": "web.1", "release": "3", "org": "acme", "source": "app"})
        );
        assert_eq!(streams[0]["values"], json!([["10", "a"], ["20", "b"]]));
        assert_eq!(streams[1]["values"], json!([["15", "c"]]));
    }
}
