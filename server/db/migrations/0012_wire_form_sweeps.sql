-- The rendering schema under which the background sweep last found every stored invoice form of the account
-- current (or rendered it again). Every change stores its invoice's form in the same transaction, so an account
-- swept under the schema a server renders needs no sweep from it: the job reads this column, not the
-- invoices (a scan of every invoice, at each start and hourly, read the whole table: 5 GB at 2M invoices).
-- NULL: never swept (an account created since, or before forms were kept).
ALTER TABLE accounts ADD COLUMN wire_schema_swept text;
