//! The only module that talks to the Docker Engine (bollard, with the API
//! version negotiated so engines as old as API 1.41 work). Everything the
//! platform creates carries the `skypanel.instance` label plus the app,
//! release and process labels, so the daemon can find and clean what it owns.

use std::collections::HashMap;

use bollard::Docker;
use bollard::models::{
    EndpointPortConfig, EndpointPortConfigPublishModeEnum, EndpointSpec, EndpointSpecModeEnum,
    Limit, NetworkAttachmentConfig, NetworkCreateRequest, NodeState, ResourceObject, ServiceSpec,
    ServiceSpecMode, ServiceSpecModeReplicated, SwarmInitRequest, TaskSpec, TaskSpecContainerSpec,
    TaskSpecResources, TaskSpecRestartPolicy, TaskSpecRestartPolicyConditionEnum, TaskState,
};
use bollard::query_parameters::{
    ListServicesOptionsBuilder, ListTasksOptionsBuilder, UpdateServiceOptionsBuilder,
};

use crate::error::{Error, Result};

pub const INSTANCE: &str = "skypanel.instance";
pub const APP: &str = "skypanel.app";
pub const RELEASE: &str = "skypanel.release";
pub const PROCESS: &str = "skypanel.process";
pub const ORG: &str = "skypanel.org";
/// On one-off containers (a build, a release command): what they are.
pub const ONEOFF: &str = "skypanel.oneoff";

#[derive(Clone)]
pub struct Engine {
    docker: Docker,
}

fn engine_err(what: &str, e: bollard::errors::Error) -> Error {
    Error::Internal(format!("Docker engine: {what}: {e}"))
}

fn is_status(e: &bollard::errors::Error, code: u16) -> bool {
    matches!(e, bollard::errors::Error::DockerResponseServerError { status_code, .. } if *status_code == code)
}

/// The Swarm facts `admin init` stores.
#[derive(Debug)]
pub struct SwarmInfo {
    pub node_id: String,
    pub manager_addr: String,
    pub worker_token: String,
    pub manager_token: String,
}

/// One process type of one release, as a Swarm service.
#[derive(Debug, Clone)]
pub struct ServiceDef {
    pub name: String,
    pub image: String,
    pub env: Vec<String>,
    pub labels: HashMap<String, String>,
    pub replicas: u64,
    pub cpu_millis: i64,
    pub memory_mb: i64,
    /// The container port to publish in host mode (web processes only).
    pub port: Option<u16>,
    pub network: String,
    /// Replaces the image's CMD (Procfile commands); `None` runs the image's own.
    pub command: Option<Vec<String>>,
}

#[derive(Debug, Clone)]
pub struct ServiceInfo {
    pub id: String,
    pub name: String,
    pub labels: HashMap<String, String>,
    pub replicas: u64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct TaskInfo {
    pub id: String,
    pub service_id: String,
    pub slot: i64,
    pub node_id: String,
    pub state: String,
    pub desired: String,
    /// The host port Docker gave this task (host-mode publishing).
    pub port: Option<u16>,
    pub error: Option<String>,
    /// The task's container, once it has one.
    pub container: Option<String>,
}

/// One sample of a container's resource use.
#[derive(Clone, Debug, Default)]
pub struct ContainerStats {
    /// CPU use over the sampling second, in percent of one CPU.
    pub cpu_percent: f64,
    pub memory_bytes: u64,
    /// The memory limit (the host's memory when unlimited).
    pub memory_limit: u64,
}

impl TaskInfo {
    pub fn running(&self) -> bool {
        self.state == "running" && self.desired == "running"
    }
}

impl Engine {
    /// Connects through `DOCKER_HOST` or the local socket and negotiates the API version.
    pub async fn connect() -> Result<Engine> {
        let unreachable = |e: bollard::errors::Error| {
            Error::Internal(format!(
                "cannot reach the Docker engine ({}): {e}; install and start it (`apt-get install docker.io`, then \
                 `systemctl start docker` or `dockerd &`)",
                std::env::var("DOCKER_HOST")
                    .unwrap_or_else(|_| "unix:///var/run/docker.sock".into())
            ))
        };
        let docker = Docker::connect_with_local_defaults().map_err(unreachable)?;
        let docker = docker.negotiate_version().await.map_err(unreachable)?;
        docker.ping().await.map_err(unreachable)?;
        Ok(Engine { docker })
    }

    pub async fn ping(&self) -> Result<()> {
        self.docker
            .ping()
            .await
            .map(|_| ())
            .map_err(|e| engine_err("ping", e))
    }

