//! Swarm nodes: list with capacity and reservations, availability, removal.

use super::*;

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
