//! The app's git remote: `-a` comes from it when left out (Heroku's habit),
//! and `apps:create` adds it inside a repository.

use anyhow::{Result, anyhow};

pub const REMOTE: &str = "skypanel";

fn repo() -> Option<git2::Repository> {
    git2::Repository::discover(".").ok()
}

/// The app name in a URL like `http://host/git/shop.git`.
pub fn app_from_url(url: &str) -> Option<String> {
    let path = url.rsplit_once("/git/")?.1;
    let name = path
        .strip_suffix(".git")
        .unwrap_or(path)
        .trim_end_matches('/');
    (!name.is_empty() && !name.contains('/')).then(|| name.to_string())
}

/// The app named by the `skypanel` remote of the repository around the cwd.
pub fn app_from_remote() -> Option<String> {
    let repo = repo()?;
    let remote = repo.find_remote(REMOTE).ok()?;
    app_from_url(remote.url().ok()?)
}

/// `-a APP`, else the remote's app, else an error that says how to name one.
pub fn resolve_app(app: Option<String>) -> Result<String> {
    app.or_else(app_from_remote).ok_or_else(|| {
        anyhow!(
            "no app given: pass -a APP, or run this inside a git repository whose \"{REMOTE}\" remote points at \
             an app (`skypanel apps:create` adds it)"
        )
    })
}

pub enum RemoteOutcome {
    NotARepo,
    Added,
    AlreadySet,
    /// The remote exists and points elsewhere; left untouched.
    PointsElsewhere(String),
}

pub fn add_remote(name: &str, url: &str) -> Result<RemoteOutcome> {
    let Some(repo) = repo() else {
        return Ok(RemoteOutcome::NotARepo);
    };
    if let Ok(existing) = repo.find_remote(name) {
        let current = existing.url().unwrap_or_default().to_string();
        return Ok(if current == url {
            RemoteOutcome::AlreadySet
        } else {
            RemoteOutcome::PointsElsewhere(current)
        });
    }
    repo.remote(name, url)
        .map_err(|e| anyhow!("cannot add the git remote {name}: {}", e.message()))?;
    Ok(RemoteOutcome::Added)
}

/// Lets git in the current repository ask `skypanel git-credential` for the
/// token when it talks to `server`, so pushes never prompt.
pub fn set_credential_helper(server: &str) -> Result<()> {
    let Some(repo) = repo() else {
        return Ok(());
    };
    let exe =
        std::env::current_exe().map_err(|e| anyhow!("cannot find the skypanel binary: {e}"))?;
    let quoted = exe.display().to_string().replace('\'', r"'\''");
    let mut cfg = repo
        .config()
        .and_then(|c| c.open_level(git2::ConfigLevel::Local))
        .map_err(|e| anyhow!("cannot open the repository's git config: {}", e.message()))?;
    let key = format!("credential.{server}.helper");
    // An empty value first resets helpers from other config files for this server.
    let _ = cfg.remove_multivar(&key, ".*");
    cfg.set_multivar(&key, "^$", "")
        .and_then(|_| cfg.set_multivar(&key, "^!", &format!("!'{quoted}' git-credential")))
        .map_err(|e| anyhow!("cannot set the git credential helper: {}", e.message()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::app_from_url;

    #[test]
    fn app_names_from_remote_urls() {
        assert_eq!(
            app_from_url("http://127.0.0.1:7780/git/shop.git").as_deref(),
            Some("shop")
        );
        assert_eq!(
            app_from_url("https://panel.example.com/git/my-app").as_deref(),
            Some("my-app")
        );
        assert_eq!(app_from_url("git@github.com:me/shop.git"), None);
        assert_eq!(app_from_url("http://h/git/.git"), None);
    }
}
