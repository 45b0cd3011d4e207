//! Which tasks take traffic: the sets of tasks that passed a check and of
//! tasks on their way out, the drain, the backends the router and `ps` read,
//! and the probe itself.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::Duration;

use tokio::net::TcpStream;

use super::{DRAIN, Processes, Runtime};
use crate::docker::{self, Engine, TaskInfo};
use crate::error::Result;
use crate::store::{self, App, Checks};

/// A live, running web task the router may send traffic to.
#[derive(Clone, Debug, PartialEq)]
pub struct Backend {
    pub addr: String,
    pub port: u16,
    pub task: String,
}

/// Where a task stands for the router.
#[derive(Debug, PartialEq)]
pub(super) enum Standing {
    /// Not running, no port, or draining: never a backend.
    Out,
    /// Passed a check: a backend on this port.
    Healthy(u16),
    /// Running but never checked (a daemon restart, a scale-up): a backend
    /// once a quick check passes.
    Unchecked(u16),
}

/// The daemon's memory of tasks: which passed a check, which are draining,
/// which failed ones were already reported.
#[derive(Default)]
pub(super) struct TaskSets {
    healthy: Mutex<HashSet<String>>,
    draining: Mutex<HashSet<String>>,
    reported: Mutex<HashSet<String>>,
}

fn locked<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl TaskSets {
    pub(super) fn standing(&self, t: &TaskInfo) -> Standing {
        match t.port {
            Some(port) if t.running() && !self.is_draining(&t.id) => {
                if self.is_healthy(&t.id) {
                    Standing::Healthy(port)
                } else {
                    Standing::Unchecked(port)
                }
            }
            _ => Standing::Out,
        }
    }

    fn is_healthy(&self, task: &str) -> bool {
        locked(&self.healthy).contains(task)
    }

    fn is_draining(&self, task: &str) -> bool {
        locked(&self.draining).contains(task)
    }

    pub(super) fn mark_healthy(&self, task: &str) {
        locked(&self.healthy).insert(task.to_string());
    }

    /// Moves tasks from the healthy set to the draining one.
    fn start_draining(&self, tasks: Vec<String>) {
        let mut healthy = locked(&self.healthy);
        let mut draining = locked(&self.draining);
        for t in tasks {
            healthy.remove(&t);
            draining.insert(t);
        }
    }

    /// True the first time a failed task is seen (it is then reported).
    pub(super) fn first_report(&self, task: &str) -> bool {
        locked(&self.reported).insert(task.to_string())
    }
}

/// Node addresses looked up once per call instead of once per task.
#[derive(Default)]
pub(super) struct NodeAddrs(HashMap<String, String>);

impl NodeAddrs {
    pub(super) async fn get(&mut self, engine: &Engine, node_id: &str) -> Result<String> {
        if node_id.is_empty() {
            return Ok(String::new());
        }
        if let Some(a) = self.0.get(node_id) {
            return Ok(a.clone());
        }
        let a = engine.node_addr(node_id).await?;
        self.0.insert(node_id.to_string(), a.clone());
        Ok(a)
    }
}

/// The quick check a task gets before it first takes traffic outside a
/// rollout: a TCP connect within a second.
fn quick_tcp() -> Checks {
    Checks {
        enabled: false,
        path: "/".into(),
        attempts: 1,
        timeout: 1,
        wait: 0,
    }
}

impl Runtime {
    /// Takes tasks out of the backends and waits for the drain period.
    pub(super) async fn drain(&self, tasks: Vec<String>) {
        if tasks.is_empty() {
            return;
        }
        self.tasks.start_draining(tasks);
        self.routes_changed();
        tokio::time::sleep(DRAIN).await;
    }

    /// A task that took traffic and is not on its way out: the health
    /// monitor probes only these.
    pub fn in_service(&self, t: &TaskInfo) -> bool {
        self.tasks.standing(t) != Standing::Out && self.tasks.is_healthy(&t.id)
    }

    /// The live backends of every app in `entries` with a live release, by
    /// app id, for the router: two engine calls per web service at most, and
    /// tasks not checked yet (after a daemon restart or a scale-up) get a
    /// quick TCP check, all at once.
    pub async fn web_backends(
        &self,
        entries: &[store::RouteEntry],
    ) -> Result<HashMap<i64, Vec<Backend>>> {
        let live: HashMap<&str, (i64, String)> = entries
            .iter()
            .filter_map(|e| e.live.map(|v| (e.app.as_str(), (e.app_id, v.to_string()))))
            .collect();
        let mut out: HashMap<i64, Vec<Backend>> = HashMap::new();
        if live.is_empty() {
            return Ok(out);
        }
        let engine = self.engine().await?;
        let services = engine
            .services(&[
                (docker::INSTANCE, self.store.instance_id()),
                (docker::PROCESS, "web"),
            ])
            .await?;
        let mut nodes = NodeAddrs::default();
        let mut unchecked = Vec::new();
        for s in services {
            let app = s.labels.get(docker::APP).map(String::as_str).unwrap_or("");
            let Some((app_id, version)) = live.get(app) else {
                continue;
            };
            if s.labels.get(docker::RELEASE) != Some(version) {
                continue;
            }
            for t in engine.tasks(&s.id).await? {
                let (port, healthy) = match self.tasks.standing(&t) {
                    Standing::Out => continue,
                    Standing::Healthy(p) => (p, true),
                    Standing::Unchecked(p) => (p, false),
                };
                let b = Backend {
                    addr: nodes.get(&engine, &t.node_id).await?,
                    port,
                    task: t.id.clone(),
                };
                if healthy {
                    out.entry(*app_id).or_default().push(b);
                } else {
                    unchecked.push((*app_id, b));
                }
            }
        }
        let quick = quick_tcp();
        let results = futures_util::future::join_all(
            unchecked
                .iter()
                .map(|(_, b)| probe(&b.addr, b.port, &quick)),
        )
        .await;
        for ((app_id, b), r) in unchecked.into_iter().zip(results) {
            if r.is_ok() {
                self.tasks.mark_healthy(&b.task);
                out.entry(app_id).or_default().push(b);
            }
        }
        Ok(out)
    }

