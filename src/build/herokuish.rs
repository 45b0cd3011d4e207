//! The `herokuish` builder: Heroku buildpacks run in a builder container
//! (setting `buildpack_builder_image`, gliderlabs/herokuish by default). Its
//! contract, herokuish's: the app is unpacked at `/app`, the build cache is
//! at `/tmp/cache`, `/build` runs the buildpacks in place, the built `/app`
//! is the slug, and a runner image starts a process type with `/start TYPE`
//! (`/exec CMD` runs a command in the app's environment).
//!
//! The slug is kept as a zstd tar in the artifact store, and the runtime
//! image is the runner image plus the slug, so a pruned image can be rebuilt
//! from the slug (rollback to an old release). The cache is restored before
//! the build and saved after a successful one, under the seeds' key
//! sha1(app:builder:stack), with a TTL, a size cap per cache and a global cap
//! kept by evicting the least recently used caches.

use std::path::{Path, PathBuf};

use super::{BuildFuture, Built, Ctx, Provider, sha1_hex};
use crate::artifacts::{self, Artifacts};
use crate::docker::{Engine, Limits, RunDef};
use crate::error::{Error, Result};
use crate::git::Source;
use crate::store::{self, App, Store};

pub struct Herokuish;

/// Files a buildpack detects, for detection and the error that lists them.
pub const DETECTED: &[&str] = &[
    "Procfile",
    "package.json",
    "requirements.txt",
    "Pipfile",
    "Gemfile",
    "go.mod",
    "composer.json",
    "pom.xml",
    "build.gradle",
    "Cargo.toml",
    "mix.exs",
    "project.clj",
    "index.html",
    "index.php",
    ".buildpacks",
];

fn builder_name(instance: &str, app: &str, number: i64) -> String {
    format!(
        "sp-build-{}-{app}-{number}",
        instance.get(..8).unwrap_or(instance)
    )
}

/// Removes the build's builder container, if any (cancel, failure).
pub async fn remove_builder(ctx: &Ctx) {
    let name = builder_name(&ctx.instance, &ctx.app.name, ctx.build.number);
    let _ = ctx.engine.remove_container(&name).await;
}

struct Settings {
    builder: String,
    runner: String,
    stack: String,
    cache_enabled: bool,
    ttl_hours: i64,
    max_mb: i64,
}

impl Provider for Herokuish {
    fn name(&self) -> &'static str {
        "herokuish"
    }

    fn detect(&self, src: &Source) -> bool {
        DETECTED.iter().any(|f| src.has(f))
    }

    fn command(&self, process: &str, _cmd: &str) -> Vec<String> {
        vec!["/start".into(), process.into()]
    }

    fn release_command(&self, cmd: &str) -> Vec<String> {
        vec!["/exec".into(), "/bin/sh".into(), "-c".into(), cmd.into()]
    }

    fn build<'a>(&'a self, ctx: &'a Ctx) -> BuildFuture<'a> {
        Box::pin(async move {
            let r = build(ctx).await;
            remove_builder(ctx).await;
            r
        })
    }
}