    /// Joins nothing and changes nothing when this engine already manages a
    /// Swarm; otherwise initialises one advertising `advertise`.
    pub async fn ensure_swarm(&self, advertise: Option<&str>) -> Result<SwarmInfo> {
        let info = self
            .docker
            .info()
            .await
            .map_err(|e| engine_err("info", e))?;
        let swarm = info.swarm.unwrap_or_default();
        let active = matches!(
            swarm.local_node_state,
            Some(bollard::models::LocalNodeState::ACTIVE)
        );
        if active && swarm.control_available != Some(true) {
            return Err(Error::Invalid(
                "this Docker engine is a Swarm worker, not a manager: run skypanel on a manager node".into(),
            ));
        }
        if !active {
            let req = SwarmInitRequest {
                listen_addr: Some("0.0.0.0:2377".into()),
                advertise_addr: advertise.map(str::to_string),
                ..Default::default()
            };
            if let Err(e) = self.docker.init_swarm(req).await {
                // Another process may have initialised it a moment ago.
                if !is_status(&e, 503) {
                    return Err(Error::Invalid(format!(
                        "docker swarm init failed: {e}; if the host has several addresses, pass \
                         --advertise-addr ADDRESS"
                    )));
                }
            }
        }
        let info = self
            .docker
            .info()
            .await
            .map_err(|e| engine_err("info", e))?;
        let swarm_local = info.swarm.unwrap_or_default();
        let s = self
            .docker
            .inspect_swarm()
            .await
            .map_err(|e| engine_err("swarm inspect", e))?;
        let tokens = s.join_tokens.unwrap_or_default();
        Ok(SwarmInfo {
            node_id: swarm_local.node_id.unwrap_or_default(),
            manager_addr: swarm_local.node_addr.unwrap_or_default(),
            worker_token: tokens.worker.unwrap_or_default(),
            manager_token: tokens.manager.unwrap_or_default(),
        })
    }

    /// An attachable overlay network, created when missing.
    pub async fn ensure_network(&self, name: &str, labels: HashMap<String, String>) -> Result<()> {
        if self
            .docker
            .inspect_network(
                name,
                None::<bollard::query_parameters::InspectNetworkOptions>,
            )
            .await
            .is_ok()
        {
            return Ok(());
        }
        let req = NetworkCreateRequest {
            name: name.to_string(),
            driver: Some("overlay".into()),
            attachable: Some(true),
            labels: Some(labels),
            ..Default::default()
        };
        match self.docker.create_network(req).await {
            Ok(_) => Ok(()),
            Err(e) if is_status(&e, 409) => Ok(()),
            Err(e) => Err(engine_err(&format!("create network {name}"), e)),
        }
    }

    pub async fn remove_network(&self, name: &str) -> Result<()> {
        match self.docker.remove_network(name).await {
            Ok(()) => Ok(()),
            Err(e) if is_status(&e, 404) => Ok(()),
            Err(e) => Err(engine_err(&format!("remove network {name}"), e)),
        }
    }

    pub async fn image_exists(&self, image: &str) -> Result<bool> {
        match self.docker.inspect_image(image).await {
            Ok(_) => Ok(true),
            Err(e) if is_status(&e, 404) => Ok(false),
            Err(e) => Err(engine_err(&format!("inspect image {image}"), e)),
        }
    }

    pub async fn create_service(&self, def: &ServiceDef) -> Result<String> {
        let endpoint = EndpointSpec {
            mode: Some(EndpointSpecModeEnum::DNSRR),
            ports: def.port.map(|p| {
                vec![EndpointPortConfig {
                    target_port: Some(i64::from(p)),
                    publish_mode: Some(EndpointPortConfigPublishModeEnum::HOST),
                    ..Default::default()
                }]
            }),
        };
        let nano = def.cpu_millis * 1_000_000;
        let bytes = def.memory_mb * 1024 * 1024;
        let spec = ServiceSpec {
            name: Some(def.name.clone()),
            labels: Some(def.labels.clone()),
            mode: Some(ServiceSpecMode {
                replicated: Some(ServiceSpecModeReplicated {
                    replicas: Some(def.replicas as i64),
                }),
                ..Default::default()
            }),
            task_template: Some(TaskSpec {
                container_spec: Some(TaskSpecContainerSpec {
                    image: Some(def.image.clone()),
                    args: def.command.clone(),
                    env: Some(def.env.clone()),
                    labels: Some(def.labels.clone()),
                    // tini as PID 1: the app gets SIGTERM on stop like on Heroku,
                    // and zombie processes are reaped.
                    init: Some(true),
                    ..Default::default()
                }),
                resources: Some(TaskSpecResources {
                    limits: Some(Limit {
                        nano_cpus: Some(nano),
                        memory_bytes: Some(bytes),
                        ..Default::default()
                    }),
                    // Reserve a quarter, so small hosts can still pack several apps.
                    reservations: Some(ResourceObject {
                        nano_cpus: Some(nano / 4),
                        memory_bytes: Some(bytes / 4),
                        ..Default::default()
                    }),
                    ..Default::default()
                }),
                restart_policy: Some(TaskSpecRestartPolicy {
                    condition: Some(TaskSpecRestartPolicyConditionEnum::ON_FAILURE),
                    delay: Some(2_000_000_000),
                    ..Default::default()
                }),
                networks: Some(vec![NetworkAttachmentConfig {
                    target: Some(def.network.clone()),
                    ..Default::default()
                }]),
                ..Default::default()
            }),
            endpoint_spec: Some(endpoint),
            ..Default::default()
        };
        let res = self
            .docker
            .create_service(spec, None)
            .await
            .map_err(|e| engine_err(&format!("create service {}", def.name), e))?;
        Ok(res.id.unwrap_or_default())
    }

