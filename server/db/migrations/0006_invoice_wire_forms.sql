-- Each invoice keeps its wire form: the serialized `Invoice` message as the API last rendered it, written in
-- the same transaction as every change. GetInvoice answers with these bytes as they are, and ListInvoices
-- concatenates them, so a read builds no message at all.
--   wire_version: the invoice version the bytes were rendered at (a form older than the row is stale);
--   wire_schema:  which rendering (message schema and converter revision) made them: after an upgrade that
--                 changes either, older forms are stale too, and are rendered again on read or in the
--                 background.
ALTER TABLE invoices
    ADD COLUMN wire bytea,
    ADD COLUMN wire_version bigint,
    ADD COLUMN wire_schema text;
