-- Credit notes against issued (adjustment) and paid (refund) invoices, their credited lines, a gapless
-- number sequence per account (a counter row held until commit, like invoice numbers), the link from the
-- balance ledger to the note, and two new kinds of invoice event.

CREATE TABLE credit_note_number_sequences (
    account_id   text PRIMARY KEY REFERENCES accounts (id),
    last_number  bigint NOT NULL CHECK (last_number > 0)
);

CREATE TABLE credit_notes (
    account_id              text NOT NULL,
    id                      text NOT NULL,
    credit_note_number      text NOT NULL,
    invoice_id              text NOT NULL,
    customer_id             text NOT NULL,
    type                    text NOT NULL CHECK (type IN ('adjustment', 'refund')),
    reason                  text NOT NULL CHECK (reason IN (
                                'duplicate', 'fraudulent', 'order_change', 'product_unsatisfactory')),
    memo                    text NOT NULL DEFAULT '',
    currency                text NOT NULL,
    total                   numeric NOT NULL CHECK (total > 0),
    -- How the note was applied: what it took off its invoice's amount due, and what it credited to the
    -- customer balance (a refund's whole total, or an adjustment's excess over the amount due).
    applied_to_amount_due   numeric NOT NULL CHECK (applied_to_amount_due >= 0),
    credited_to_balance     numeric NOT NULL CHECK (credited_to_balance >= 0),
    created_at              timestamptz NOT NULL,
    voided_at               timestamptz,
    PRIMARY KEY (account_id, id),
    UNIQUE (account_id, credit_note_number),
    FOREIGN KEY (account_id, invoice_id) REFERENCES invoices (account_id, id),
    FOREIGN KEY (account_id, customer_id) REFERENCES customers (account_id, id),
    CHECK (applied_to_amount_due + credited_to_balance = total),
    CHECK (type = 'adjustment' OR applied_to_amount_due = 0)
);
CREATE INDEX credit_notes_by_invoice ON credit_notes (account_id, invoice_id, created_at, id);
CREATE INDEX credit_notes_created ON credit_notes (account_id, created_at DESC, id DESC);
CREATE INDEX credit_notes_by_customer ON credit_notes (account_id, customer_id, created_at DESC, id DESC);

CREATE TABLE credit_note_line_items (
    account_id            text NOT NULL,
    credit_note_id        text NOT NULL,
    id                    text NOT NULL,
    position              integer NOT NULL,
    invoice_line_item_id  text NOT NULL,
    amount                numeric NOT NULL CHECK (amount > 0),
    PRIMARY KEY (account_id, id),
    FOREIGN KEY (account_id, credit_note_id) REFERENCES credit_notes (account_id, id),
    FOREIGN KEY (account_id, invoice_line_item_id) REFERENCES invoice_line_items (account_id, id),
    UNIQUE (account_id, credit_note_id, position),
    UNIQUE (account_id, credit_note_id, invoice_line_item_id)
);
CREATE INDEX credit_note_lines_by_invoice_line ON credit_note_line_items (account_id, invoice_line_item_id);

ALTER TABLE customer_balance_transactions
    ADD CONSTRAINT customer_balance_transactions_credit_note
    FOREIGN KEY (account_id, credit_note_id) REFERENCES credit_notes (account_id, id);
CREATE INDEX balance_transactions_credit_note
    ON customer_balance_transactions (account_id, credit_note_id) WHERE credit_note_id IS NOT NULL;

ALTER TABLE invoice_events DROP CONSTRAINT invoice_events_type_check;
ALTER TABLE invoice_events ADD CONSTRAINT invoice_events_type_check CHECK (type IN (
    'created', 'line_item_added', 'line_item_deleted', 'updated', 'issued', 'paid', 'voided',
    'credit_note_created', 'credit_note_voided'));