    /// Services with every one of `labels`.
    pub async fn services(&self, labels: &[(&str, &str)]) -> Result<Vec<ServiceInfo>> {
        let filters: HashMap<String, Vec<String>> = HashMap::from([(
            "label".to_string(),
            labels.iter().map(|(k, v)| format!("{k}={v}")).collect(),
        )]);
        let opts = ListServicesOptionsBuilder::default()
            .filters(&filters)
            .build();
        let list = self
            .docker
            .list_services(Some(opts))
            .await
            .map_err(|e| engine_err("list services", e))?;
        Ok(list
            .into_iter()
            .map(|s| {
                let spec = s.spec.unwrap_or_default();
                ServiceInfo {
                    id: s.id.unwrap_or_default(),
                    name: spec.name.unwrap_or_default(),
                    labels: spec.labels.unwrap_or_default(),
                    replicas: spec
                        .mode
                        .and_then(|m| m.replicated)
                        .and_then(|r| r.replicas)
                        .map(|r| r.max(0) as u64)
                        .unwrap_or(0),
                }
            })
            .collect())
    }

    pub async fn remove_service(&self, id: &str) -> Result<()> {
        match self.docker.delete_service(id).await {
            Ok(()) => Ok(()),
            Err(e) if is_status(&e, 404) => Ok(()),
            Err(e) => Err(engine_err(&format!("remove service {id}"), e)),
        }
    }

    pub async fn scale_service(&self, id: &str, replicas: u64) -> Result<()> {
        self.update_spec(id, "scale", |spec| {
            spec.mode = Some(ServiceSpecMode {
                replicated: Some(ServiceSpecModeReplicated {
                    replicas: Some(replicas as i64),
                }),
                ..Default::default()
            });
        })
        .await
    }

    /// Reads a service's spec, lets `change` edit it, and writes it back at
    /// the version read (so a concurrent update fails instead of being lost).
    async fn update_spec(
        &self,
        id: &str,
        what: &str,
        change: impl FnOnce(&mut bollard::models::ServiceSpec),
    ) -> Result<()> {
        let current = self
            .docker
            .inspect_service(id, None::<bollard::query_parameters::InspectServiceOptions>)
            .await
            .map_err(|e| engine_err(&format!("inspect service {id}"), e))?;
        let version = current.version.and_then(|v| v.index).unwrap_or(0);
        let mut spec = current.spec.unwrap_or_default();
        change(&mut spec);
        let opts = UpdateServiceOptionsBuilder::default()
            .version(version as i32)
            .build();
        self.docker
            .update_service(id, spec, opts, None)
            .await
            .map_err(|e| engine_err(&format!("{what} service {id}"), e))?;
        Ok(())
    }

    pub async fn tasks(&self, service_id: &str) -> Result<Vec<TaskInfo>> {
        self.tasks_of(&[service_id.to_string()]).await
    }

    /// The tasks of every one of `service_ids` (none when the list is empty).
    pub async fn tasks_of(&self, service_ids: &[String]) -> Result<Vec<TaskInfo>> {
        if service_ids.is_empty() {
            return Ok(Vec::new());
        }
        let filters: HashMap<String, Vec<String>> =
            HashMap::from([("service".to_string(), service_ids.to_vec())]);
        let opts = ListTasksOptionsBuilder::default().filters(&filters).build();
        let list = self
            .docker
            .list_tasks(Some(opts))
            .await
            .map_err(|e| engine_err("list tasks", e))?;
        let mut out: Vec<TaskInfo> = list
            .into_iter()
            .map(|t| {
                let status = t.status.unwrap_or_default();
                let port = status
                    .port_status
                    .and_then(|p| p.ports)
                    .and_then(|ports| ports.into_iter().find_map(|p| p.published_port))
                    .and_then(|p| u16::try_from(p).ok());
                TaskInfo {
                    id: t.id.unwrap_or_default(),
                    service_id: t.service_id.unwrap_or_default(),
                    slot: t.slot.unwrap_or(0),
                    node_id: t.node_id.unwrap_or_default(),
                    state: status.state.map(|s| state_name(&s)).unwrap_or_default(),
                    desired: t.desired_state.map(|s| state_name(&s)).unwrap_or_default(),
                    port,
                    error: status.err.filter(|e| !e.is_empty()),
                    container: status
                        .container_status
                        .and_then(|c| c.container_id)
                        .filter(|c| !c.is_empty()),
                }
            })
            .collect();
        out.sort_by(|a, b| (a.slot, &a.id).cmp(&(b.slot, &b.id)));
        Ok(out)
    }

