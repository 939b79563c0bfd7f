-- A subscription's end as an instant as well as a date. `end_date` stays the first day not billed (fees
-- are prorated up to the day before); `ended_at` is the instant usage stops counting and the final invoice
-- falls due: local midnight of end_date, except for an immediate cancellation, which stops at the
-- cancellation instant while its day is billed as used (end_date is then the next day).

ALTER TABLE subscriptions ADD COLUMN ended_at timestamptz;

UPDATE subscriptions s SET ended_at = s.end_date::timestamp AT TIME ZONE c.timezone
FROM customers c
WHERE c.account_id = s.account_id AND c.id = s.customer_id AND s.end_date IS NOT NULL;

ALTER TABLE subscriptions ADD CONSTRAINT subscriptions_end_both CHECK ((end_date IS NULL) = (ended_at IS NULL));
