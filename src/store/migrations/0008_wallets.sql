-- Wallets: an append-only ledger of credits and debits per org; an org's
-- balance is the sum of its entries. Append-only.
CREATE TABLE ledger (
    id          INTEGER PRIMARY KEY,
    org_id      INTEGER NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    at          INTEGER NOT NULL,
    -- credit and debit by an admin; usage by the hourly sweep.
    kind        TEXT NOT NULL CHECK (kind IN ('credit', 'debit', 'usage')),
    -- Micro-units of the currency: credits positive, debits and usage negative.
    amount      INTEGER NOT NULL,
    note        TEXT NOT NULL,
    created_by  TEXT
);
CREATE INDEX ledger_org ON ledger(org_id, id);
