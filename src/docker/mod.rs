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

mod containers;
mod images;
mod nodes;
mod services;

pub use containers::{Limits, RunDef};
pub use images::app_repo;
pub use nodes::NodeInfo;

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

#[derive(Debug, Clone, Default, PartialEq)]
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

    /// Ended in failure: crashed, killed, or refused by its node.
    pub fn failed(&self) -> bool {
        matches!(self.state.as_str(), "failed" | "rejected")
    }
}

/// The engine, connected on first use and shared after by every part of
/// the daemon that talks to it.
#[derive(Clone, Default)]
pub struct EngineCell(std::sync::Arc<tokio::sync::Mutex<Option<Engine>>>);

impl EngineCell {
    pub async fn get(&self) -> Result<Engine> {
        let mut e = self.0.lock().await;
        if let Some(engine) = e.as_ref() {
            return Ok(engine.clone());
        }
        let engine = Engine::connect().await?;
        *e = Some(engine.clone());
        Ok(engine)
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
    async fn network_exists(&self, name: &str) -> bool {
        self.docker
            .inspect_network(
                name,
                None::<bollard::query_parameters::InspectNetworkOptions>,
            )
            .await
            .is_ok()
    }

    /// Creates the overlay network `name` unless it exists. Two callers at
    /// once (two `admin init`s, two deploys of one org) may both try:
    /// Swarm answers the loser 409, or 500 "name conflicts with an existing
    /// object", and either way the network is there.
    pub async fn ensure_network(&self, name: &str, labels: HashMap<String, String>) -> Result<()> {
        if self.network_exists(name).await {
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
            Err(_) if self.network_exists(name).await => Ok(()),
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
}
