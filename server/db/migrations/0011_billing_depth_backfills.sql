-- Backfills: usage for periods that may already be invoiced. A backfill names a customer and a timeframe; its
-- events are stored as soon as they are sent but do not count (`billable` false) until the backfill is closed.
-- Closing makes them count (and, with replace_existing_events, stops the customer's other events of the
-- timeframe from counting, `replaced_by`), rebuilds the rollups of the timeframe, and re-prices the periods it
-- touches; reverting undoes that. Events are never deleted. Each correction of an invoice already issued is
-- kept in backfill_adjustments: a charge on a new invoice, or a credit to the customer balance.

CREATE TABLE backfills (
    account_id                text NOT NULL,
    id                        text NOT NULL,
    customer_id               text NOT NULL,
    timeframe_start           timestamptz NOT NULL,
    timeframe_end             timestamptz NOT NULL,
    replace_existing_events   boolean NOT NULL,
    status                    text NOT NULL CHECK (status IN ('pending', 'reflected', 'reverted')),
    events_ingested           bigint NOT NULL DEFAULT 0,
    created_at                timestamptz NOT NULL DEFAULT now(),
    closed_at                 timestamptz,
    reverted_at               timestamptz,
    PRIMARY KEY (account_id, id),
    FOREIGN KEY (account_id, customer_id) REFERENCES customers (account_id, id),
    CHECK (timeframe_end > timeframe_start)
);
CREATE INDEX backfills_by_customer ON backfills (account_id, customer_id, created_at DESC, id DESC);

ALTER TABLE usage_events
    ADD COLUMN backfill_id text,
    ADD COLUMN billable boolean NOT NULL DEFAULT true,
    ADD COLUMN replaced_by text;
CREATE INDEX usage_events_by_backfill ON usage_events (account_id, backfill_id) WHERE backfill_id IS NOT NULL;

CREATE TABLE backfill_adjustments (
    account_id               text NOT NULL,
    id                       text NOT NULL,
    backfill_id              text NOT NULL,
    invoice_id               text NOT NULL,  -- the invoice corrected
    price_id                 text NOT NULL,
    name                     text NOT NULL,
    start_date               date NOT NULL,
    end_date                 date NOT NULL,
    amount                   numeric NOT NULL CHECK (amount <> 0),  -- positive: charged; negative: credited
    adjustment_invoice_id    text,  -- the invoice that charges it
    balance_transaction_id   text,  -- the balance transaction that credits it
    created_at               timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (account_id, id),
    FOREIGN KEY (account_id, backfill_id) REFERENCES backfills (account_id, id),
    FOREIGN KEY (account_id, invoice_id) REFERENCES invoices (account_id, id),
    CHECK ((amount > 0) = (adjustment_invoice_id IS NOT NULL)),
    CHECK ((amount < 0) = (balance_transaction_id IS NOT NULL))
);
CREATE INDEX backfill_adjustments_by_invoice ON backfill_adjustments (account_id, invoice_id);
CREATE INDEX backfill_adjustments_by_backfill ON backfill_adjustments (account_id, backfill_id, created_at, id);
