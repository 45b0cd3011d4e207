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

struct AppStats {
    /// 1xx..5xx.
    classes: [AtomicU64; 5],
    /// Cumulative-free counts per bucket; the last one is +Inf.
    buckets: [AtomicU64; BUCKETS.len() + 1],
    sum_micros: AtomicU64,
    /// The last hour, one slot per minute (slot = minute % 60), for `apps:stats`.
    minutes: Box<[Minute]>,
}

impl Default for AppStats {
    fn default() -> Self {
        AppStats {
            classes: Default::default(),
            buckets: Default::default(),
            sum_micros: Default::default(),
            minutes: (0..60).map(|_| Minute::default()).collect(),
        }
    }
}

/// Requests of one minute: which minute (since the epoch) the slot holds,
/// requests, 5xx answers and the latency buckets.
#[derive(Default)]
struct Minute {
    minute: AtomicU64,
    requests: AtomicU64,
    errors: AtomicU64,
    buckets: [AtomicU64; BUCKETS.len() + 1],
}

/// An app's requests over the last hour.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Window {
    pub requests: u64,
    pub errors: u64,
    pub buckets: [u64; BUCKETS.len() + 1],
}

impl Window {
    /// The `q` quantile (0..1) in milliseconds, interpolated inside its
    /// bucket as Prometheus' `histogram_quantile` does; `None` without requests.
    pub fn quantile_ms(&self, q: f64) -> Option<f64> {
        if self.requests == 0 {
            return None;
        }
        let rank = q * self.requests as f64;
        let mut seen = 0u64;
        for (i, n) in self.buckets.iter().enumerate() {
            if *n > 0 && (seen + n) as f64 >= rank {
                let lower = if i == 0 { 0.0 } else { BUCKETS[i - 1] };
                let Some(upper) = BUCKETS.get(i) else {
                    return Some(BUCKETS[BUCKETS.len() - 1] * 1000.0);
                };
                let inside = (rank - seen as f64) / *n as f64;
                return Some((lower + (upper - lower) * inside) * 1000.0);
            }
            seen += n;
        }
        Some(BUCKETS[BUCKETS.len() - 1] * 1000.0)
    }
}

fn minute_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() / 60)
        .unwrap_or(0)
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
        // Only this router thread writes its slots; a reader racing a reset
        // sees a minute a little short, never a wrong one.
        let now = minute_now();
        let m = &stats.minutes[(now % 60) as usize];
        if m.minute.load(Ordering::Relaxed) != now {
            m.requests.store(0, Ordering::Relaxed);
            m.errors.store(0, Ordering::Relaxed);
            for b in &m.buckets {
                b.store(0, Ordering::Relaxed);
            }
            m.minute.store(now, Ordering::Relaxed);
        }
        m.requests.fetch_add(1, Ordering::Relaxed);
        if status >= 500 {
            m.errors.fetch_add(1, Ordering::Relaxed);
        }
        m.buckets[b].fetch_add(1, Ordering::Relaxed);
    }

    /// Forgets apps that are gone (keeps the pseudo-apps).
    pub fn retain(&self, live: &std::collections::HashSet<String>) {
        self.apps
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|a, _| live.contains(a) || a.starts_with('('));
    }
}

/// `app`'s requests in the last 60 minutes, over every router thread.
pub fn window<'a>(all: impl Iterator<Item = &'a Metrics>, app: &str) -> Window {
    let now = minute_now();
    let mut w = Window::default();
    for m in all {
        let Some(s) = m
            .apps
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(app)
            .cloned()
        else {
            continue;
        };
        for slot in &s.minutes {
            let minute = slot.minute.load(Ordering::Relaxed);
            if minute + 60 <= now || minute > now {
                continue;
            }
            w.requests += slot.requests.load(Ordering::Relaxed);
            w.errors += slot.errors.load(Ordering::Relaxed);
            for (t, b) in w.buckets.iter_mut().zip(&slot.buckets) {
                *t += b.load(Ordering::Relaxed);
            }
        }
    }
    w
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
pub(crate) fn escape(v: &str) -> String {
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
    fn the_last_hour_window_gives_requests_errors_and_p95() {
        let m = Metrics::default();
        for _ in 0..95 {
            m.record("shop", 200, Duration::from_millis(3));
        }
        for _ in 0..5 {
            m.record("shop", 502, Duration::from_millis(700));
        }
        let w = window(std::iter::once(&m), "shop");
        assert_eq!((w.requests, w.errors), (100, 5));
        // 95 of 100 are in (1, 5] ms: the 95th is at that bucket's top.
        let p95 = w.quantile_ms(0.95).expect("p95");
        assert!((p95 - 5.0).abs() < 1e-9, "{p95}");
        let p99 = w.quantile_ms(0.99).expect("p99");
        assert!(p99 > 500.0 && p99 <= 1000.0, "{p99}");
        assert_eq!(window(std::iter::once(&m), "other"), Window::default());
        assert_eq!(Window::default().quantile_ms(0.95), None);
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
