//! Per-app request figures of the router, for `/metrics`: requests by status
//! class and a latency histogram (time until the response head is ready, so
//! a long download counts as fast as its first byte). Counting is lock-free
//! for apps already seen; a new app takes a write lock once.

use std::collections::HashMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

/// Upper bounds of the latency buckets, in seconds (Prometheus' `le`).
const BUCKETS: [f64; 12] = [
    0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

#[derive(Default)]
struct AppStats {
    /// 1xx..5xx.
    classes: [AtomicU64; 5],
    /// Cumulative-free counts per bucket; the last one is +Inf.
    buckets: [AtomicU64; BUCKETS.len() + 1],
    sum_micros: AtomicU64,
}

#[derive(Default)]
pub struct Metrics {
    apps: RwLock<HashMap<String, Arc<AppStats>>>,
}

/// The label of requests no app answered (unknown host, bad request).
pub const NO_APP: &str = "(none)";

impl Metrics {
    pub fn record(&self, app: &str, status: u16, took: Duration) {
        let stats = {
            let apps = self.apps.read().unwrap_or_else(|p| p.into_inner());
            apps.get(app).cloned()
        };
        let stats = match stats {
            Some(s) => s,
            None => Arc::clone(
                self.apps
                    .write()
                    .unwrap_or_else(|p| p.into_inner())
                    .entry(app.to_string())
                    .or_default(),
            ),
        };
        let class = usize::from(status / 100).clamp(1, 5) - 1;
        stats.classes[class].fetch_add(1, Ordering::Relaxed);
        let secs = took.as_secs_f64();
        let b = BUCKETS
            .iter()
            .position(|le| secs <= *le)
            .unwrap_or(BUCKETS.len());
        stats.buckets[b].fetch_add(1, Ordering::Relaxed);
        stats
            .sum_micros
            .fetch_add(took.as_micros() as u64, Ordering::Relaxed);
    }

    /// Forgets apps that are gone (keeps the pseudo-apps).
    pub fn retain(&self, live: &std::collections::HashSet<String>) {
        self.apps
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|a, _| live.contains(a) || a.starts_with('('));
    }
}

#[derive(Default)]
struct Sum {
    classes: [u64; 5],
    buckets: [u64; BUCKETS.len() + 1],
    sum_micros: u64,
}

/// The figures of every router thread, summed, in Prometheus' text
/// exposition (format 0.0.4).
pub fn render<'a>(all: impl Iterator<Item = &'a Metrics>, out: &mut String) {
    let mut apps: std::collections::BTreeMap<String, Sum> = Default::default();
    for m in all {
        let map = m.apps.read().unwrap_or_else(|p| p.into_inner());
        for (name, s) in map.iter() {
            let e = apps.entry(name.clone()).or_default();
            for (total, c) in e.classes.iter_mut().zip(&s.classes) {
                *total += c.load(Ordering::Relaxed);
            }
            for (total, b) in e.buckets.iter_mut().zip(&s.buckets) {
                *total += b.load(Ordering::Relaxed);
            }
            e.sum_micros += s.sum_micros.load(Ordering::Relaxed);
        }
    }
    out.push_str(
        "# HELP skypanel_router_requests_total Requests the router answered, by app and status class.\n\
         # TYPE skypanel_router_requests_total counter\n",
    );
    for (name, s) in &apps {
        for (i, c) in s.classes.iter().enumerate() {
            let _ = writeln!(
                out,
                "skypanel_router_requests_total{{app=\"{}\",class=\"{}xx\"}} {c}",
                escape(name),
                i + 1,
            );
        }
    }
    out.push_str(
        "# HELP skypanel_router_request_duration_seconds Time until the response head, by app.\n\
         # TYPE skypanel_router_request_duration_seconds histogram\n",
    );
    for (name, s) in &apps {
        let app = escape(name);
        let mut cumulative = 0;
        for (i, le) in BUCKETS.iter().enumerate() {
            cumulative += s.buckets[i];
            let _ = writeln!(
                out,
                "skypanel_router_request_duration_seconds_bucket{{app=\"{app}\",le=\"{le}\"}} {cumulative}"
            );
        }
        cumulative += s.buckets[BUCKETS.len()];
        let _ = writeln!(
            out,
            "skypanel_router_request_duration_seconds_bucket{{app=\"{app}\",le=\"+Inf\"}} {cumulative}\n\
             skypanel_router_request_duration_seconds_sum{{app=\"{app}\"}} {}\n\
             skypanel_router_request_duration_seconds_count{{app=\"{app}\"}} {cumulative}",
            s.sum_micros as f64 / 1e6
        );
    }
}

/// A label value with `\`, `"` and newlines escaped.
fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_by_class_and_bucket() {
        let m = Metrics::default();
        m.record("shop", 200, Duration::from_millis(3));
        m.record("shop", 204, Duration::from_millis(30));
        m.record("shop", 503, Duration::from_secs(20));
        m.record(NO_APP, 404, Duration::from_micros(50));
        let mut out = String::new();
        render(std::iter::once(&m), &mut out);
        assert!(out.contains("skypanel_router_requests_total{app=\"shop\",class=\"2xx\"} 2\n"));
        assert!(out.contains("skypanel_router_requests_total{app=\"shop\",class=\"5xx\"} 1\n"));
        assert!(out.contains("skypanel_router_requests_total{app=\"(none)\",class=\"4xx\"} 1\n"));
        // 3 ms is within 5 ms; 30 ms within 50 ms; 20 s only in +Inf.
        assert!(out.contains("duration_seconds_bucket{app=\"shop\",le=\"0.001\"} 0\n"));
        assert!(out.contains("duration_seconds_bucket{app=\"shop\",le=\"0.005\"} 1\n"));
        assert!(out.contains("duration_seconds_bucket{app=\"shop\",le=\"0.05\"} 2\n"));
        assert!(out.contains("duration_seconds_bucket{app=\"shop\",le=\"10\"} 2\n"));
        assert!(out.contains("duration_seconds_bucket{app=\"shop\",le=\"+Inf\"} 3\n"));
        assert!(out.contains("duration_seconds_count{app=\"shop\"} 3\n"));
        assert!(
            out.contains("duration_seconds_sum{app=\"shop\"} 20.033\n"),
            "{out}"
        );
        // Two router threads' figures are summed.
        let other = Metrics::default();
        other.record("shop", 201, Duration::from_millis(1));
        let mut out = String::new();
        render([&m, &other].into_iter(), &mut out);
        assert!(out.contains("skypanel_router_requests_total{app=\"shop\",class=\"2xx\"} 3\n"));
        assert!(out.contains("duration_seconds_count{app=\"shop\"} 4\n"));
        m.retain(&Default::default());
        let mut out = String::new();
        render(std::iter::once(&m), &mut out);
        assert!(!out.contains("app=\"shop\""));
        assert!(out.contains("app=\"(none)\""));
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
