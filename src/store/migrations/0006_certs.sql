-- TLS certificates (bring-your-own and ACME) and the HTTPS redirect switch.
-- Append-only: add 0007_*.sql for changes.

-- Whether plain-HTTP requests to a host with a certificate are redirected to
-- HTTPS (on by default, as on Heroku's ACM and Dokku's letsencrypt).
ALTER TABLE apps ADD COLUMN https_redirect INTEGER NOT NULL DEFAULT 1;

-- One row per hostname the router serves over TLS. `hostname` is an app's
-- default hostname or one of its custom domains. The chain and the private
-- key are sealed with the encryption key (contexts "cert-chain:<hostname>"
-- and "cert:<hostname>").
CREATE TABLE certs (
    id           INTEGER PRIMARY KEY,
    -- NULL: the certificate of `panel_domain` (the API through the router).
    app_id       INTEGER REFERENCES apps(id) ON DELETE CASCADE,
    hostname     TEXT NOT NULL UNIQUE,
    source       TEXT NOT NULL,            -- 'acme' | 'manual'
    status       TEXT NOT NULL,            -- 'pending' | 'issued' | 'error'
    chain_sealed BLOB,                     -- PEM, leaf first (sealed: "cert-chain:<hostname>")
    key_sealed   BLOB,
    not_before   INTEGER,
    not_after    INTEGER,
    issuer       TEXT,
    serial       TEXT,
    error        TEXT,
    -- ACME: when the next attempt may run (backoff after a failure).
    next_attempt INTEGER NOT NULL DEFAULT 0,
    attempts     INTEGER NOT NULL DEFAULT 0,
    -- ACME: renew at the next run whatever the expiry (`certs:auto` again).
    renew_now    INTEGER NOT NULL DEFAULT 0,
    -- Bumped whenever the certificate itself changes (the router reloads it).
    version      INTEGER NOT NULL DEFAULT 0,
    updated_at   INTEGER NOT NULL
);
CREATE INDEX certs_app ON certs(app_id);

-- ACME accounts, one per directory URL; credentials sealed ("acme:<url>").
CREATE TABLE acme_accounts (
    directory   TEXT PRIMARY KEY,
    credentials BLOB NOT NULL,
    created_at  INTEGER NOT NULL
);
