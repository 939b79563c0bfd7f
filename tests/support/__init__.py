"""What the tests share, beside the fixtures of tests/conftest.py.

- `client`: `Api`, one object with a stub of every service on an authenticated channel; `expect_error` and
  `StatusDetails` for failed calls.
- `accounts`: `Account` and `new_account` (every test works in an account of its own).
- `clock`: per-test clocks on the clocked server, and `run_billing` (the period-end runner for one account).
- `builders`: valid requests and the records they create (`create_customer`, `create_invoice`, `subscribe`, ...).
- `calls`: one-line RPC shortcuts (`get_invoice`, `issue`, `invoices_of`, `ledger`, ...).
- `checks`: invariants many tests assert (totals are the sum of their lines, balances the sum of their ledger).
- `states`: reaching invoice states through the RPCs (`invoice_in_status`), and the status tables.
- `database`: the tests' own connection, for reading what the API cannot show.
- `fuzz`: the fuzz framework behind tests/test_fuzz_rpcs.py.
"""
