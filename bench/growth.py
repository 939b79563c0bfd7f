"""Growth: the cost of a read as the database grows (10k, 200k, 2M invoices), against the first size.

At each size: GetInvoice p50 over invoices picked at random across the account (1 in flight, so that a large
table's cold pages count), ListInvoices' cost per record over a long stream, and the time to the first
batch of ListInvoices with limit 20, unfiltered and with each selective filter: a total above 5,500 (about
1% of invoices), only `void` (none in the main account: the whole account qualifies to be looked at), one
customer, and a due date within the last 30 days.

The first size's figures are measured again beside every later size's, on a copy of the database as it was
at the first size (its own server): the larger sizes take minutes to seed, and the development machine's
speed drifts more than that between one measurement and one a quarter of an hour later (a pure-CPU step, the
PDF renderer, measured 132 and 215 ms on one machine on one evening). The two alternate, `ROUNDS` times, each
round of the larger size's figures between two of the first size's, a few seconds apart; each figure and its
anchor are medians over the rounds. One round of each (a 5,000-invoice stream measured three times) moved
the 10k figure from 6.7 to 10.3 µs a record within one run.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from invoicing.v1 import invoice_pb2

from bench import harness, load, seed
from bench.reads import GET_INVOICE, LIST_INVOICES, Effort, list_request, sample_bodies
from bench.table import REPORT, Row, ratio_at_most

AMOUNT_GT = "5500"
DUE_WINDOW = "30d"
SLOW_MEASURE_S = 15.0
# How many times a later size's figures are measured, each time between two measurements of the first size's.
ROUNDS = 5


@dataclass(frozen=True)
class Figure:
    """One measured quantity at one size."""

    key: str
    label: str
    unit: str
    value: float


def _repeat_ms(measure: Callable[[], float], samples: int) -> float:
    """The median of up to `samples` measurements (at least 3), stopping after SLOW_MEASURE_S seconds."""
    values: list[float] = []
    deadline = time.monotonic() + SLOW_MEASURE_S
    while len(values) < samples and (len(values) < 3 or time.monotonic() < deadline):
        values.append(measure())
    return statistics.median(values)


@dataclass(frozen=True)
class Step:
    """The figures at one size, and the first size's figures measured beside them (None at the first size)."""

    figures: list[Figure]
    anchor: list[Figure] | None = None


def medians(rounds: list[list[Figure]]) -> list[Figure]:
    """Each figure as the median of its values over the rounds (each round measures every figure once)."""
    return [
        replace(figures[0], value=statistics.median(f.value for f in figures)) for figures in zip(*rounds, strict=True)
    ]


def measure(
    server: harness.Server, dsn: str, key: str, account_name: str, customer_id: str, effort: Effort, list_records: int
) -> list[Figure]:
    """Every growth figure at the database's current size."""
    metadata = load.bearer(key)
    ids = asyncio.run(seed.sample_invoices(dsn, account_name, effort.latency_samples))
    get_ms = statistics.median(
        load.unary_latencies_ms(server.target, GET_INVOICE, sample_bodies(ids, effort.latency_samples), metadata)
    )
    figures = [Figure("get_invoice_p50", "GetInvoice p50, random invoices, 1 in flight", "ms", get_ms)]
    with load.stream_channel(server.target) as channel:
        long_body = list_request(limit=list_records)

        def per_record_us() -> float:
            reading = load.read_stream(channel, LIST_INVOICES, long_body, metadata)
            return reading.total_s / max(1, reading.records) * 1e6

        figures.append(
            Figure("list_per_record", f"ListInvoices cost per record ({list_records:,}-invoice stream)", "us",
                   statistics.median(per_record_us() for _ in range(effort.runs)))
        )  # fmt: skip
        cases: Sequence[tuple[str, str, bytes]] = [
            ("first_batch", "ListInvoices limit 20, first batch", list_request(limit=20)),
            ("first_batch_amount_gt", f"ListInvoices limit 20, amount_gt {AMOUNT_GT} (~1%), first batch",
             list_request(limit=20, amount_gt=AMOUNT_GT)),
            ("first_batch_void", "ListInvoices limit 20, only void (no match), first batch",
             list_request(limit=20, status=[invoice_pb2.INVOICE_STATUS_VOID])),
            ("first_batch_customer", "ListInvoices limit 20, one customer, first batch",
             list_request(limit=20, customer_id=customer_id)),
            ("first_batch_due_window", f"ListInvoices limit 20, due in the last {DUE_WINDOW}, first batch",
             list_request(limit=20, due_date_window=DUE_WINDOW)),
        ]  # fmt: skip
        for name, label, body in cases:
            load.first_batch_ms(channel, LIST_INVOICES, body, metadata)  # plan cached, pages warm as in use
            value = _repeat_ms(lambda b=body: load.first_batch_ms(channel, LIST_INVOICES, b, metadata), 20)  # type: ignore[misc]
            figures.append(Figure(name, label, "ms", value))
    return figures


def size_label(size: int) -> str:
    """10000 -> "10k", 2000000 -> "2M"."""
    if size >= 1_000_000 and size % 1_000_000 == 0:
        return f"{size // 1_000_000}M"
    if size >= 1000 and size % 1000 == 0:
        return f"{size // 1000}k"
    return str(size)


def rows(by_size: dict[int, Step]) -> list[Row]:
    """Each figure at every size after the first, against the first size's figure measured beside it."""
    sizes = sorted(by_size)
    first, largest = sizes[0], sizes[-1]
    result = []
    for figure_key in [figure.key for figure in by_size[first].figures]:
        for size in sizes[1:]:
            step = by_size[size]
            figure = next(f for f in step.figures if f.key == figure_key)
            anchor = next(f for f in step.anchor or by_size[first].figures if f.key == figure_key)
            result.append(
                Row(
                    f"growth_{figure_key}_{size_label(size)}",
                    f"Growth {size_label(size)}: {figure.label}",
                    figure.value,
                    figure.unit,
                    f"same at {size_label(first)} invoices" + (" (beside it)" if step.anchor else ""),
                    anchor.value,
                    ratio_at_most(1.2) if size == largest else REPORT,
                    "Python client (1 in flight)",
                )
            )
    return result