async fn build(ctx: &Ctx) -> Result<std::result::Result<Built, String>> {
    let c = &ctx.settings;
    let builder = c.buildpack_builder_image.clone();
    let s = Settings {
        runner: match &c.buildpack_runner_image {
            r if r.is_empty() => builder.clone(),
            r => r.clone(),
        },
        builder,
        stack: c.buildpack_default_stack.clone(),
        cache_enabled: c.buildpack_cache_enabled,
        ttl_hours: c.buildpack_cache_ttl_hours,
        max_mb: c.buildpack_cache_max_size_mb,
    };
    for image in [&s.builder, &s.runner] {
        if !ctx.engine.image_exists(image).await? {
            return Ok(Err(format!(
                "the buildpack image {image} is not on this server: load it (`docker load`) or point the \
                 buildpack_builder_image / buildpack_runner_image settings at one that is"
            )));
        }
    }
    let app_tar = ctx.work.join("app.tar");
    let (repo, q, commit, dest) = (
        ctx.repo.clone(),
        ctx.quarantine.clone(),
        ctx.source.commit.clone(),
        app_tar.clone(),
    );
    tokio::task::spawn_blocking(move || {
        crate::git::write_tar(&repo, q.as_deref(), &commit, "app/", &dest)
    })
    .await
    .map_err(|e| Error::Internal(e.to_string()))??;
    let cache_key = sha1_hex(&format!("{}:herokuish:{}", ctx.app.id, s.stack));
    let restored = if s.cache_enabled {
        restore_cache(ctx, &cache_key, s.ttl_hours).await?
    } else {
        None
    };
    let name = builder_name(&ctx.instance, &ctx.app.name, ctx.build.number);
    let _ = ctx.engine.remove_container(&name).await;
    let id = ctx
        .engine
        .create_container(&RunDef {
            name,
            image: s.builder.clone(),
            cmd: Some(vec!["/build".into()]),
            env: ctx.env.clone(),
            labels: {
                let mut l = ctx.labels();
                l.insert(crate::docker::INSTANCE.to_string(), ctx.instance.clone());
                l.insert(crate::docker::ONEOFF.to_string(), "build".into());
                l
            },
            limits: ctx.limits,
            ..Default::default()
        })
        .await?;
    ctx.engine.upload(&id, "/", &app_tar).await?;
    if let Some(cache_tar) = &restored {
        ctx.engine.upload(&id, "/tmp", cache_tar).await?;
    }
    let out = ctx.out.clone();
    let code = ctx.engine.run_to_end(&id, |l| out.info(l)).await?;
    if code != 0 {
        return Ok(Err(format!(
            "the buildpack build failed (/build exited with {code})"
        )));
    }
    // The slug: the built /app.
    let slug_tar = ctx.work.join("slug.tar");
    if !ctx.engine.download(&id, "/app", &slug_tar).await? {
        return Ok(Err("the builder left no /app".into()));
    }
    let slug_zst = ctx.work.join("slug.tar.zst");
    artifacts::compress(slug_tar.clone(), slug_zst.clone()).await?;
    let slug_key = artifacts::new_key(&format!("slugs/{}", ctx.app.name), "tar.zst");
    let size = ctx.artifacts.put_file(&slug_key, &slug_zst).await?;
    ctx.out
        .info(&format!("Slug stored: {} ({})", slug_key, human(size)));
    if s.cache_enabled {
        save_cache(ctx, &id, &cache_key, s.max_mb).await?;
    }
    // The runtime image: runner + slug.
    match image_from_slug(
        &ctx.engine,
        &slug_tar,
        &s.runner,
        &ctx.tag,
        &ctx.labels(),
        &ctx.work,
        ctx.limits,
        |l| ctx.out.info(l),
    )
    .await?
    {
        Ok(()) => Ok(Ok(Built {
            image: ctx.tag.clone(),
            slug: Some(slug_key),
            runner: Some(s.runner),
        })),
        Err(e) => Ok(Err(format!("the runtime image could not be built: {e}"))),
    }
}

fn human(bytes: u64) -> String {
    if bytes >= 1024 * 1024 {
        format!("{:.1} MB", bytes as f64 / 1048576.0)
    } else {
        format!("{:.1} KB", bytes as f64 / 1024.0)
    }
}

/// Fetches a valid cache into a tar whose entries are under `cache/`.
async fn restore_cache(ctx: &Ctx, key: &str, ttl_hours: i64) -> Result<Option<PathBuf>> {
    let (a, k) = (ctx.app.clone(), key.to_string());
    let Some(cache) = ctx.store.read(move |db| db.build_cache(&a, &k)).await? else {
        ctx.out.info("No build cache yet");
        return Ok(None);
    };
    if cache.last_used_at < store::now() - ttl_hours * 3600 {
        ctx.out.info(&format!(
            "Build cache expired (unused for over {ttl_hours} h); building without it"
        ));
        return Ok(None);
    }
    let zst = ctx.work.join("cache-in.tar.zst");
    let tar = ctx.work.join("cache-in.tar");
    match ctx.artifacts.get_file(&cache.artifact, &zst).await {
        Ok(true) => {}
        Ok(false) => {
            ctx.out
                .info("Build cache missing from the artifact store; building without it");
            return Ok(None);
        }
        Err(e) => {
            ctx.out.info(&format!(
                "Build cache unavailable ({e}); building without it"
            ));
            return Ok(None);
        }
    }
    artifacts::decompress(zst, tar.clone()).await?;
    let id = cache.id;
    ctx.store
        .write(move |db| db.touch_build_cache(id, store::now()))
        .await?;
    ctx.out.info(&format!(
        "Restored build cache ({})",
        human(cache.size_bytes as u64)
    ));
    Ok(Some(tar))
}

