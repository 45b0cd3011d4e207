//! `/metrics` in Prometheus' text format: the router's request figures, the
//! log store's counters, the health monitor's probes, and what the database
//! knows (apps by status, deployments by result, build durations, the job
//! queue, nodes with capacity and reservations, webhook deliveries).

use std::fmt::Write;

use axum::extract::State as S;
use axum::response::{IntoResponse, Response};

use super::State;
use crate::health::Figures as HealthFigures;
use crate::router::metrics::escape;
use crate::store::{BUILD_BUCKETS, Figures};

pub async fn metrics(S(state): S<State>) -> Response {
    let mut out = String::with_capacity(8192);
    state.router.render_metrics(&mut out);
    state.logs.render_metrics(&mut out);
    render_health(&state.health.figures(), &mut out);
    match state.store.read(|db| db.figures()).await {
        Ok(f) => render(&f, &mut out),
        Err(e) => tracing::warn!(error = %e, "metrics: cannot read the database figures"),
    }
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        out,
    )
        .into_response()
}

fn head(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

fn render_health(h: &std::collections::BTreeMap<String, HealthFigures>, out: &mut String) {
    head(
        out,
        "skypanel_health_probes_total",
        "counter",
        "Health probes of live web tasks, by app and result.",
    );
    for (app, f) in h {
        let app = escape(app);
        let _ = writeln!(
            out,
            "skypanel_health_probes_total{{app=\"{app}\",result=\"ok\"}} {}",
            f.ok
        );
        let _ = writeln!(
            out,
            "skypanel_health_probes_total{{app=\"{app}\",result=\"failed\"}} {}",
            f.failed
        );
    }
    head(
        out,
        "skypanel_health_replacements_total",
        "counter",
        "Web tasks replaced after failing their health checks, by app.",
    );
    for (app, f) in h {
        let _ = writeln!(
            out,
            "skypanel_health_replacements_total{{app=\"{}\"}} {}",
            escape(app),
            f.replaced
        );
    }
}

fn render(f: &Figures, out: &mut String) {
    head(
        out,
        "skypanel_apps",
        "gauge",
        "Apps by status: running, stopped, idle (never deployed).",
    );
    for status in ["running", "stopped", "idle"] {
        let n = f.apps.iter().find(|(s, _)| s == status).map_or(0, |p| p.1);
        let _ = writeln!(out, "skypanel_apps{{status=\"{status}\"}} {n}");
    }
    head(
        out,
        "skypanel_deployments_total",
        "counter",
        "Release rollouts by result.",
    );
    for result in ["succeeded", "failed"] {
        let n = f
            .deployments
            .iter()
            .find(|(s, _)| s == result)
            .map_or(0, |p| p.1);
        let _ = writeln!(out, "skypanel_deployments_total{{result=\"{result}\"}} {n}");
    }
    head(
        out,
        "skypanel_build_duration_seconds",
        "histogram",
        "How long finished builds took, of the builds stored.",
    );
    for (b, n) in BUILD_BUCKETS.iter().zip(&f.build_buckets) {
        let _ = writeln!(
            out,
            "skypanel_build_duration_seconds_bucket{{le=\"{b}\"}} {n}"
        );
    }
    let _ = writeln!(
        out,
        "skypanel_build_duration_seconds_bucket{{le=\"+Inf\"}} {c}\nskypanel_build_duration_seconds_sum {}\nskypanel_build_duration_seconds_count {c}",
        f.build_sum,
        c = f.build_count
    );
    head(
        out,
        "skypanel_jobs",
        "gauge",
        "Jobs in the work queue by status (queued is the queue depth).",
    );
    for status in ["queued", "running", "succeeded", "failed"] {
        let n = f.jobs.iter().find(|(s, _)| s == status).map_or(0, |p| p.1);
        let _ = writeln!(out, "skypanel_jobs{{status=\"{status}\"}} {n}");
    }
    head(
        out,
        "skypanel_job_failures",
        "gauge",
        "Jobs that failed for good (all attempts used).",
    );
    let failed = f
        .jobs
        .iter()
        .find(|(s, _)| s == "failed")
        .map_or(0, |p| p.1);
    let _ = writeln!(out, "skypanel_job_failures {failed}");
    for (name, help) in [
        ("skypanel_node_up", "1 when the Swarm node is ready."),
        ("skypanel_node_cpus", "CPUs of the node."),
        ("skypanel_node_memory_bytes", "Memory of the node."),
        (
            "skypanel_node_reserved_cpus",
            "CPUs reserved by services' tasks on the node.",
        ),
        (
            "skypanel_node_reserved_memory_bytes",
            "Memory reserved by services' tasks on the node.",
        ),
        ("skypanel_node_tasks", "Running tasks on the node."),
    ] {
        head(out, name, "gauge", help);
        for n in &f.nodes {
            let v = match name {
                "skypanel_node_up" => f64::from(u8::from(n.status == "ready")),
                "skypanel_node_cpus" => n.cpus_nano as f64 / 1e9,
                "skypanel_node_memory_bytes" => n.memory_bytes as f64,
                "skypanel_node_reserved_cpus" => n.reserved_nano as f64 / 1e9,
                "skypanel_node_reserved_memory_bytes" => n.reserved_bytes as f64,
                _ => n.tasks as f64,
            };
            let _ = writeln!(
                out,
                "{name}{{node=\"{}\",role=\"{}\",availability=\"{}\"}} {v}",
                escape(&n.hostname),
                escape(&n.role),
                escape(&n.availability)
            );
        }
    }
    head(
        out,
        "skypanel_webhook_deliveries",
        "gauge",
        "Webhook deliveries by state.",
    );
    for state in ["pending", "delivered", "failed"] {
        let n = f
            .deliveries
            .iter()
            .find(|(s, _)| s == state)
            .map_or(0, |p| p.1);
        let _ = writeln!(out, "skypanel_webhook_deliveries{{state=\"{state}\"}} {n}");
    }
}
