//! Swarm services and their tasks: create, list, scale, update, remove;
//! task states, ports and logs.

use super::*;

impl Engine {
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

    /// Replaces every task of a service (a rolling update with nothing changed).
    pub async fn force_update_service(&self, id: &str) -> Result<()> {
        self.update_spec(id, "update", |spec| {
            let mut template = spec.task_template.take().unwrap_or_default();
            template.force_update = Some(template.force_update.unwrap_or(0) + 1);
            spec.task_template = Some(template);
        })
        .await
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
