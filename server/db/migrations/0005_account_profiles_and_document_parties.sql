-- Invoice documents. Each account has a seller profile (who its invoices say they are from), and each
-- invoice keeps a copy of the parties its document prints (the seller, and the customer's name, e-mail and
-- timezone), so that a document depends on the invoice's version alone: renaming a customer or changing
-- the profile never changes the document of an invoice version that already exists.
--
-- The copy is taken when an invoice is created and again when it leaves draft (issued, or paid at issue),
-- by a trigger, so every way an invoice is inserted or issued takes it.

CREATE TABLE account_profiles (
    account_id            text PRIMARY KEY REFERENCES accounts (id),
    name                  text NOT NULL DEFAULT '',  -- '' means the account's own name
    email                 text NOT NULL DEFAULT '',
    address               jsonb,
    tax_id                jsonb,
    payment_instructions  text NOT NULL DEFAULT '',
    updated_at            timestamptz NOT NULL DEFAULT now()
);

-- The seller as documents print it: the profile, with the account's name when none was set. The one
-- place that rule lives (AccountService reads the profile through it too).
CREATE FUNCTION account_seller(p_account_id text) RETURNS jsonb LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object(
        'name', coalesce(nullif(p.name, ''), a.name),
        'email', coalesce(p.email, ''),
        'address', p.address,
        'tax_id', p.tax_id,
        'payment_instructions', coalesce(p.payment_instructions, ''))
    FROM accounts a LEFT JOIN account_profiles p ON p.account_id = a.id
    WHERE a.id = p_account_id
$$;

CREATE FUNCTION invoice_document_parties(p_account_id text, p_customer_id text) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object(
        'seller', account_seller(p_account_id),
        'customer', jsonb_build_object('name', c.name, 'email', c.email, 'timezone', c.timezone))
    FROM customers c
    WHERE c.account_id = p_account_id AND c.id = p_customer_id
$$;

ALTER TABLE invoices ADD COLUMN document_parties jsonb;
UPDATE invoices SET document_parties = invoice_document_parties(account_id, customer_id);
ALTER TABLE invoices ALTER COLUMN document_parties SET NOT NULL;

CREATE FUNCTION invoices_copy_document_parties() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' OR (OLD.status = 'draft' AND NEW.status <> 'draft') THEN
        NEW.document_parties := invoice_document_parties(NEW.account_id, NEW.customer_id);
    END IF;
    RETURN NEW;
END;
$$;

CREATE TRIGGER invoices_copy_document_parties BEFORE INSERT OR UPDATE OF status ON invoices
    FOR EACH ROW EXECUTE FUNCTION invoices_copy_document_parties();
