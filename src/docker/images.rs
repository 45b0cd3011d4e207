//! Images: the platform's release tags, pruning, builds through the Engine API.

use super::*;

/// The repository under which the platform tags the images its releases run.
pub fn app_repo(app: &str) -> String {
    format!("skypanel/{app}")
}

impl Engine {
    pub async fn image_exists(&self, image: &str) -> Result<bool> {
        match self.docker.inspect_image(image).await {
            Ok(_) => Ok(true),
            Err(e) if is_status(&e, 404) => Ok(false),
            Err(e) => Err(engine_err(&format!("inspect image {image}"), e)),
        }
    }

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
}

/// Streams a file as a request body, chunk by chunk.
pub(super) fn file_body(
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
