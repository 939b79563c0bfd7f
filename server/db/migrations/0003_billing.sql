-- The billing engine: plans and their prices, subscriptions, usage events with
-- a 15-minute pre-aggregation, and the link from a subscription invoice to the
-- period boundary it bills (unique, so a period is invoiced exactly once).

CREATE TABLE plans (
    account_id        text NOT NULL REFERENCES accounts (id),
    id                text NOT NULL,
    external_plan_id  text,
    name              text NOT NULL,
    currency          text NOT NULL,
    prices            jsonb NOT NULL,
    metadata          jsonb NOT NULL DEFAULT '{}',
    created_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (account_id, id),
    UNIQUE (account_id, external_plan_id)
);
CREATE INDEX plans_created ON plans (account_id, created_at DESC, id DESC);

CREATE TABLE subscriptions (
    account_id          text NOT NULL,
    id                  text NOT NULL,
    customer_id         text NOT NULL,
    plan_id             text NOT NULL,
    start_date          date NOT NULL,
    end_date            date,
    align_to_start      boolean NOT NULL,
    net_terms           integer NOT NULL CHECK (net_terms BETWEEN 0 AND 365),
    auto_issuance       boolean,
    metadata            jsonb NOT NULL DEFAULT '{}',
    -- The next period boundary (as a period index) not yet invoiced, and the instant it
    -- arrives (local midnight); NULL once nothing is left to bill.
    next_boundary       integer NOT NULL DEFAULT 0 CHECK (next_boundary >= 0),
    next_boundary_at    timestamptz,
    created_at          timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (account_id, id),
    FOREIGN KEY (account_id, customer_id) REFERENCES customers (account_id, id),
    FOREIGN KEY (account_id, plan_id) REFERENCES plans (account_id, id),
    CHECK (end_date IS NULL OR end_date >= start_date)
);
CREATE INDEX subscriptions_customer ON subscriptions (account_id, customer_id);
CREATE INDEX subscriptions_created ON subscriptions (account_id, created_at DESC, id DESC);
-- The period-end runner's queue (it works across accounts).
CREATE INDEX subscriptions_due ON subscriptions (next_boundary_at) WHERE next_boundary_at IS NOT NULL;

ALTER TABLE invoices ADD COLUMN billing_boundary integer;
CREATE UNIQUE INDEX invoices_one_per_boundary ON invoices (account_id, subscription_id, billing_boundary)
    WHERE subscription_id IS NOT NULL AND status <> 'void';

CREATE TABLE usage_events (
    account_id        text NOT NULL,
    idempotency_key   text NOT NULL,
    customer_id       text NOT NULL,
    event_name        text NOT NULL,
    occurred_at       timestamptz NOT NULL,
    properties        jsonb NOT NULL DEFAULT '{}',
    ingested_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (account_id, idempotency_key),
    FOREIGN KEY (account_id, customer_id) REFERENCES customers (account_id, id)
);
CREATE INDEX usage_events_by_customer ON usage_events (account_id, customer_id, event_name, occurred_at);

-- One row per (customer, event, numeric property or '' for the event count, 15-minute bucket).
-- Every timezone offset is a multiple of 15 minutes, so local midnights fall on bucket edges.
CREATE TABLE usage_rollups (
    account_id    text NOT NULL,
    customer_id   text NOT NULL,
    event_name    text NOT NULL,
    property      text NOT NULL,
    bucket        timestamptz NOT NULL,
    events        bigint NOT NULL,
    total         numeric NOT NULL,
    maximum       numeric,
    PRIMARY KEY (account_id, customer_id, event_name, property, bucket)
);

-- The auto-issue queue of subscription drafts.
CREATE INDEX invoices_auto_issue ON invoices (eligible_to_issue_at)
    WHERE status = 'draft' AND subscription_id IS NOT NULL AND will_auto_issue;
