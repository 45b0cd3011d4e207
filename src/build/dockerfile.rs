//! The `dockerfile` builder: a Dockerfile at the root of the pushed tree,
//! built through the Engine API from a tar of the tree at the pushed commit.
//! The tar is the same for the same tree (see `git::write_tar`) and nothing
//! per build goes into the build, so Docker's layer cache stays effective.

use super::{BuildFuture, Built, Ctx, Provider};
use crate::error::Error;
use crate::git::Source;

pub struct Dockerfile;

impl Provider for Dockerfile {
    fn name(&self) -> &'static str {
        "dockerfile"
    }

    fn detect(&self, src: &Source) -> bool {
        src.has("Dockerfile")
    }

    /// Procfile commands run through a shell, like Dokku's `CMD` override.
    fn command(&self, _process: &str, cmd: &str) -> Vec<String> {
        vec!["/bin/sh".into(), "-c".into(), cmd.into()]
    }

    fn release_command(&self, cmd: &str) -> Vec<String> {
        self.command("release", cmd)
    }

    fn build<'a>(&'a self, ctx: &'a Ctx) -> BuildFuture<'a> {
        Box::pin(async move {
            let context = ctx.work.join("context.tar");
            let (repo, q, commit, dest) = (
                ctx.repo.clone(),
                ctx.quarantine.clone(),
                ctx.source.commit.clone(),
                context.clone(),
            );
            tokio::task::spawn_blocking(move || {
                crate::git::write_tar(&repo, q.as_deref(), &commit, "", &dest)
            })
            .await
            .map_err(|e| Error::Internal(e.to_string()))??;
            let out = ctx.out.clone();
            let built = ctx
                .engine
                .build_image(&context, &ctx.tag, &ctx.labels(), ctx.limits, |l| {
                    out.info(l)
                })
                .await?;
            Ok(built
                .map(|()| Built {
                    image: ctx.tag.clone(),
                    slug: None,
                    runner: None,
                })
                .map_err(|e| format!("the Docker build failed: {e}")))
        })
    }
}
