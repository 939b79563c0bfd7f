-- Prepaid credits (Orb's credits ledger). A grant is a block: an amount in the customer's currency, usable
-- from its effective date until its expiry date, with the cost basis paid per credit. Every change to a block
-- is an immutable ledger entry; a block's `remaining` and the customer's `credit_balance` are kept equal to the
-- sums of their entries in the same statement that appends one, under the customer's row lock (each entry
-- records the balance before and after it, and takes the customer's next ledger sequence).

ALTER TABLE customers ADD COLUMN credit_balance numeric NOT NULL DEFAULT 0;
UPDATE customers SET credit_balance = balance * 0;  -- zero at the currency's scale ("0.00")

CREATE TABLE credit_blocks (
    account_id            text NOT NULL,
    id                    text NOT NULL,
    customer_id           text NOT NULL,
    currency              text NOT NULL,
    amount                numeric NOT NULL CHECK (amount > 0),
    remaining             numeric NOT NULL CHECK (remaining >= 0),
    per_unit_cost_basis   numeric CHECK (per_unit_cost_basis >= 0),
    effective_date        date NOT NULL,
    expiry_date           date,
    description           text NOT NULL DEFAULT '',
    created_at            timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (account_id, id),
    FOREIGN KEY (account_id, customer_id) REFERENCES customers (account_id, id),
    CHECK (expiry_date IS NULL OR expiry_date > effective_date),
    CHECK (remaining <= amount)
);
CREATE INDEX credit_blocks_by_customer ON credit_blocks (account_id, customer_id, created_at DESC, id DESC);
-- The period-end runner's expiry queue (it works across accounts).
CREATE INDEX credit_blocks_expiring ON credit_blocks (expiry_date) WHERE remaining > 0 AND expiry_date IS NOT NULL;

CREATE TABLE credit_ledger_entries (
    account_id         text NOT NULL,
    id                 text NOT NULL,
    customer_id        text NOT NULL,
    block_id           text NOT NULL,
    sequence           bigint NOT NULL CHECK (sequence > 0),
    entry_type         text NOT NULL CHECK (entry_type IN (
                           'increment', 'decrement', 'credit_block_expiry', 'return_from_voiding')),
    amount             numeric NOT NULL CHECK (amount > 0),
    starting_balance   numeric NOT NULL,
    ending_balance     numeric NOT NULL,
    invoice_id         text,
    line_item_id       text,
    description        text NOT NULL DEFAULT '',
    created_at         timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (account_id, id),
    UNIQUE (account_id, customer_id, sequence),
    FOREIGN KEY (account_id, customer_id) REFERENCES customers (account_id, id),
    FOREIGN KEY (account_id, block_id) REFERENCES credit_blocks (account_id, id),
    CHECK (ending_balance = starting_balance
           + CASE WHEN entry_type IN ('increment', 'return_from_voiding') THEN amount ELSE -amount END)
);
CREATE INDEX credit_ledger_by_customer ON credit_ledger_entries (account_id, customer_id, created_at DESC, id DESC);
CREATE INDEX credit_ledger_by_invoice ON credit_ledger_entries (account_id, invoice_id) WHERE invoice_id IS NOT NULL;
