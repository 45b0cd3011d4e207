-- Builds (git push). Append-only: add 0005_*.sql for changes.

-- builder: auto | dockerfile | herokuish. deploy_branch: NULL deploys main or master.
ALTER TABLE apps ADD COLUMN builder TEXT NOT NULL DEFAULT 'auto';
ALTER TABLE apps ADD COLUMN deploy_branch TEXT;

-- How each process type of a release runs ({"worker": ["/bin/sh", "-c", "…"]});
-- a type missing here runs the image's own command. The release command runs
-- once before the release takes traffic. slug: artifact key of a buildpack
-- release's slug, runner: the image the slug runs on (to rebuild a pruned image).
ALTER TABLE releases ADD COLUMN commands TEXT NOT NULL DEFAULT '{}';
ALTER TABLE releases ADD COLUMN release_command TEXT;
ALTER TABLE releases ADD COLUMN slug TEXT;
ALTER TABLE releases ADD COLUMN runner TEXT;

-- One row per push to the deploy branch. number counts per app.
-- status: building → succeeded | failed | canceled.
CREATE TABLE builds (
    id          INTEGER PRIMARY KEY,
    app_id      INTEGER NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
    number      INTEGER NOT NULL,
    builder     TEXT NOT NULL,
    commit_sha  TEXT NOT NULL,
    ref_name    TEXT NOT NULL,
    status      TEXT NOT NULL CHECK (status IN ('building', 'succeeded', 'failed', 'canceled')),
    reason      TEXT,
    release_id  INTEGER REFERENCES releases(id) ON DELETE SET NULL,
    log_key     TEXT,
    created_by  TEXT,
    started_at  INTEGER NOT NULL,
    finished_at INTEGER,
    UNIQUE (app_id, number)
);
CREATE INDEX builds_status ON builds(status);

-- Buildpack caches in the artifact store, one per app and cache key.
CREATE TABLE build_caches (
    id          INTEGER PRIMARY KEY,
    app_id      INTEGER NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
    cache_key   TEXT NOT NULL,
    artifact    TEXT NOT NULL,
    size_bytes  INTEGER NOT NULL,
    created_at  INTEGER NOT NULL,
    last_used_at INTEGER NOT NULL,
    UNIQUE (app_id, cache_key)
);

-- Artifacts whose deletion from the store is still owed (an app was destroyed
-- or a cache evicted while the store was unreachable).
CREATE TABLE artifact_trash (
    artifact    TEXT PRIMARY KEY,
    queued_at   INTEGER NOT NULL
);
