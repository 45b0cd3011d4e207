//! Making a release: the row and its deploy job in one transaction, for
//! every path that makes one (deploy, rollback, config changes, builds).

use std::collections::BTreeMap;

use crate::api;
use crate::error::Result;
use crate::store::{self, App, Db, NewJob, NewRelease, Release};

/// Creates a release and queues its rollout in the same transaction.
pub fn release_and_queue(
    db: &Db,
    app: &App,
    run: &store::Run,
    config: &BTreeMap<String, String>,
    description: &str,
    by: &str,
) -> Result<Release> {
    let now = store::now();
    let new = NewRelease {
        run: run.clone(),
        config: config.clone(),
        formation: db.formation(app)?,
        description: description.to_string(),
        by: by.to_string(),
    };
    let r = db.create_release(app, &new, now)?;
    // Release ids can be reused once an app is destroyed, so the job names
    // the app and version too and the handler checks them.
    let payload = api::DeployJob {
        release: r.id,
        app: app.id,
        version: r.version,
    };
    let mut job = NewJob::new(crate::jobs::DEPLOY, api::event_data(&payload), now);
    job.max_attempts = 3;
    db.enqueue(&job, now)?;
    Ok(r)
}