    /// A Swarm task's output (stdout and stderr, on whichever node it ran)
    /// from `since` (seconds), as (time in ns, line); with `follow` it keeps
    /// going while the task runs. The Engine does not end a followed log when
    /// the task ends: the caller stops reading.
    pub fn task_logs(
        &self,
        task_id: &str,
        follow: bool,
        since: i64,
    ) -> impl futures_util::Stream<Item = Result<(i64, String)>> + Send + 'static {
        use futures_util::StreamExt;
        let opts = bollard::query_parameters::LogsOptionsBuilder::default()
            .follow(follow)
            .stdout(true)
            .stderr(true)
            .timestamps(true)
            .tail("all")
            .since(i32::try_from(since.max(0)).unwrap_or(i32::MAX))
            .build();
        let id = task_id.to_string();
        self.docker
            .task_logs(task_id, Some(opts))
            .flat_map(move |item| {
                let out: Vec<Result<(i64, String)>> = match item {
                    Ok(o) => split_log_frame(&o.into_bytes()),
                    Err(e) => vec![Err(engine_err(&format!("logs of task {id}"), e))],
                };
                futures_util::stream::iter(out)
            })
    }

    /// The address other hosts reach `node_id` at (its Swarm status address).
    pub async fn node_addr(&self, node_id: &str) -> Result<String> {
        let n = self
            .docker
            .inspect_node(node_id)
            .await
            .map_err(|e| engine_err(&format!("inspect node {node_id}"), e))?;
        let status = n.status.unwrap_or_default();
        let addr = status.addr.unwrap_or_default();
        let up = matches!(status.state, Some(NodeState::READY));
        // A single manager advertising loopback reports 0.0.0.0 in some versions.
        Ok(if addr.is_empty() || addr == "0.0.0.0" || !up {
            "127.0.0.1".into()
        } else {
            addr
        })
    }
}

fn state_name(s: &TaskState) -> String {
    serde_json::to_value(s)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_else(|| format!("{s:?}").to_lowercase())
}

/// What the engine says about one Swarm node.
#[derive(Debug, Clone)]
pub struct NodeInfo {
    pub id: String,
    pub hostname: String,
    pub role: String,
    pub status: String,
    pub availability: String,
    pub addr: String,
    pub engine: String,
    pub cpus_nano: i64,
    pub memory_bytes: i64,
    pub reserved_nano: i64,
    pub reserved_bytes: i64,
    pub tasks: i64,
    pub version: u64,
}

fn enum_name<T: serde::Serialize + std::fmt::Debug>(v: &T) -> String {
    serde_json::to_value(v)
        .ok()
        .and_then(|x| x.as_str().map(str::to_string))
        .unwrap_or_else(|| format!("{v:?}").to_lowercase())
}

impl Engine {
    /// Every Swarm node, with the reservations of the tasks meant to run on it.
    pub async fn nodes(&self) -> Result<Vec<NodeInfo>> {
        let nodes = self
            .docker
            .list_nodes(None::<bollard::query_parameters::ListNodesOptions>)
            .await
            .map_err(|e| engine_err("list nodes", e))?;
        let filters: HashMap<String, Vec<String>> =
            HashMap::from([("desired-state".to_string(), vec!["running".to_string()])]);
        let tasks = self
            .docker
            .list_tasks(Some(
                ListTasksOptionsBuilder::default().filters(&filters).build(),
            ))
            .await
            .map_err(|e| engine_err("list tasks", e))?;
        let mut reserved: HashMap<String, (i64, i64, i64)> = HashMap::new();
        for t in tasks {
            let Some(node) = t.node_id else { continue };
            let r = t
                .spec
                .and_then(|s| s.resources)
                .and_then(|r| r.reservations)
                .unwrap_or_default();
            let e = reserved.entry(node).or_default();
            e.0 += r.nano_cpus.unwrap_or(0);
            e.1 += r.memory_bytes.unwrap_or(0);
            e.2 += 1;
        }
        Ok(nodes
            .into_iter()
            .map(|n| {
                let id = n.id.unwrap_or_default();
                let spec = n.spec.unwrap_or_default();
                let desc = n.description.unwrap_or_default();
                let status = n.status.unwrap_or_default();
                let res = desc.resources.unwrap_or_default();
                let (rn, rb, tasks) = reserved.get(&id).copied().unwrap_or_default();
                NodeInfo {
                    hostname: desc.hostname.unwrap_or_default(),
                    role: spec.role.map(|r| enum_name(&r)).unwrap_or_default(),
                    status: status.state.map(|s| enum_name(&s)).unwrap_or_default(),
                    availability: spec.availability.map(|a| enum_name(&a)).unwrap_or_default(),
                    addr: status.addr.unwrap_or_default(),
                    engine: desc
                        .engine
                        .and_then(|e| e.engine_version)
                        .unwrap_or_default(),
                    cpus_nano: res.nano_cpus.unwrap_or(0),
                    memory_bytes: res.memory_bytes.unwrap_or(0),
                    reserved_nano: rn,
                    reserved_bytes: rb,
                    tasks,
                    version: n.version.and_then(|v| v.index).unwrap_or(0),
                    id,
                }
            })
            .collect())
    }

