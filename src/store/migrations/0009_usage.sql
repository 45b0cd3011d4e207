-- Metering and hourly billing.

-- Suspension (the balance fell to the threshold) and the low-balance alert
-- (set when raised, cleared when the runway is back above the limit, so the
-- alert fires once per crossing).
ALTER TABLE orgs ADD COLUMN suspended_at INTEGER;
ALTER TABLE orgs ADD COLUMN low_balance_at INTEGER;

-- What a sample is about: an app's process type on a plan at a price. Kept
-- after the app is destroyed, so its last partial hour is still billed.
CREATE TABLE meters (
    id       INTEGER PRIMARY KEY AUTOINCREMENT,
    org_id   INTEGER NOT NULL,
    app_id   INTEGER NOT NULL,
    app      TEXT NOT NULL,
    process  TEXT NOT NULL,
    plan     TEXT NOT NULL,
    -- Micro-units per replica-hour when sampled.
    price    INTEGER NOT NULL,
    UNIQUE (org_id, app_id, app, process, plan, price)
);

-- Running replicas of a meter in one minute (unix seconds / 60). Only
-- minutes with replicas are stored.
CREATE TABLE usage_samples (
    minute   INTEGER NOT NULL,
    meter_id INTEGER NOT NULL,
    replicas INTEGER NOT NULL,
    PRIMARY KEY (minute, meter_id)
) WITHOUT ROWID;

-- One row per app, hour and plan/price: what the sweep billed.
CREATE TABLE usage (
    id              INTEGER PRIMARY KEY,
    org_id          INTEGER NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    app_id          INTEGER NOT NULL,
    app             TEXT NOT NULL,
    -- Unix seconds of the hour's start (UTC).
    hour            INTEGER NOT NULL,
    plan            TEXT NOT NULL,
    price           INTEGER NOT NULL,
    replica_minutes INTEGER NOT NULL,
    cost            INTEGER NOT NULL,
    ledger_id       INTEGER,
    UNIQUE (org_id, app_id, app, hour, plan, price)
);
CREATE INDEX usage_org_hour ON usage(org_id, hour);

-- The sweep's progress: every hour before swept_until is billed; samples
-- cover every minute up to last_minute.
CREATE TABLE billing_state (
    id           INTEGER PRIMARY KEY CHECK (id = 1),
    last_minute  INTEGER,
    swept_until  INTEGER
);
INSERT INTO billing_state (id) VALUES (1);