    /// Live backends among tasks fetched with [`Runtime::processes`]:
    /// running web tasks of the live release that passed a check. A task
    /// not checked yet (after a scale-up or a daemon restart) is checked
    /// once here, briefly, and left out until it passes.
    pub async fn backends_in(&self, app: &App, processes: &Processes) -> Result<Vec<Backend>> {
        let id = app.id;
        let checks = self
            .store
            .read(move |db| db.checks(&db.app_by_id(id)?))
            .await?;
        let quick = Checks {
            attempts: 1,
            timeout: 1,
            ..checks
        };
        let mut out = Vec::new();
        for (process, _, tasks) in processes {
            if process != "web" {
                continue;
            }
            for (t, addr) in tasks {
                let port = match self.tasks.standing(t) {
                    Standing::Out => continue,
                    Standing::Healthy(p) => p,
                    Standing::Unchecked(p) => {
                        if probe(addr, p, &quick).await.is_err() {
                            continue;
                        }
                        self.tasks.mark_healthy(&t.id);
                        p
                    }
                };
                out.push(Backend {
                    addr: addr.clone(),
                    port,
                    task: t.id.clone(),
                });
            }
        }
        Ok(out)
    }
}

/// One check of one task: TCP connect, then (checks enabled) `GET path`
/// answering below 500, each within the timeout.
pub async fn probe(addr: &str, port: u16, checks: &Checks) -> std::result::Result<(), String> {
    let timeout = Duration::from_secs(checks.timeout.max(1) as u64);
    let target = format!("{addr}:{port}");
    match tokio::time::timeout(timeout, TcpStream::connect(&target)).await {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => return Err(format!("TCP connect to {target}: {e}")),
        Err(_) => {
            return Err(format!(
                "TCP connect to {target}: no answer in {}s",
                timeout.as_secs()
            ));
        }
    }
    if !checks.enabled {
        return Ok(());
    }
    let url = format!("http://{target}{}", checks.path);
    let client = crate::outbound::probe_client().map_err(|e| e.to_string())?;
    match client.get(&url).timeout(timeout).send().await {
        Ok(res) if res.status().as_u16() < 500 => Ok(()),
        Ok(res) => Err(format!("GET {} answered {}", checks.path, res.status())),
        Err(e) => Err(format!("GET {} failed: {}", checks.path, error_chain(&e))),
    }
}

/// "timed out" or the innermost cause ("connection reset by peer"), which
/// says more than reqwest's outer "error sending request".
pub(crate) fn error_chain(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        return "timed out".into();
    }
    let mut cause: &dyn std::error::Error = e;
    while let Some(inner) = cause.source() {
        cause = inner;
    }
    cause.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task(id: &str, state: &str, desired: &str, port: Option<u16>) -> TaskInfo {
        TaskInfo {
            id: id.into(),
            state: state.into(),
            desired: desired.into(),
            port,
            ..Default::default()
        }
    }

    #[test]
    fn only_running_tasks_with_a_port_that_are_not_draining_stand_in() {
        let sets = TaskSets::default();
        assert_eq!(
            sets.standing(&task("a", "running", "running", Some(30001))),
            Standing::Unchecked(30001)
        );
        sets.mark_healthy("a");
        assert_eq!(
            sets.standing(&task("a", "running", "running", Some(30001))),
            Standing::Healthy(30001)
        );
        // Being shut down by Swarm, not started yet, or without a port: out.
        assert_eq!(
            sets.standing(&task("b", "running", "shutdown", Some(30002))),
            Standing::Out
        );
        assert_eq!(
            sets.standing(&task("c", "starting", "running", Some(30003))),
            Standing::Out
        );
        assert_eq!(
            sets.standing(&task("d", "running", "running", None)),
            Standing::Out
        );
    }

    #[test]
    fn a_draining_task_is_out_even_when_it_passed_its_check() {
        let sets = TaskSets::default();
        sets.mark_healthy("a");
        sets.mark_healthy("b");
        sets.start_draining(vec!["a".into()]);
        assert_eq!(
            sets.standing(&task("a", "running", "running", Some(1))),
            Standing::Out
        );
        assert_eq!(
            sets.standing(&task("b", "running", "running", Some(2))),
            Standing::Healthy(2)
        );
        // A later check of the drained task does not bring it back.
        sets.mark_healthy("a");
        assert_eq!(
            sets.standing(&task("a", "running", "running", Some(1))),
            Standing::Out
        );
    }

    #[test]
    fn a_failed_task_is_reported_once() {
        let sets = TaskSets::default();
        assert!(sets.first_report("t1"));
        assert!(!sets.first_report("t1"));
        assert!(sets.first_report("t2"));
    }

    #[tokio::test]
    async fn probe_says_which_step_failed() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = listener.local_addr().expect("addr").port();
        // TCP only: a listener that never answers HTTP passes.
        assert_eq!(probe("127.0.0.1", port, &quick_tcp()).await, Ok(()));
        drop(listener);
        let err = probe("127.0.0.1", port, &quick_tcp())
            .await
            .expect_err("refused");
        assert!(
            err.starts_with(&format!("TCP connect to 127.0.0.1:{port}:")),
            "{err}"
        );
    }
}
