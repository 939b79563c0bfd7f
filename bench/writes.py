"""Mutations at 32 in flight: on each draft, CreateInvoiceLineItem then IssueInvoice then MarkInvoicePaid,
against GetInvoice at 32 in flight (the same drafts' invoices, the same multi-process client).

The drafts are seeded in an account of their own (with set-based SQL, then given their stored forms), spread
over its customers; issuing takes the account's invoice number counter, as in production. Afterwards every
draft must be paid: the row reports errors and checks the outcome in the database.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import statistics
import uuid

from google.type import date_pb2
from invoicing.v1 import invoice_service_pb2

from bench import clients, forms, harness, load, seed
from bench.accounts import WRITES
from bench.reads import GET_INVOICE, Effort, get_invoice_body
from bench.table import REPORT, Row, Target

SERVICE = "/invoicing.v1.InvoiceService/"
IN_FLIGHT = 32


def _date(day: dt.date) -> date_pb2.Date:
    return date_pb2.Date(year=day.year, month=day.month, day=day.day)


def mutation_script(invoice_id: str, run: str) -> list[clients.Call]:
    """Add a line, issue, mark paid: one draft's way to paid."""
    today = dt.datetime.now(dt.UTC).date()
    line = invoice_service_pb2.CreateInvoiceLineItemRequest(
        invoice_id=invoice_id, name="Implementation services", amount="120.00", quantity="3",
        start_date=_date(today - dt.timedelta(days=30)), end_date=_date(today - dt.timedelta(days=1)),
        request_id=f"{run}-line-{invoice_id}",
    )  # fmt: skip
    issue = invoice_service_pb2.IssueInvoiceRequest(invoice_id=invoice_id, request_id=f"{run}-issue-{invoice_id}")
    pay = invoice_service_pb2.MarkInvoicePaidRequest(
        invoice_id=invoice_id, payment_received_date=_date(today), notes="Wire transfer",
        request_id=f"{run}-pay-{invoice_id}",
    )  # fmt: skip
    return [
        clients.Call(SERVICE + "CreateInvoiceLineItem", line.SerializeToString()),
        clients.Call(SERVICE + "IssueInvoice", issue.SerializeToString()),
        clients.Call(SERVICE + "MarkInvoicePaid", pay.SerializeToString()),
    ]


class DraftSupply:
    """Fresh drafts for each run: the next range of the writes account's invoices."""

    def __init__(self, dsn: str) -> None:
        self._dsn = dsn
        self._next = 1

    def take(self, count: int) -> list[str]:
        """Seed `count` new drafts (and their stored forms); their ids."""
        first, last = self._next, self._next + count - 1
        self._next = last + 1
        asyncio.run(seed.insert_invoices(self._dsn, WRITES, first, last))
        forms.render(self._dsn, [(WRITES, first, last)], processes=1)
        return asyncio.run(seed.invoice_ids(self._dsn, WRITES, first, last))


def rows(target: str, dsn: str, key: str, effort: Effort, drafts_per_run: int) -> list[Row]:
    """Mutation throughput and p99 at 32 in flight against GetInvoice's, with the errors counted."""
    supply = DraftSupply(dsn)
    metadata = load.bearer(key)
    processes = max(1, effort.stream_processes // 2)
    mutation_rates, mutation_p99, get_rates, get_p99 = [], [], [], []
    errors: dict[str, int] = {}
    unpaid = 0
    for _ in range(effort.runs):
        drafts = supply.take(drafts_per_run)
        run = uuid.uuid4().hex[:8]
        gets = [[clients.Call(GET_INVOICE, get_invoice_body(i))] for i in drafts for _ in range(3)]
        got = clients.run(target, metadata, gets, in_flight=IN_FLIGHT, processes=processes)
        mutated = clients.run(
            target, metadata, [mutation_script(i, run) for i in drafts], in_flight=IN_FLIGHT, processes=processes
        )
        for tally in (got, mutated):
            for reason, count in tally.errors.items():
                errors[reason] = errors.get(reason, 0) + count
        unpaid += harness.sql_value(
            dsn, "SELECT count(*) FROM invoices WHERE id = ANY($1::text[]) AND status <> 'paid'", drafts
        )
        mutation_rates.append(mutated.calls / mutated.seconds)
        mutation_p99.append(load.percentile(mutated.all_latencies(), 99))
        get_rates.append(got.calls / got.seconds)
        get_p99.append(load.percentile(got.all_latencies(), 99))
    clean = not errors and unpaid == 0
    note = "" if clean else f"errors: {errors}; drafts not paid: {unpaid}"
    if note:
        print(f"  mutations: {note}", flush=True)
    no_errors = Target("report; no errors", lambda _v, _r: clean)
    client = f"{processes} Python client processes, 32 in flight"
    return [
        Row("mutations_throughput", "CreateInvoiceLineItem + IssueInvoice + MarkInvoicePaid, 32 in flight",
            statistics.median(mutation_rates), "calls/s", "GetInvoice, 32 in flight", statistics.median(get_rates),
            no_errors, client, note),
        Row("mutations_p99", "  the same, p99 of the three calls", statistics.median(mutation_p99), "ms",
            "GetInvoice p99, 32 in flight", statistics.median(get_p99), REPORT if clean else no_errors, client),
    ]  # fmt: skip
