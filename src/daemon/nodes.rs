//! Swarm nodes and platform events (admins only).

use axum::Json;
use axum::extract::{Path, Query, State as S};

use super::State;
use super::auth::Caller;
use super::error::ApiError;
use crate::api;
use crate::error::{Error, Result};
use crate::store::{self, Node};
use crate::units::format_cpu;

type R<T> = std::result::Result<T, ApiError>;

fn view(n: &Node) -> api::Node {
    api::Node {
        id: n.id.clone(),
        hostname: n.hostname.clone(),
        role: n.role.clone(),
        status: n.status.clone(),
        availability: n.availability.clone(),
        addr: n.addr.clone(),
        engine: n.engine.clone(),
        cpus: format_cpu(n.cpus_nano / 1_000_000),
        memory_mb: n.memory_bytes / (1024 * 1024),
        reserved_cpus: format_cpu(n.reserved_nano / 1_000_000),
        reserved_memory_mb: n.reserved_bytes / (1024 * 1024),
        tasks: n.tasks,
        last_heartbeat: api::time(n.last_heartbeat),
    }
}

/// Fresh figures from the engine (also stored, with events for changes).
async fn refresh(state: &State) -> Result<Vec<Node>> {
    crate::monitor::check_nodes(
        &state.engine,
        state.runtime.events(),
        &state.store,
        &state.settings,
    )
    .await
}

async fn find(state: &State, key: String) -> Result<Node> {
    refresh(state).await?;
    state
        .store
        .read(move |db| {
            db.node(&key)?.ok_or_else(|| {
                Error::NotFound(format!(
                    "no node \"{}\": run `skypanel admin nodes` to list them",
                    crate::validate::printable(&key)
                ))
            })
        })
        .await
}

pub async fn list(S(state): S<State>, caller: Caller) -> R<Json<Vec<api::Node>>> {
    caller.require_admin()?;
    refresh(&state).await?;
    let nodes = state.store.read(|db| db.nodes()).await?;
    Ok(Json(nodes.iter().map(view).collect()))
}

pub async fn info(
    S(state): S<State>,
    caller: Caller,
    Path(key): Path<String>,
) -> R<Json<api::Node>> {
    caller.require_admin()?;
    Ok(Json(view(&find(&state, key).await?)))
}

async fn set_availability(
    state: State,
    caller: Caller,
    key: String,
    availability: &str,
) -> R<Json<api::Node>> {
    caller.require_admin()?;
    let node = find(&state, key).await?;
    state
        .runtime
        .engine()
        .await?
        .set_availability(&node.id, availability)
        .await?;
    let nodes = refresh(&state).await?;
    let n = nodes.into_iter().find(|n| n.id == node.id).unwrap_or(node);
    Ok(Json(view(&n)))
}

pub async fn drain(
    S(state): S<State>,
    caller: Caller,
    Path(key): Path<String>,
) -> R<Json<api::Node>> {
    set_availability(state, caller, key, "drain").await
}

pub async fn activate(
    S(state): S<State>,
    caller: Caller,
    Path(key): Path<String>,
) -> R<Json<api::Node>> {
    set_availability(state, caller, key, "active").await
}

pub async fn remove(
    S(state): S<State>,
    caller: Caller,
    Path(key): Path<String>,
) -> R<Json<api::Node>> {
    caller.require_admin()?;
    let node = find(&state, key).await?;
    if node.status == "ready" {
        return Err(Error::Conflict(format!(
            "node {} is still ready: drain it, run `docker swarm leave` on it, then remove it",
            node.hostname
        ))
        .into());
    }
    state.engine.get().await?.remove_node(&node.id).await?;
    let (id, host) = (node.id.clone(), node.hostname.clone());
    state
        .store
        .write(move |db| {
            db.delete_node(&id)?;
            db.add_event(
                "info",
                "node_removed",
                None,
                Some(&host),
                &format!("node {host} removed"),
                store::now(),
            )
        })
        .await?;
    Ok(Json(view(&node)))
}

pub async fn join_command(
    S(state): S<State>,
    caller: Caller,
    Query(q): Query<api::JoinQuery>,
) -> R<Json<api::JoinCommand>> {
    caller.require_admin()?;
    let swarm = state.engine.get().await?.ensure_swarm(None).await?;
    let token = if q.manager {
        swarm.manager_token
    } else {
        swarm.worker_token
    };
    let addr = if swarm.manager_addr.contains(':') {
        swarm.manager_addr.clone()
    } else {
        format!("{}:2377", swarm.manager_addr)
    };
    Ok(Json(api::JoinCommand {
        role: if q.manager { "manager" } else { "worker" }.into(),
        command: format!("docker swarm join --token {token} {addr}"),
    }))
}

pub async fn events(
    S(state): S<State>,
    caller: Caller,
    Query(q): Query<api::EventsQuery>,
) -> R<Json<Vec<api::Event>>> {
    caller.require_admin()?;
    let limit = q.limit.unwrap_or(100).clamp(1, 10_000);
    let list = state.store.read(move |db| db.events(limit)).await?;
    Ok(Json(
        list.into_iter()
            .map(|e| api::Event {
                id: e.id,
                at: api::time(e.at),
                level: e.level,
                kind: e.kind,
                app: e.app,
                node: e.node,
                message: e.message,
            })
            .collect(),
    ))
}

/// Runs reconciliation now; answers with the actions taken.
pub async fn reconcile(S(state): S<State>, caller: Caller) -> R<Json<Vec<String>>> {
    caller.require_admin()?;
    Ok(Json(state.runtime.reconcile().await?))
}
