//! `GET /apps/{app}/logs`: stored lines, or a live tail, as NDJSON.

use std::collections::HashMap;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State as S};
use axum::http::header;
use axum::response::Response;

use super::State;
use super::auth::{Caller, app_access};
use super::error::ApiError;
use crate::api;
use crate::error::Error;
use crate::logs::{Tail, TailItem};
use crate::store::logs::{LogLine, LogQuery};

/// The most lines one request returns (`-n`).
pub const MAX_LINES: i64 = 10_000;
/// A tail with nothing to say sends an empty line this often, so a client
/// that went away is noticed and proxies keep the response open.
const KEEPALIVE: Duration = Duration::from_secs(15);

fn bad(what: &str, value: &str, fix: &str) -> ApiError {
    ApiError(Error::Invalid(format!(
        "{what} \"{}\" is not valid: {fix}",
        crate::validate::printable(value)
    )))
}

/// `2h`, `30m`, `1d` ago, or an RFC 3339 time.
fn since(v: &str) -> Result<i64, ApiError> {
    let fix = "give a duration like 30m, 2h or 1d, or a time like 2026-11-24T10:00:00Z";
    if let Ok(d) = humantime::parse_duration(v) {
        let ns = i64::try_from(d.as_nanos()).map_err(|_| bad("--since", v, fix))?;
        return Ok(crate::logs::now_ns().saturating_sub(ns));
    }
    let t = humantime::parse_rfc3339_weak(v).map_err(|_| bad("--since", v, fix))?;
    Ok(t.duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0))
}

fn query(app: String, q: &HashMap<String, String>) -> Result<(LogQuery, bool), ApiError> {
    let mut out = LogQuery {
        app,
        limit: 100,
        ..Default::default()
    };
    let mut tail = false;
    for (k, v) in q {
        match k.as_str() {
            "lines" => {
                out.limit = match v.parse::<i64>() {
                    Ok(n) if (1..=MAX_LINES).contains(&n) => n,
                    _ => {
                        return Err(bad(
                            "-n",
                            v,
                            &format!("give a number of lines from 1 to {MAX_LINES}"),
                        ));
                    }
                }
            }
            "tail" => tail = matches!(v.as_str(), "1" | "true"),
            "since" => out.since = Some(since(v)?),
            "process" => {
                let ok = !v.is_empty()
                    && v.len() <= 64
                    && v.bytes().all(|b| {
                        b.is_ascii_lowercase() || b.is_ascii_digit() || b"-_.".contains(&b)
                    });
                if !ok {
                    return Err(bad(
                        "--process",
                        v,
                        "give a process type like web or worker, a task like web.1, or deploy, router, health",
                    ));
                }
                out.process = Some(v.clone());
            }
            "source" => {
                if v != "app" && v != "skypanel" {
                    return Err(bad("--source", v, "give app or skypanel"));
                }
                out.source = Some(v.clone());
            }
            "release" => {
                let n = v.strip_prefix('v').unwrap_or(v);
                out.release = Some(match n.parse::<i64>() {
                    Ok(n) if n > 0 => n,
                    _ => return Err(bad("--release", v, "give a release like v7")),
                });
            }
            other => {
                return Err(bad(
                    "parameter",
                    other,
                    "use lines, tail, since, process, source or release",
                ));
            }
        }
    }
    Ok((out, tail))
}

fn ndjson(e: &api::LogEvent) -> String {
    let mut s = serde_json::to_string(e).unwrap_or_default();
    s.push('\n');
    s
}

/// Whether a live line passes the tail's filters (the history was filtered by SQL).
fn matches(q: &LogQuery, l: &LogLine) -> bool {
    q.source.as_ref().is_none_or(|s| *s == l.source)
        && q.release.is_none_or(|r| l.release == Some(r))
        && q.since.is_none_or(|s| l.ts >= s)
        && q.process.as_ref().is_none_or(|p| {
            if p.contains('.') {
                l.process == *p
            } else {
                l.process == *p
                    || l.process
                        .strip_prefix(p.as_str())
                        .is_some_and(|r| r.starts_with('.'))
            }
        })
}

pub async fn logs(
    S(state): S<State>,
    caller: Caller,
    Path(name): Path<String>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let app = state
        .store
        .read(move |db| app_access(db, &caller, &name))
        .await?;
    let (q, tail) = query(app.name, &params)?;
    let mut res = if !tail {
        let lines = state.logs.query(q).await?;
        let body: String = lines.iter().map(crate::logs::ndjson).collect();
        Response::new(Body::from(body))
    } else {
        let (history, live) = state.logs.tail(q.clone()).await?;
        let closing = state.closing.subscribe();
        Response::new(Body::from_stream(tail_stream(history, live, q, closing)))
    };
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        axum::http::HeaderValue::from_static("application/x-ndjson"),
    );
    Ok(res)
}

struct TailState {
    history: std::vec::IntoIter<LogLine>,
    live: Tail,
    q: LogQuery,
    closing: tokio::sync::watch::Receiver<bool>,
}

fn tail_stream(
    history: Vec<LogLine>,
    live: Tail,
    q: LogQuery,
    closing: tokio::sync::watch::Receiver<bool>,
) -> impl futures_util::Stream<Item = Result<Bytes, std::io::Error>> {
    let st = TailState {
        history: history.into_iter(),
        live,
        q,
        closing,
    };
    futures_util::stream::unfold(Some(st), |st| async move {
        let mut st = st?;
        // The history goes out in one chunk.
        let first: String = st
            .history
            .by_ref()
            .map(|l| crate::logs::ndjson(&l))
            .collect();
        if !first.is_empty() {
            return Some((Ok(Bytes::from(first)), Some(st)));
        }
        if *st.closing.borrow() {
            return None;
        }
        loop {
            let item = tokio::select! {
                i = st.live.next() => i,
                _ = tokio::time::sleep(KEEPALIVE) => {
                    return Some((Ok(Bytes::from_static(b"\n")), Some(st)));
                }
                _ = st.closing.changed() => return None,
            };
            let out = match item {
                TailItem::Line(l) if matches(&st.q, &l.line) => l.ndjson.clone(),
                TailItem::Line(_) => continue,
                TailItem::Missed(n) => ndjson(&api::LogEvent::Missed { missed: n }),
                TailItem::Closed => return None,
            };
            return Some((Ok(Bytes::from(out)), Some(st)));
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_parameter_the_cli_sends_is_one_the_daemon_reads() {
        let sent = api::LogsQuery {
            lines: Some("5".into()),
            tail: true,
            since: Some("30m".into()),
            process: Some("web.1".into()),
            source: Some("app".into()),
            release: Some("v7".into()),
        };
        let params: HashMap<String, String> = serde_json::to_value(&sent)
            .expect("json")
            .as_object()
            .expect("object")
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().map_or(v.to_string(), str::to_string)))
            .collect();
        assert_eq!(params.len(), 6, "every field set is sent");
        let Ok((q, tail)) = query("shop".into(), &params) else {
            panic!("the daemon refused what the CLI sends: {params:?}");
        };
        assert!(tail);
        assert_eq!((q.limit, q.release), (5, Some(7)));
        assert_eq!(q.process.as_deref(), Some("web.1"));
        assert_eq!(q.source.as_deref(), Some("app"));
        assert!(q.since.is_some());
        let unknown = HashMap::from([("colour".to_string(), "red".to_string())]);
        assert!(query("shop".into(), &unknown).is_err());
    }
}