async fn save_cache(ctx: &Ctx, container: &str, key: &str, max_mb: i64) -> Result<()> {
    let tar = ctx.work.join("cache-out.tar");
    if !ctx.engine.download(container, "/tmp/cache", &tar).await? {
        return Ok(());
    }
    let zst = ctx.work.join("cache-out.tar.zst");
    artifacts::compress(tar, zst.clone()).await?;
    let size = tokio::fs::metadata(&zst).await?.len();
    if size > (max_mb as u64) * 1024 * 1024 {
        ctx.out.info(&format!(
            "Build cache is {}, over buildpack_cache_max_size_mb ({max_mb} MB): not saved",
            human(size)
        ));
        return Ok(());
    }
    let artifact = artifacts::new_key(&format!("caches/{}", ctx.app.name), "tar.zst");
    ctx.artifacts.put_file(&artifact, &zst).await?;
    let (a, k, art) = (ctx.app.clone(), key.to_string(), artifact.clone());
    let replaced = ctx
        .store
        .write(move |db| db.put_build_cache(&a, &k, &art, size as i64, store::now()))
        .await?;
    if let Some(old) = replaced {
        delete_or_trash(&ctx.store, &ctx.artifacts, &old).await;
    }
    ctx.out
        .info(&format!("Saved build cache ({})", human(size)));
    evict(&ctx.store, &ctx.artifacts).await
}

/// Deletes an artifact now, or records it to be deleted later.
pub async fn delete_or_trash(store: &Store, artifacts: &Artifacts, key: &str) {
    if let Err(e) = artifacts.delete(key).await {
        tracing::warn!(artifact = key, error = %e, "cannot delete an artifact; will retry");
        let k = key.to_string();
        let _ = store
            .write(move |db| db.trash_artifact(&k, store::now()))
            .await;
    }
}

/// Keeps all caches together under `buildpack_cache_total_max_mb`, evicting
/// the least recently used first.
pub async fn evict(store: &Store, artifacts: &Artifacts) -> Result<()> {
    let (caches, cap) = store
        .read(|db| {
            Ok((
                db.build_caches_lru()?,
                db.setting_i64("buildpack_cache_total_max_mb")? * 1024 * 1024,
            ))
        })
        .await?;
    let mut total: i64 = caches.iter().map(|c| c.size_bytes).sum();
    for c in caches {
        if total <= cap {
            break;
        }
        total -= c.size_bytes;
        let id = c.id;
        store.write(move |db| db.delete_build_cache(id)).await?;
        delete_or_trash(store, artifacts, &c.artifact).await;
        tracing::info!(artifact = %c.artifact, "evicted a build cache (buildpack_cache_total_max_mb)");
    }
    Ok(())
}

/// Deletes every build cache of an app (`repo:purge-cache`); returns how many.
pub async fn purge_caches(store: &Store, artifacts: &Artifacts, app: &App) -> Result<usize> {
    let a = app.clone();
    let caches = store.read(move |db| db.app_build_caches(&a)).await?;
    for c in &caches {
        let id = c.id;
        store.write(move |db| db.delete_build_cache(id)).await?;
        delete_or_trash(store, artifacts, &c.artifact).await;
    }
    Ok(caches.len())
}

/// Builds the runtime image `tag`: `runner` plus the slug (a tar whose
/// entries are under `app/`).
#[allow(clippy::too_many_arguments)]
pub async fn image_from_slug(
    engine: &Engine,
    slug_tar: &Path,
    runner: &str,
    tag: &str,
    labels: &std::collections::HashMap<String, String>,
    work: &Path,
    limits: Limits,
    line: impl FnMut(&str),
) -> Result<std::result::Result<(), String>> {
    let context = work.join("runtime-context.tar");
    let (slug, ctx_path, dockerfile) = (
        slug_tar.to_path_buf(),
        context.clone(),
        format!("FROM {runner}\nCOPY app/ /app/\n"),
    );
    tokio::task::spawn_blocking(move || -> Result<()> {
        let out = std::fs::File::create(&ctx_path)?;
        let mut b = tar::Builder::new(std::io::BufWriter::new(out));
        let mut h = tar::Header::new_gnu();
        h.set_size(dockerfile.len() as u64);
        h.set_mode(0o644);
        h.set_mtime(0);
        b.append_data(&mut h, "Dockerfile", dockerfile.as_bytes())?;
        let mut slug = tar::Archive::new(std::fs::File::open(&slug)?);
        for entry in slug.entries()? {
            let mut entry = entry?;
            let mut header = entry.header().clone();
            let path = entry.path()?.into_owned();
            if !path.starts_with("app") {
                continue;
            }
            // Links keep their target in the header; data is copied as is.
            b.append_data(&mut header, &path, &mut entry)?;
        }
        b.into_inner()?
            .into_inner()
            .map_err(|e| Error::from(e.into_error()))?;
        Ok(())
    })
    .await
    .map_err(|e| Error::Internal(e.to_string()))??;
    engine
        .build_image(&context, tag, labels, limits, line)
        .await
}

