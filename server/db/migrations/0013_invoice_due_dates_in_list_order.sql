-- A page of a closed range of due dates reads each due date on its own, at most a page of that day's invoices
-- already in list order (invoice date, then id, newest first), and keeps the page's first of them
-- (server.db.invoices.list_query): the index that finds a due date now holds the list order after it. It
-- leads with what the one it replaces did, so a range open on one side is served as before.
CREATE INDEX invoices_by_status_due_date_listed ON invoices (account_id, status, due_date, invoice_date DESC, id DESC);
DROP INDEX invoices_by_status_due_date;