    /// Sets a node's availability: active, pause or drain.
    pub async fn set_availability(&self, node_id: &str, availability: &str) -> Result<()> {
        use bollard::models::NodeSpecAvailabilityEnum as A;
        let want = match availability {
            "active" => A::ACTIVE,
            "pause" => A::PAUSE,
            "drain" => A::DRAIN,
            other => {
                return Err(Error::Invalid(format!(
                    "availability {other} is not active, pause or drain"
                )));
            }
        };
        let n = self
            .docker
            .inspect_node(node_id)
            .await
            .map_err(|e| engine_err(&format!("inspect node {node_id}"), e))?;
        let version = n.version.and_then(|v| v.index).unwrap_or(0);
        let mut spec = n.spec.unwrap_or_default();
        spec.availability = Some(want);
        let opts = bollard::query_parameters::UpdateNodeOptionsBuilder::default()
            .version(version as i64)
            .build();
        self.docker
            .update_node(node_id, spec, opts)
            .await
            .map_err(|e| engine_err(&format!("update node {node_id}"), e))
    }

    pub async fn remove_node(&self, node_id: &str) -> Result<()> {
        self.docker
            .delete_node(
                node_id,
                None::<bollard::query_parameters::DeleteNodeOptions>,
            )
            .await
            .map_err(|e| {
                Error::Conflict(format!("the engine refused to remove node {node_id}: {e}"))
            })
    }
}

/// The repository under which the platform tags the images its releases run.
pub fn app_repo(app: &str) -> String {
    format!("skypanel/{app}")
}

impl Engine {
    /// Tags `source` as `skypanel/APP:<12 hex of its id>` and returns that
    /// reference: releases run the platform's own tag, which it may prune,
    /// never the user's.
    pub async fn tag_for_app(&self, source: &str, app: &str) -> Result<String> {
        let img = self
            .docker
            .inspect_image(source)
            .await
            .map_err(|e| engine_err(&format!("inspect image {source}"), e))?;
        let id = img.id.unwrap_or_default();
        let short: String = id.trim_start_matches("sha256:").chars().take(12).collect();
        let repo = app_repo(app);
        let opts = bollard::query_parameters::TagImageOptionsBuilder::default()
            .repo(&repo)
            .tag(&short)
            .build();
        self.docker
            .tag_image(source, Some(opts))
            .await
            .map_err(|e| engine_err(&format!("tag image {source}"), e))?;
        Ok(format!("{repo}:{short}"))
    }

    /// Every tag the platform made for `app`.
    pub async fn app_images(&self, app: &str) -> Result<Vec<String>> {
        let repo = app_repo(app);
        let filters: HashMap<String, Vec<String>> =
            HashMap::from([("reference".to_string(), vec![repo.clone()])]);
        let opts = bollard::query_parameters::ListImagesOptionsBuilder::default()
            .filters(&filters)
            .build();
        let list = self
            .docker
            .list_images(Some(opts))
            .await
            .map_err(|e| engine_err("list images", e))?;
        Ok(list
            .into_iter()
            .flat_map(|i| i.repo_tags)
            .filter(|t| t.starts_with(&format!("{repo}:")))
            .collect())
    }

    /// Removes one tag (the image itself goes only when nothing else names it).
    /// While a container of it is still stopping the engine refuses; that is
    /// retried for a few seconds, then left for the next prune.
    pub async fn untag(&self, reference: &str) -> Result<()> {
        for _ in 0..20 {
            match self
                .docker
                .remove_image(
                    reference,
                    None::<bollard::query_parameters::RemoveImageOptions>,
                    None,
                )
                .await
            {
                Ok(_) => return Ok(()),
                Err(e) if is_status(&e, 404) => return Ok(()),
                Err(e) if is_status(&e, 409) => {
                    tokio::time::sleep(std::time::Duration::from_millis(500)).await
                }
                Err(e) => return Err(engine_err(&format!("remove image {reference}"), e)),
            }
        }
        Ok(())
    }
}

