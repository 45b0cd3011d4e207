-- Releases (Swarm runtime). Append-only: add 0003_*.sql for changes.

-- The desired process formation ({"web": 1}) and the deploy checks of each app.
ALTER TABLE apps ADD COLUMN formation TEXT NOT NULL DEFAULT '{"web":1}';
ALTER TABLE apps ADD COLUMN check_path TEXT NOT NULL DEFAULT '/';
ALTER TABLE apps ADD COLUMN check_attempts INTEGER NOT NULL DEFAULT 10;
ALTER TABLE apps ADD COLUMN check_timeout INTEGER NOT NULL DEFAULT 5;
ALTER TABLE apps ADD COLUMN check_wait INTEGER NOT NULL DEFAULT 1;
ALTER TABLE apps ADD COLUMN checks_enabled INTEGER NOT NULL DEFAULT 1;

-- vN of an app: an image, a sealed snapshot of its config and its formation.
-- status: pending → deploying → live → superseded, or → failed (with reason).
CREATE TABLE releases (
    id          INTEGER PRIMARY KEY,
    app_id      INTEGER NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
    version     INTEGER NOT NULL,
    image       TEXT NOT NULL,
    config_enc  BLOB NOT NULL,
    formation   TEXT NOT NULL,
    status      TEXT NOT NULL CHECK (status IN ('pending', 'deploying', 'live', 'superseded', 'failed')),
    description TEXT NOT NULL,
    reason      TEXT,
    created_by  TEXT,
    created_at  INTEGER NOT NULL,
    finished_at INTEGER,
    UNIQUE (app_id, version)
);
CREATE INDEX releases_status ON releases(status);
