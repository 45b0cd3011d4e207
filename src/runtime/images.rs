//! Release image tags: a hold while a new tag is made and its release
//! written, and the prune after a rollout that keeps the newest
//! `release_images_keep` releases' images and the live one.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use super::Runtime;
use crate::api::ReleaseStatus;
use crate::docker::Engine;
use crate::error::Result;
use crate::store::{App, Release};

/// Apps whose next release image is being tagged: pruning waits for it.
#[derive(Default)]
pub(super) struct Tagging(Arc<Mutex<HashMap<i64, usize>>>);

/// Held while a new release image is tagged and its release row written; an
/// image prune of the app that starts meanwhile leaves every tag alone.
pub struct TagHold {
    map: Arc<Mutex<HashMap<i64, usize>>>,
    app_id: i64,
}

impl Drop for TagHold {
    fn drop(&mut self) {
        let mut m = self.map.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = m.get_mut(&self.app_id) {
            *n -= 1;
            if *n == 0 {
                m.remove(&self.app_id);
            }
        }
    }
}

impl Tagging {
    fn hold(&self, app_id: i64) -> TagHold {
        *self
            .0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(app_id)
            .or_default() += 1;
        TagHold {
            map: Arc::clone(&self.0),
            app_id,
        }
    }

    fn held(&self, app_id: i64) -> bool {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains_key(&app_id)
    }
}

/// The images to keep, of releases listed newest first: the newest `n`
/// that did not fail, and every release live or on its way.
fn images_to_keep(releases: &[Release], n: usize) -> HashSet<String> {
    releases
        .iter()
        .filter(|r| r.status != ReleaseStatus::Failed)
        .take(n)
        .chain(releases.iter().filter(|r| {
            matches!(
                r.status,
                ReleaseStatus::Live | ReleaseStatus::Pending | ReleaseStatus::Deploying
            )
        }))
        .map(|r| r.run.image.clone())
        .collect()
}

impl Runtime {
    /// See [`TagHold`]: take it before tagging, drop it once the release
    /// that names the tag is stored.
    pub fn hold_tags(&self, app_id: i64) -> TagHold {
        self.tagging.hold(app_id)
    }

    /// Keeps the images of the newest `release_images_keep` releases (and the
    /// live one); removes the app's other platform tags.
    pub(super) async fn prune_images(&self, engine: &Engine, app: &App) -> Result<()> {
        // The order matters: list the tags, then check for a tag being made,
        // then read the releases. A tag made after the listing is not in it;
        // one made before is either still held or already named by a release.
        let tags = engine.app_images(&app.name).await?;
        if self.tagging.held(app.id) {
            return Ok(());
        }
        let a = app.clone();
        let n = self.settings.get().release_images_keep.max(1) as usize;
        let keep = self
            .store
            .read(move |db| Ok(images_to_keep(&db.releases(&a)?, n)))
            .await?;
        for tag in tags {
            if !keep.contains(&tag) {
                engine.untag(&tag).await?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Run;

    fn release(version: i64, status: ReleaseStatus) -> Release {
        Release {
            id: version,
            app_id: 1,
            version,
            run: Run::image(&format!("skypanel/shop:{version}")),
            formation: Default::default(),
            status,
            description: String::new(),
            reason: None,
            created_by: None,
            created_at: 0,
            finished_at: None,
        }
    }

    #[test]
    fn prune_keeps_the_newest_that_did_not_fail_and_the_live_one() {
        use ReleaseStatus::*;
        // Newest first, as the store lists them.
        let releases = vec![
            release(6, Failed),
            release(5, Superseded),
            release(4, Superseded),
            release(3, Superseded),
            release(2, Live),
            release(1, Superseded),
        ];
        let keep = images_to_keep(&releases, 2);
        let mut keep: Vec<_> = keep.into_iter().collect();
        keep.sort();
        assert_eq!(
            keep,
            vec!["skypanel/shop:2", "skypanel/shop:4", "skypanel/shop:5"],
            "the failed v6 does not count against the two kept"
        );
    }

    #[test]
    fn prune_never_takes_a_release_on_its_way() {
        use ReleaseStatus::*;
        let releases = vec![release(3, Pending), release(2, Deploying), release(1, Live)];
        assert_eq!(images_to_keep(&releases, 1).len(), 3);
    }

    #[test]
    fn a_tag_hold_lasts_until_its_last_holder_drops_it() {
        let t = Tagging::default();
        let a = t.hold(7);
        let b = t.hold(7);
        drop(a);
        assert!(t.held(7));
        drop(b);
        assert!(!t.held(7));
        assert!(!t.held(8));
    }
}