/// Streams a file as a request body, chunk by chunk.
fn file_body(
    file: tokio::fs::File,
) -> impl futures_util::Stream<Item = std::io::Result<axum::body::Bytes>> + Send + 'static {
    use tokio::io::AsyncReadExt;
    futures_util::stream::unfold(file, |mut f| async move {
        let mut buf = vec![0u8; 64 * 1024];
        match f.read(&mut buf).await {
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((Ok(axum::body::Bytes::from(buf)), f))
            }
            Err(e) => Some((Err(e), f)),
        }
    })
}

/// Limits of a build or one-off container: 0 means none.
#[derive(Clone, Copy, Debug, Default)]
pub struct Limits {
    pub memory_mb: i64,
    pub cpu_millis: i64,
}

/// A one-off container: a buildpack build or a release command.
#[derive(Clone, Debug, Default)]
pub struct RunDef {
    pub name: String,
    pub image: String,
    pub cmd: Option<Vec<String>>,
    pub env: Vec<String>,
    pub binds: Vec<String>,
    pub labels: HashMap<String, String>,
    pub limits: Limits,
    pub network: Option<String>,
}

impl Engine {
    /// Builds an image from the build context at `context` (a tar file) and
    /// tags it `tag`. Each output line goes to `line` as it comes. The outer
    /// error is the engine failing; the inner one the build failing.
    pub async fn build_image(
        &self,
        context: &std::path::Path,
        tag: &str,
        labels: &HashMap<String, String>,
        limits: Limits,
        mut line: impl FnMut(&str),
    ) -> Result<std::result::Result<(), String>> {
        use futures_util::StreamExt;
        let mut b = bollard::query_parameters::BuildImageOptionsBuilder::default()
            .t(tag)
            .rm(true)
            .forcerm(true)
            .labels(labels);
        if limits.memory_mb > 0 {
            let bytes = (limits.memory_mb * 1024 * 1024).min(i32::MAX as i64) as i32;
            b = b.memory(bytes).memswap(-1);
        }
        if limits.cpu_millis > 0 {
            b = b
                .cpuperiod(100_000)
                .cpuquota((limits.cpu_millis * 100).min(i32::MAX as i64) as i32);
        }
        let file = tokio::fs::File::open(context).await?;
        let mut stream = self.docker.build_image(
            b.build(),
            None,
            Some(bollard::body_try_stream(file_body(file))),
        );
        let mut partial = String::new();
        while let Some(item) = stream.next().await {
            match item {
                Ok(info) => {
                    if let Some(err) = info.error_detail.and_then(|d| d.message) {
                        return Ok(Err(err.trim().to_string()));
                    }
                    if let Some(s) = info.stream {
                        partial.push_str(&s);
                        while let Some(i) = partial.find('\n') {
                            let l: String = partial.drain(..=i).collect();
                            line(l.trim_end());
                        }
                    }
                }
                Err(bollard::errors::Error::DockerStreamError { error }) => {
                    return Ok(Err(error.trim().to_string()));
                }
                Err(e) => return Err(engine_err("build an image", e)),
            }
        }
        if !partial.trim().is_empty() {
            line(partial.trim_end());
        }
        Ok(Ok(()))
    }

    pub async fn create_container(&self, def: &RunDef) -> Result<String> {
        use bollard::models::{ContainerCreateBody, HostConfig};
        let mut host = HostConfig {
            binds: (!def.binds.is_empty()).then(|| def.binds.clone()),
            network_mode: def.network.clone(),
            init: Some(true),
            ..Default::default()
        };
        if def.limits.memory_mb > 0 {
            host.memory = Some(def.limits.memory_mb * 1024 * 1024);
        }
        if def.limits.cpu_millis > 0 {
            host.nano_cpus = Some(def.limits.cpu_millis * 1_000_000);
        }
        let body = ContainerCreateBody {
            image: Some(def.image.clone()),
            cmd: def.cmd.clone(),
            env: Some(def.env.clone()),
            labels: Some(def.labels.clone()),
            host_config: Some(host),
            ..Default::default()
        };
        let opts = bollard::query_parameters::CreateContainerOptionsBuilder::default()
            .name(&def.name)
            .build();
        let r = self
            .docker
            .create_container(Some(opts), body)
            .await
            .map_err(|e| engine_err(&format!("create container {}", def.name), e))?;
        Ok(r.id)
    }

    /// Unpacks the tar file `archive` into the (created) container at `path`.
    pub async fn upload(&self, id: &str, path: &str, archive: &std::path::Path) -> Result<()> {
        let opts = bollard::query_parameters::UploadToContainerOptionsBuilder::default()
            .path(path)
            .build();
        let file = tokio::fs::File::open(archive).await?;
        self.docker
            .upload_to_container(id, Some(opts), bollard::body_try_stream(file_body(file)))
            .await
            .map_err(|e| engine_err("copy files into a container", e))
    }

