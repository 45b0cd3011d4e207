//! One-off containers (buildpack builds, release commands): create, copy
//! files in and out, run to the end, kill, stats, remove.

use super::images::file_body;
use super::*;

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
}
