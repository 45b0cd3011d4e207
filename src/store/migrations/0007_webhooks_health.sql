-- Org webhooks with their deliveries, and health probe telemetry. Append-only.

-- An endpoint of an org: the events it wants and its signing secret (sealed).
CREATE TABLE webhooks (
    id          INTEGER PRIMARY KEY,
    org_id      INTEGER NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    url         TEXT NOT NULL,
    events      TEXT NOT NULL,
    secret      BLOB NOT NULL,
    created_by  TEXT NOT NULL,
    created_at  INTEGER NOT NULL
);
CREATE INDEX webhooks_org ON webhooks(org_id);

-- One event for one endpoint, with its attempts so far.
CREATE TABLE webhook_deliveries (
    id           INTEGER PRIMARY KEY,
    webhook_id   INTEGER NOT NULL REFERENCES webhooks(id) ON DELETE CASCADE,
    event        TEXT NOT NULL,
    payload      TEXT NOT NULL,
    state        TEXT NOT NULL CHECK (state IN ('pending', 'delivered', 'failed')),
    attempts     INTEGER NOT NULL DEFAULT 0,
    next_at      INTEGER NOT NULL,
    last_status  INTEGER,
    last_error   TEXT,
    last_at      INTEGER,
    created_at   INTEGER NOT NULL
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries(state, next_at);
CREATE INDEX webhook_deliveries_hook ON webhook_deliveries(webhook_id, id);

-- Each health probe of a live web task and what the monitor did about it.
CREATE TABLE health_probes (
    id          INTEGER PRIMARY KEY,
    app_id      INTEGER NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
    at          INTEGER NOT NULL,
    release     INTEGER NOT NULL,
    task        TEXT NOT NULL,
    slot        INTEGER NOT NULL,
    ok          INTEGER NOT NULL,
    latency_ms  INTEGER NOT NULL,
    detail      TEXT NOT NULL,
    action      TEXT NOT NULL
);
CREATE INDEX health_probes_app ON health_probes(app_id, id);