    /// Writes a tar of `path` in the container to the file `dest`; `false`
    /// when the path does not exist.
    pub async fn download(&self, id: &str, path: &str, dest: &std::path::Path) -> Result<bool> {
        use futures_util::StreamExt;
        use tokio::io::AsyncWriteExt;
        let opts = bollard::query_parameters::DownloadFromContainerOptionsBuilder::default()
            .path(path)
            .build();
        let mut stream = self.docker.download_from_container(id, Some(opts));
        let mut out = tokio::fs::File::create(dest).await?;
        while let Some(chunk) = stream.next().await {
            match chunk {
                Ok(b) => out.write_all(&b).await?,
                Err(e) if is_status(&e, 404) => return Ok(false),
                Err(e) => return Err(engine_err("copy files out of a container", e)),
            }
        }
        out.flush().await?;
        Ok(true)
    }

    /// Starts the container, passes each line it prints to `line` until it
    /// exits, and returns its exit code.
    pub async fn run_to_end(&self, id: &str, mut line: impl FnMut(&str)) -> Result<i64> {
        use futures_util::StreamExt;
        self.docker
            .start_container(id, None::<bollard::query_parameters::StartContainerOptions>)
            .await
            .map_err(|e| engine_err("start a container", e))?;
        let opts = bollard::query_parameters::LogsOptionsBuilder::default()
            .follow(true)
            .stdout(true)
            .stderr(true)
            .build();
        let mut logs = self.docker.logs(id, Some(opts));
        let mut partial = String::new();
        while let Some(item) = logs.next().await {
            let Ok(out) = item else { break };
            partial.push_str(&String::from_utf8_lossy(&out.into_bytes()));
            while let Some(i) = partial.find('\n') {
                let l: String = partial.drain(..=i).collect();
                line(l.trim_end_matches(['\r', '\n']));
            }
        }
        if !partial.is_empty() {
            line(&partial);
        }
        let mut wait = self
            .docker
            .wait_container(id, None::<bollard::query_parameters::WaitContainerOptions>);
        let code = match wait.next().await {
            Some(Ok(r)) => r.status_code,
            // bollard reports a non-zero exit as an error carrying the code.
            Some(Err(bollard::errors::Error::DockerContainerWaitError { code, .. })) => code,
            Some(Err(e)) => return Err(engine_err("wait for a container", e)),
            None => -1,
        };
        Ok(code)
    }

    /// Kills a container with SIGKILL. `Ok(false)`: no such container on
    /// this engine (it runs on another node).
    pub async fn kill_container(&self, id: &str) -> Result<bool> {
        let opts = bollard::query_parameters::KillContainerOptionsBuilder::default()
            .signal("KILL")
            .build();
        match self.docker.kill_container(id, Some(opts)).await {
            Ok(()) => Ok(true),
            Err(e) if is_status(&e, 404) => Ok(false),
            Err(e) if is_status(&e, 409) => Ok(true),
            Err(e) => Err(engine_err("kill a container", e)),
        }
    }

    /// Replaces every task of a service (a rolling update with nothing changed).
    pub async fn force_update_service(&self, id: &str) -> Result<()> {
        self.update_spec(id, "update", |spec| {
            let mut template = spec.task_template.take().unwrap_or_default();
            template.force_update = Some(template.force_update.unwrap_or(0) + 1);
            spec.task_template = Some(template);
        })
        .await
    }

    /// One sample of a container's CPU and memory use (takes about a second:
    /// the Engine measures CPU between two readings). `None`: not on this engine.
    pub async fn container_stats(&self, id: &str) -> Result<Option<ContainerStats>> {
        use futures_util::StreamExt;
        let opts = bollard::query_parameters::StatsOptionsBuilder::default()
            .stream(false)
            .build();
        let mut st = self.docker.stats(id, Some(opts));
        let s = match st.next().await {
            Some(Ok(s)) => s,
            Some(Err(e)) if is_status(&e, 404) => return Ok(None),
            Some(Err(e)) => return Err(engine_err("read container stats", e)),
            None => return Ok(None),
        };
        let total = |c: &Option<bollard::models::ContainerCpuStats>| {
            c.as_ref()
                .and_then(|c| c.cpu_usage.as_ref())
                .and_then(|u| u.total_usage)
                .unwrap_or(0)
        };
        let system = |c: &Option<bollard::models::ContainerCpuStats>| {
            c.as_ref().and_then(|c| c.system_cpu_usage).unwrap_or(0)
        };
        let cpus = s
            .cpu_stats
            .as_ref()
            .and_then(|c| c.online_cpus)
            .unwrap_or(1)
            .max(1) as f64;
        let dc = total(&s.cpu_stats).saturating_sub(total(&s.precpu_stats)) as f64;
        let ds = system(&s.cpu_stats).saturating_sub(system(&s.precpu_stats)) as f64;
        let cpu_percent = if ds > 0.0 {
            dc / ds * cpus * 100.0
        } else {
            0.0
        };
        let mem = s.memory_stats.unwrap_or_default();
        // As `docker stats` does: usage less the inactive page cache.
        let cache = mem
            .stats
            .as_ref()
            .and_then(|m| {
                m.get("inactive_file")
                    .or_else(|| m.get("total_inactive_file"))
                    .copied()
            })
            .unwrap_or(0);
        Ok(Some(ContainerStats {
            cpu_percent,
            memory_bytes: mem.usage.unwrap_or(0).saturating_sub(cache),
            memory_limit: mem.limit.unwrap_or(0),
        }))
    }

