"""The application layer: one function per use case, between the servicers and the repositories.

A use case is a method that runs inside a transaction (`Tx`) opened for it by
`Transactions` (exactly once per request_id for the API; plainly for the
billing runner), so that one transaction can hold a use case that calls
another (an invoice created and issued at once). It takes its row locks in the
one order below, applies the pure rules of
`server.domain`, writes through the repositories of `server.db`, records the
change events of the invoices it changed, and returns domain objects. It never
sees a protobuf message: servicers (`server.api`) turn requests into commands
and domain objects into responses; the billing runner and the command line
call the same functions.

Lock order, everywhere: the idempotency key (taken by `Transactions.exactly_once`
first of all), then a backfill (closing or reverting one; ingestion into it
holds it shared), then the account's usage (an advisory lock: every ingestion
holds it shared from its first statement, closing or reverting a backfill holds
it exclusively while it rebuilds rollups), then the subscription (several: in id order; its changes are
written under its lock; a threshold check takes it first of all),
then the customer (its lock also guards its balance ledger, its prepaid credit
blocks and their ledger: every write to them holds it), then the invoice
(several: in id order), then a credit note of that invoice (VoidCreditNote),
then the account's invoice-number counter (IssueInvoice), then the account's
credit-note-number counter (CreateCreditNote; no transaction takes both
counters, the order is fixed all the same), then the account's event counter
(taken last, by `publish.invoice_changed`). The first versions of invoices
older than their history are completed before the server serves
(`history.complete_first_versions`: a pending version, then its invoice).
Lock waits are bounded by the call's deadline (`server.db.pool`), a dry run's
by one second as well (`unit.Transactions`); a lost wait is ABORTED with
RetryInfo.

Row locks are `FOR NO KEY UPDATE`, never `FOR UPDATE`: the foreign-key checks of
a statement that references a locked row (a ledger row naming its customer, a
second update of an invoice in one transaction) take `FOR KEY SHARE`, which
`NO KEY UPDATE` allows, so a mutation never waits on a row it only references.
"""
