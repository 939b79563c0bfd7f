-- Indexes that serve ListInvoices from its first row, whatever the filters (PostgreSQL picks among them):
-- every list is in (invoice_date, id) order, and reads one branch per status merged in that order, so an
-- index that leads with the status gives each branch its rows already sorted; a status that matches nothing
-- costs one index probe, not a scan of the account. A selective amount filter finds its few rows by total.
CREATE INDEX invoices_by_status_date ON invoices (account_id, status, invoice_date DESC, id DESC);
CREATE INDEX invoices_by_customer_status ON invoices (account_id, customer_id, status, invoice_date DESC, id DESC);
CREATE INDEX invoices_by_status_due_date ON invoices (account_id, status, due_date);
CREATE INDEX invoices_by_total ON invoices (account_id, total);
CREATE INDEX invoices_recurring_by_status_date ON invoices (account_id, status, invoice_date DESC, id DESC)
    WHERE invoice_source = 'subscription';
-- Served by the indexes above (each leads with what it replaced, or by status first).
DROP INDEX invoices_by_date;
DROP INDEX invoices_by_customer;
DROP INDEX invoices_by_due_date;