    pub async fn remove_container(&self, id: &str) -> Result<()> {
        let opts = bollard::query_parameters::RemoveContainerOptionsBuilder::default()
            .force(true)
            .v(true)
            .build();
        match self.docker.remove_container(id, Some(opts)).await {
            Ok(()) => Ok(()),
            Err(e) if is_status(&e, 404) => Ok(()),
            Err(e) => Err(engine_err("remove a container", e)),
        }
    }

    /// Containers with all of `labels` (one-off containers left by a crash);
    /// an empty value matches any value of the key.
    pub async fn containers(&self, labels: &[(&str, &str)]) -> Result<Vec<String>> {
        let filters: HashMap<String, Vec<String>> = HashMap::from([(
            "label".to_string(),
            labels
                .iter()
                .map(|(k, v)| {
                    if v.is_empty() {
                        k.to_string()
                    } else {
                        format!("{k}={v}")
                    }
                })
                .collect(),
        )]);
        let opts = bollard::query_parameters::ListContainersOptionsBuilder::default()
            .all(true)
            .filters(&filters)
            .build();
        let list = self
            .docker
            .list_containers(Some(opts))
            .await
            .map_err(|e| engine_err("list containers", e))?;
        Ok(list.into_iter().filter_map(|c| c.id).collect())
    }

    /// Adds another tag to an image.
    pub async fn tag(&self, source: &str, repo: &str, tag: &str) -> Result<()> {
        let opts = bollard::query_parameters::TagImageOptionsBuilder::default()
            .repo(repo)
            .tag(tag)
            .build();
        self.docker
            .tag_image(source, Some(opts))
            .await
            .map_err(|e| engine_err(&format!("tag image {source}"), e))
    }
}

/// One frame of a log read with timestamps: `<RFC 3339 nanos> <text>`, one
/// line per frame as the Engine sends it (split on newlines all the same).
fn split_log_frame(frame: &[u8]) -> Vec<Result<(i64, String)>> {
    let text = String::from_utf8_lossy(frame);
    let mut out = Vec::new();
    for line in text.split_terminator('\n') {
        let line = line.strip_suffix('\r').unwrap_or(line);
        let (stamp, rest) = line.split_once(' ').unwrap_or((line, ""));
        match humantime::parse_rfc3339(stamp) {
            Ok(t) => {
                let ns = t
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_nanos() as i64)
                    .unwrap_or(0);
                out.push(Ok((ns, rest.to_string())));
            }
            // A continuation without its own stamp keeps the previous one.
            Err(_) => match out.last() {
                Some(Ok((ns, _))) => {
                    let ns = *ns;
                    out.push(Ok((ns, line.to_string())))
                }
                _ => out.push(Ok((crate::logs::now_ns(), line.to_string()))),
            },
        }
    }
    out
}

#[cfg(test)]
mod log_tests {
    #[test]
    fn log_frames_split_into_stamped_lines() {
        let got = super::split_log_frame(b"2026-11-24T10:00:01.123456789Z hello world\n");
        let (ns, text) = got[0].as_ref().expect("line");
        assert_eq!(text, "hello world");
        assert_eq!(crate::api::time_ns(*ns), "2026-11-24T10:00:01.123456789Z");
        let got = super::split_log_frame(b"2026-11-24T10:00:01Z a\r\nno stamp\n");
        let texts: Vec<&str> = got
            .iter()
            .map(|r| r.as_ref().expect("line").1.as_str())
            .collect();
        assert_eq!(texts, ["a", "no stamp"]);
        assert_eq!(got[0].as_ref().expect("a").0, got[1].as_ref().expect("b").0);
        let got = super::split_log_frame(b"2026-11-24T10:00:01Z \n");
        assert_eq!(got[0].as_ref().expect("empty").1, "");
    }
}
