-- Stopped apps, Swarm nodes and platform events. Append-only.

ALTER TABLE apps ADD COLUMN stopped INTEGER NOT NULL DEFAULT 0;

-- What the node monitor last saw of each Swarm node.
CREATE TABLE nodes (
    id              TEXT PRIMARY KEY,
    hostname        TEXT NOT NULL,
    role            TEXT NOT NULL,
    status          TEXT NOT NULL,
    availability    TEXT NOT NULL,
    addr            TEXT NOT NULL,
    engine          TEXT NOT NULL,
    cpus_nano       INTEGER NOT NULL,
    memory_bytes    INTEGER NOT NULL,
    reserved_nano   INTEGER NOT NULL,
    reserved_bytes  INTEGER NOT NULL,
    tasks           INTEGER NOT NULL,
    first_seen      INTEGER NOT NULL,
    last_heartbeat  INTEGER NOT NULL
);

-- Alerts and lifecycle events: node down/up, deploy failed, task restarted …
CREATE TABLE events (
    id      INTEGER PRIMARY KEY,
    at      INTEGER NOT NULL,
    level   TEXT NOT NULL CHECK (level IN ('info', 'warning', 'error')),
    kind    TEXT NOT NULL,
    app     TEXT,
    node    TEXT,
    message TEXT NOT NULL
);
CREATE INDEX events_at ON events(at);
