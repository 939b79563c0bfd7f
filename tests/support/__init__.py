"""What the tests share, beside the fixtures of tests/conftest.py.

- `client`: `Api`, one object with a stub of every service on an authenticated channel; `expect_error`,
  `StatusDetails` and `assert_field_reasons` for failed calls.
- `accounts`: `Account` and `new_account` (every test works in an account of its own).
- `clock`: per-test clocks on the clocked server, and `run_billing` (the period-end runner for one account).
- `builders`: valid requests and the records they create (`create_customer`, `create_invoice`, `subscribe`, ...).
- `calls`: one-line RPC shortcuts (`get_invoice`, `issue`, `invoices_of`, `ledger`, ...).
- `checks`: invariants many tests assert (totals are the sum of their lines, balances the sum of their ledger).
- `states`: reaching invoice states through the RPCs (`invoice_in_status`), and the status tables.
- `database`: the tests' own connection, for reading what the API cannot show.
- `fuzz`: the fuzz framework behind tests/test_fuzz_rpcs.py.
- `money`: the tests' own exact money arithmetic; `reference_pricer`: an independent pricer the service's
  upcoming invoices are compared with (tests/test_pricing_differential.py).
- `documents`: invoice and credit note documents fetched through their RPCs, and their text.
- `credit_notes`: credit note requests and calls, invoice versions (history), change events replayed.
- `cli`: real command-line clients (grpcurl, buf curl, node, go) run as processes; `go_client`: the Go client
  built against Debian's grpc-go (fixtures); `keepalive`: idle watches held while the suite runs (fixtures);
  `watch_client`: the Python watching process they start.
- `serve`: `python -m server` run as processes, as an operator runs it.
- `resilience`: servers with settings of their own, health, Prometheus samples and unread streams, for the
  overload and failure tests; `pgbouncer`: a real PgBouncer in transaction pooling mode in front of the test
  database (`make test-pgbouncer`).
"""