/// Rebuilds a release's image from its stored slug (the image was pruned).
/// Returns the image reference the release should now run.
pub async fn rebuild_from_slug(
    engine: &Engine,
    artifacts: &Artifacts,
    app: &App,
    slug: &str,
    runner: &str,
    work: &Path,
) -> std::result::Result<String, String> {
    let inner = async {
        tokio::fs::create_dir_all(work).await?;
        let zst = work.join("slug.tar.zst");
        let tar = work.join("slug.tar");
        if !artifacts.get_file(slug, &zst).await? {
            return Ok(Err(format!(
                "its slug {slug} is no longer in the artifact store"
            )));
        }
        artifacts::decompress(zst, tar.clone()).await?;
        let tag = format!("skypanel-build/{}:rebuild", app.name);
        let labels =
            std::collections::HashMap::from([(crate::docker::APP.to_string(), app.name.clone())]);
        if let Err(e) = image_from_slug(
            engine,
            &tar,
            runner,
            &tag,
            &labels,
            work,
            Limits::default(),
            |_| {},
        )
        .await?
        {
            return Ok(Err(e));
        }
        let image = engine.tag_for_app(&tag, &app.name).await?;
        engine.untag(&tag).await?;
        Ok::<_, Error>(Ok(image))
    };
    let r = inner.await;
    let _ = tokio::fs::remove_dir_all(work).await;
    match r {
        Ok(x) => x,
        Err(e) => Err(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Caches over the global cap go least recently used first, from the
    /// database and from the (real, local) artifact store.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn eviction_keeps_the_global_cap_least_recently_used_first() {
        let (dir, store) = crate::store::test_store();
        let artifacts = Artifacts::Local(dir.path().join("storage"));
        let (apps, mb) = store
            .write_sync(|db| {
                db.seed_plans(1)?;
                let u = db.create_user("o@example.com", false, 1)?;
                let org = db.create_org("acme", u.id, 1)?;
                let plan = db.plan_named("hobby")?;
                let apps = ["one", "two", "three"]
                    .iter()
                    .map(|n| db.create_app(n, org.id, plan.id, u.id, 1))
                    .collect::<Result<Vec<_>>>()?;
                db.put_setting(
                    crate::settings::lookup("buildpack_cache_total_max_mb")?,
                    "2",
                    1,
                )?;
                Ok((apps, 1024 * 1024))
            })
            .expect("seed");
        let file = dir.path().join("blob");
        std::fs::write(&file, vec![7u8; mb]).expect("write");
        // Saved in order one, two, three; then one is used again.
        for (i, app) in apps.iter().enumerate() {
            let key = format!("caches/{}/c.tar.zst", app.name);
            artifacts.put_file(&key, &file).await.expect("put");
            let a = app.clone();
            store
                .write(move |db| db.put_build_cache(&a, "k", &key, mb as i64, 10 + i as i64))
                .await
                .expect("record");
        }
        let one = apps[0].clone();
        let id = store
            .read(move |db| db.build_cache(&one, "k"))
            .await
            .expect("read")
            .expect("cache")
            .id;
        store
            .write(move |db| db.touch_build_cache(id, 100))
            .await
            .expect("touch");
        evict(&store, &artifacts).await.expect("evict");
        let left: Vec<String> = store
            .read(|db| db.build_caches_lru())
            .await
            .expect("list")
            .into_iter()
            .map(|c| c.artifact)
            .collect();
        assert_eq!(left, ["caches/three/c.tar.zst", "caches/one/c.tar.zst"]);
        let gone = dir.path().join("storage/caches/two/c.tar.zst");
        assert!(
            !gone.exists(),
            "the evicted cache is deleted from the store"
        );
        assert!(dir.path().join("storage/caches/one/c.tar.zst").exists());
    }
}
