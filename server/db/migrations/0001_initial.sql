-- Accounts, API keys, customers, the balance ledger, invoices, line items and
-- idempotency records. Every tenant table leads with account_id so that every
-- query is scoped by account and the schema distributes by account (Citus).

CREATE TABLE server_secrets (
    name        text PRIMARY KEY,
    value       bytea NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE accounts (
    id              text PRIMARY KEY,
    name            text NOT NULL UNIQUE,
    invoice_prefix  text NOT NULL CHECK (invoice_prefix ~ '^[A-Z0-9]{1,12}$'),
    created_at      timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE api_keys (
    id          text PRIMARY KEY,
    account_id  text NOT NULL REFERENCES accounts (id),
    key_hash    bytea NOT NULL UNIQUE,
    description text NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL DEFAULT now(),
    revoked_at  timestamptz
);
CREATE INDEX api_keys_account ON api_keys (account_id);

CREATE TABLE customers (
    account_id            text NOT NULL REFERENCES accounts (id),
    id                    text NOT NULL,
    external_customer_id  text,
    name                  text NOT NULL,
    email                 text NOT NULL,
    currency              text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    timezone              text NOT NULL,
    billing_address       jsonb,
    shipping_address      jsonb,
    tax_id                jsonb,
    auto_collection       boolean NOT NULL,
    auto_issuance         boolean,
    net_terms             integer NOT NULL CHECK (net_terms BETWEEN 0 AND 365),
    metadata              jsonb NOT NULL DEFAULT '{}',
    balance               numeric NOT NULL DEFAULT 0,
    created_at            timestamptz NOT NULL DEFAULT now(),
    updated_at            timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (account_id, id),
    UNIQUE (account_id, external_customer_id)
);
CREATE INDEX customers_created ON customers (account_id, created_at DESC, id DESC);

CREATE TABLE customer_balance_transactions (
    account_id        text NOT NULL,
    id                text NOT NULL,
    customer_id       text NOT NULL,
    action            text NOT NULL CHECK (action IN (
                          'applied_to_invoice', 'manual_adjustment', 'prorated_refund',
                          'revert_prorated_refund', 'return_from_voiding', 'credit_note_applied',
                          'credit_note_voided', 'overpayment_refund', 'external_payment',
                          'small_invoice_carryover')),
    type              text NOT NULL CHECK (type IN ('increment', 'decrement')),
    amount            numeric NOT NULL CHECK (amount >= 0),
    starting_balance  numeric NOT NULL,
    ending_balance    numeric NOT NULL,
    invoice_id        text,
    credit_note_id    text,
    description       text NOT NULL DEFAULT '',
    created_at        timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (account_id, id),
    FOREIGN KEY (account_id, customer_id) REFERENCES customers (account_id, id),
    CHECK (ending_balance = starting_balance + CASE type WHEN 'increment' THEN amount ELSE -amount END)
);
CREATE INDEX balance_transactions_customer
    ON customer_balance_transactions (account_id, customer_id, created_at DESC, id DESC);
CREATE INDEX balance_transactions_invoice
    ON customer_balance_transactions (account_id, invoice_id) WHERE invoice_id IS NOT NULL;

CREATE TABLE invoices (
    account_id              text NOT NULL,
    id                      text NOT NULL,
    customer_id             text NOT NULL,
    subscription_id         text,
    invoice_source          text NOT NULL CHECK (invoice_source IN ('subscription', 'partial', 'one_off')),
    status                  text NOT NULL CHECK (status IN ('draft', 'issued', 'paid', 'synced', 'void')),
    version                 bigint NOT NULL DEFAULT 1 CHECK (version > 0),
    invoice_number          text,
    currency                text NOT NULL,
    invoice_date            date NOT NULL,
    due_date                date,
    net_terms               integer NOT NULL CHECK (net_terms BETWEEN 0 AND 365),
    subtotal                numeric NOT NULL,
    total                   numeric NOT NULL,
    amount_due              numeric NOT NULL,
    memo                    text NOT NULL DEFAULT '',
    metadata                jsonb NOT NULL DEFAULT '{}',
    discounts               jsonb NOT NULL DEFAULT '[]',
    minimum_amount          numeric,
    maximum_amount          numeric,
    auto_collection         boolean NOT NULL,
    will_auto_issue         boolean NOT NULL DEFAULT false,
    billing_address         jsonb,
    shipping_address        jsonb,
    customer_tax_id         jsonb,
    hosted_invoice_url      text NOT NULL DEFAULT '',
    invoice_pdf             text NOT NULL DEFAULT '',
    eligible_to_issue_at    timestamptz,
    scheduled_issue_at      timestamptz,
    issued_at               timestamptz,
    paid_at                 timestamptz,
    voided_at               timestamptz,
    issue_failed_at         timestamptz,
    payment_started_at      timestamptz,
    payment_failed_at       timestamptz,
    sync_failed_at          timestamptz,
    created_at              timestamptz NOT NULL DEFAULT now(),
    updated_at              timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (account_id, id),
    FOREIGN KEY (account_id, customer_id) REFERENCES customers (account_id, id),
    UNIQUE (account_id, invoice_number),
    -- A number exactly when issued (or later); drafts have none.
    CHECK ((status = 'draft') = (invoice_number IS NULL)),
    CHECK (total >= 0 AND amount_due >= 0)
);
CREATE INDEX invoices_by_date ON invoices (account_id, invoice_date DESC, id DESC);
CREATE INDEX invoices_by_customer ON invoices (account_id, customer_id, invoice_date DESC, id DESC);
CREATE INDEX invoices_by_subscription ON invoices (account_id, subscription_id, invoice_date DESC, id DESC)
    WHERE subscription_id IS NOT NULL;
CREATE INDEX invoices_by_due_date ON invoices (account_id, due_date);

CREATE TABLE invoice_line_items (
    account_id                  text NOT NULL,
    invoice_id                  text NOT NULL,
    id                          text NOT NULL,
    position                    integer NOT NULL,
    name                        text NOT NULL,
    quantity                    numeric NOT NULL,
    unit_amount                 numeric NOT NULL,
    start_date                  date NOT NULL,
    end_date                    date NOT NULL,
    subtotal                    numeric NOT NULL,
    adjustments                 jsonb NOT NULL DEFAULT '[]',
    adjusted_subtotal           numeric NOT NULL,
    credits_applied             numeric NOT NULL DEFAULT 0,
    partially_invoiced_amount   numeric NOT NULL DEFAULT 0,
    amount                      numeric NOT NULL,
    sub_line_items              jsonb NOT NULL DEFAULT '[]',
    price                       jsonb NOT NULL,
    is_one_off                  boolean NOT NULL,
    PRIMARY KEY (account_id, id),
    FOREIGN KEY (account_id, invoice_id) REFERENCES invoices (account_id, id) ON DELETE CASCADE,
    UNIQUE (account_id, invoice_id, position),
    CHECK (end_date >= start_date)
);

-- Exactly-once mutations: the outcome of a request_id, written in the same
-- transaction as the change it made.
CREATE TABLE idempotency_keys (
    account_id    text NOT NULL,
    request_id    text NOT NULL,
    method        text NOT NULL,
    request_hash  bytea NOT NULL,
    response      bytea,
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (account_id, request_id)
);
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);
