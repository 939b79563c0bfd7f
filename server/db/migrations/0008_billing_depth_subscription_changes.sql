-- Subscription changes: a plan change (immediately, at the end of the term, or on a date) or a new quantity
-- for a fixed fee from a date. Each change is kept as history; the subscription's phases (which plan, with
-- which quantities, from which day) are replayed from the changes that were not superseded. `plan_id` is the
-- plan in effect from the change's date (for a quantity change, the plan whose fee changes).

CREATE TABLE subscription_changes (
    account_id          text NOT NULL,
    id                  text NOT NULL,
    subscription_id     text NOT NULL,
    sequence            integer NOT NULL CHECK (sequence > 0),
    kind                text NOT NULL CHECK (kind IN ('plan', 'quantity')),
    change_option       text NOT NULL CHECK (change_option IN ('immediate', 'end_of_term', 'requested_date')),
    effective_date      date NOT NULL,
    plan_id             text NOT NULL,
    previous_plan_id    text NOT NULL,
    price_id            text,
    quantity            numeric CHECK (quantity >= 0),
    previous_quantity   numeric,
    superseded_by       text,
    superseded_at       timestamptz,
    created_at          timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (account_id, id),
    UNIQUE (account_id, subscription_id, sequence),
    FOREIGN KEY (account_id, subscription_id) REFERENCES subscriptions (account_id, id),
    FOREIGN KEY (account_id, plan_id) REFERENCES plans (account_id, id),
    FOREIGN KEY (account_id, previous_plan_id) REFERENCES plans (account_id, id),
    CHECK ((kind = 'quantity') = (price_id IS NOT NULL AND quantity IS NOT NULL)),
    CHECK ((superseded_by IS NULL) = (superseded_at IS NULL))
);
CREATE INDEX subscription_changes_by_subscription
    ON subscription_changes (account_id, subscription_id, created_at DESC, id DESC);

-- A proration credit is a negative line, and an invoice whose credits exceed its charges has a negative total
-- (issuing it credits the customer balance with the difference, and nothing is due): only the amount due is
-- never negative.
DO $$
DECLARE
    found text;
BEGIN
    SELECT conname INTO found FROM pg_constraint
    WHERE conrelid = 'invoices'::regclass AND contype = 'c' AND pg_get_constraintdef(oid) LIKE '%total >= %';
    EXECUTE format('ALTER TABLE invoices DROP CONSTRAINT %I', found);
END $$;
ALTER TABLE invoices ADD CONSTRAINT invoices_amount_due_not_negative CHECK (amount_due >= 0);
