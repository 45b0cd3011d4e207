-- Router (domains, maintenance). Append-only: add 0006_*.sql for changes.

-- An app in maintenance answers every request with a 503 maintenance page.
ALTER TABLE apps ADD COLUMN maintenance INTEGER NOT NULL DEFAULT 0;

-- Custom domains: a hostname belongs to one app (and so to its org).
CREATE TABLE domains (
    id         INTEGER PRIMARY KEY,
    app_id     INTEGER NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
    hostname   TEXT NOT NULL UNIQUE,
    created_at INTEGER NOT NULL
);
CREATE INDEX domains_app ON domains(app_id);
