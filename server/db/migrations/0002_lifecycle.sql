-- The invoice lifecycle: gapless numbers, recorded payments, and a database
-- guard that an invoice's status only moves along the declared edges.

CREATE TABLE invoice_number_sequences (
    account_id   text PRIMARY KEY REFERENCES accounts (id),
    last_number  bigint NOT NULL CHECK (last_number > 0)
);

CREATE TABLE payments (
    account_id              text NOT NULL,
    id                      text NOT NULL,
    invoice_id              text NOT NULL,
    amount                  numeric NOT NULL CHECK (amount >= 0),
    payment_received_date   date NOT NULL,
    external_id             text,
    notes                   text NOT NULL DEFAULT '',
    created_at              timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (account_id, id),
    FOREIGN KEY (account_id, invoice_id) REFERENCES invoices (account_id, id),
    UNIQUE (account_id, external_id)
);
CREATE INDEX payments_invoice ON payments (account_id, invoice_id);

ALTER TABLE invoices
    ADD CONSTRAINT invoices_paid_has_paid_at CHECK (status <> 'paid' OR paid_at IS NOT NULL),
    ADD CONSTRAINT invoices_void_has_voided_at CHECK (status <> 'void' OR voided_at IS NOT NULL),
    ADD CONSTRAINT invoices_issued_has_issued_at CHECK (status = 'draft' OR status = 'synced' OR issued_at IS NOT NULL);

-- The edges of server/domain/invoices.py TRANSITIONS (plus draft -> paid, issuing with nothing due);
-- tests/test_state_machine.py checks that both lists agree.
CREATE FUNCTION invoices_status_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.status IS DISTINCT FROM OLD.status AND (OLD.status, NEW.status) NOT IN (
        ('draft', 'issued'), ('draft', 'paid'), ('issued', 'paid'), ('issued', 'void'), ('synced', 'paid')
    ) THEN
        RAISE EXCEPTION 'invoice % cannot move from % to %', OLD.id, OLD.status, NEW.status
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END;
$$;

CREATE TRIGGER invoices_status_guard BEFORE UPDATE OF status ON invoices
    FOR EACH ROW EXECUTE FUNCTION invoices_status_guard();
