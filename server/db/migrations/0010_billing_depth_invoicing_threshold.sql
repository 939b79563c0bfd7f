-- Threshold billing: a subscription may carry an invoicing threshold; when the usage it has accrued in the
-- current period and not yet invoiced reaches it, a partial invoice (invoice_source 'partial') is issued at once.
-- A partial invoice names the billing boundary whose invoice will deduct it, so a boundary now has one
-- subscription invoice and any number of partial ones: the uniqueness of (subscription, boundary) is about the
-- subscription invoice only.

ALTER TABLE subscriptions ADD COLUMN invoicing_threshold numeric CHECK (invoicing_threshold > 0);

DROP INDEX invoices_one_per_boundary;
CREATE UNIQUE INDEX invoices_one_per_boundary ON invoices (account_id, subscription_id, billing_boundary)
    WHERE subscription_id IS NOT NULL AND status <> 'void' AND invoice_source = 'subscription';
CREATE INDEX invoices_partial_by_boundary ON invoices (account_id, subscription_id, billing_boundary)
    WHERE invoice_source = 'partial';
