-- The history of every invoice: one row per version, written in the same transaction as the change that
-- made it (server/usecases/publish.py), with who made it and the invoice as the API rendered it then.
-- Kept as long as the invoice.
--
-- Invoices that exist before this migration get their current state as their first recorded version. Only
-- the API layer can render an invoice's wire form, which SQL cannot do, so this migration records those
-- first versions without it (`invoice` NULL: pending); the server renders every pending version before it
-- serves (server/usecases/history.py, called at start-up and by `python -m server bill`), each under its
-- invoice's lock. A pending version is never shown.

CREATE TABLE invoice_versions (
    account_id   text NOT NULL,
    invoice_id   text NOT NULL,
    version      bigint NOT NULL CHECK (version > 0),
    -- When the version was made: the invoice's updated_at at that version.
    changed_at   timestamptz NOT NULL,
    -- The RPC ("IssueInvoice"), the service's own job ("billing-runner") or "history-start".
    method       text NOT NULL,
    key_id       text NOT NULL DEFAULT '',
    request_id   text NOT NULL DEFAULT '',
    -- The invoice after the change, as the API serialized it; NULL while a first version is pending.
    invoice      bytea,
    PRIMARY KEY (account_id, invoice_id, version),
    FOREIGN KEY (account_id, invoice_id) REFERENCES invoices (account_id, id)
);
CREATE INDEX invoice_versions_pending ON invoice_versions (account_id, invoice_id) WHERE invoice IS NULL;

INSERT INTO invoice_versions (account_id, invoice_id, version, changed_at, method)
SELECT account_id, id, version, updated_at, 'history-start' FROM invoices;
