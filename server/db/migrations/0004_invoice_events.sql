-- The invoice change stream: a transactional outbox. Each account's events carry a gapless sequence
-- taken from a counter row that the writing transaction holds until it commits, so sequence order is
-- commit order, and a rolled-back change leaves neither an event nor a gap.

CREATE TABLE invoice_event_sequences (
    account_id     text PRIMARY KEY REFERENCES accounts (id),
    last_sequence  bigint NOT NULL CHECK (last_sequence > 0)
);

CREATE TABLE invoice_events (
    account_id    text NOT NULL,
    sequence      bigint NOT NULL,
    type          text NOT NULL CHECK (type IN (
                      'created', 'line_item_added', 'line_item_deleted', 'updated', 'issued', 'paid', 'voided')),
    invoice_id    text NOT NULL,
    customer_id   text NOT NULL,
    version       bigint NOT NULL,
    occurred_at   timestamptz NOT NULL DEFAULT clock_timestamp(),
    -- The invoice after the change, as the API serialized it.
    invoice       bytea NOT NULL,
    PRIMARY KEY (account_id, sequence)
);
CREATE INDEX invoice_events_age ON invoice_events (occurred_at);
