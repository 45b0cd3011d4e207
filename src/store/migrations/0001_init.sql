-- SkyPanel schema, version 1. Migrations are append-only: never edit this file,
-- add 0002_*.sql instead. Times are unix seconds (UTC). Money is integer micro-units.

CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value BLOB NOT NULL
);

CREATE TABLE users (
    id         INTEGER PRIMARY KEY,
    email      TEXT NOT NULL UNIQUE COLLATE NOCASE,
    is_admin   INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL
);

CREATE TABLE api_tokens (
    id           INTEGER PRIMARY KEY,
    user_id      INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    token_hash   BLOB NOT NULL UNIQUE,
    prefix       TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    last_used_at INTEGER,
    revoked_at   INTEGER
);
CREATE INDEX api_tokens_user ON api_tokens(user_id);

CREATE TABLE orgs (
    id         INTEGER PRIMARY KEY,
    name       TEXT NOT NULL UNIQUE,
    created_at INTEGER NOT NULL
);

CREATE TABLE memberships (
    org_id     INTEGER NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    user_id    INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    role       TEXT NOT NULL CHECK (role IN ('owner', 'member')),
    created_at INTEGER NOT NULL,
    PRIMARY KEY (org_id, user_id)
);
CREATE INDEX memberships_user ON memberships(user_id);

CREATE TABLE plans (
    id                  INTEGER PRIMARY KEY,
    name                TEXT NOT NULL UNIQUE,
    cpu_millis          INTEGER NOT NULL CHECK (cpu_millis > 0),
    memory_mb           INTEGER NOT NULL CHECK (memory_mb > 0),
    max_replicas        INTEGER NOT NULL CHECK (max_replicas > 0),
    price_hourly_micros INTEGER NOT NULL CHECK (price_hourly_micros >= 0),
    features            TEXT NOT NULL DEFAULT '[]',
    created_at          INTEGER NOT NULL,
    updated_at          INTEGER NOT NULL
);

-- A row holds either a plain value or, for secret keys, a sealed one.
CREATE TABLE settings (
    key        TEXT PRIMARY KEY,
    value      TEXT,
    value_enc  BLOB,
    updated_at INTEGER NOT NULL
);

CREATE TABLE apps (
    id         INTEGER PRIMARY KEY,
    name       TEXT NOT NULL UNIQUE,
    org_id     INTEGER NOT NULL REFERENCES orgs(id),
    plan_id    INTEGER NOT NULL REFERENCES plans(id),
    created_by INTEGER REFERENCES users(id) ON DELETE SET NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX apps_org ON apps(org_id);

CREATE TABLE config_vars (
    app_id     INTEGER NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
    key        TEXT NOT NULL,
    value_enc  BLOB NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (app_id, key)
);

-- The work queue. A worker claims a job inside an IMMEDIATE transaction and
-- holds it until lease_until; a job whose lease expires is claimed again.
CREATE TABLE jobs (
    id           INTEGER PRIMARY KEY,
    kind         TEXT NOT NULL,
    payload      TEXT NOT NULL DEFAULT '{}',
    status       TEXT NOT NULL CHECK (status IN ('queued', 'running', 'succeeded', 'failed')),
    attempts     INTEGER NOT NULL DEFAULT 0,
    max_attempts INTEGER NOT NULL CHECK (max_attempts > 0),
    run_at       INTEGER NOT NULL,
    lease_until  INTEGER,
    locked_by    TEXT,
    last_error   TEXT,
    dedupe_key   TEXT UNIQUE,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL
);
CREATE INDEX jobs_ready ON jobs(status, run_at);
