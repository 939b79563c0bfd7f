"""Growth: the cost of a read as the database grows (10k, 200k, 2M invoices), against the first size.

At each size: GetInvoice p50 over invoices picked at random across the account (1 in flight, so that a large
table's cold pages count), ListInvoices' cost per record over a long stream, and the time to the first
batch of ListInvoices with limit 20, unfiltered and with each selective filter: a total above 5,500 (about
1% of invoices), only `void` (none in the main account: the whole account qualifies to be looked at), one
customer, and a due date within the last 30 days.

The first size's figures are measured again beside every later size's, on a copy of the database as it was
at the first size (its own server): the larger sizes take minutes to seed, and the development machine's
speed drifts more than that between one measurement and one a quarter of an hour later (a pure-CPU step, the
PDF renderer, measured 132 and 215 ms on one machine on one evening). The two sizes' calls alternate one by
one (A B, B A, ...), so that each figure and its anchor are sampled over the same seconds; each is the median
of its samples in a round, then the median over `ROUNDS` rounds. Measured in rounds of each size a few
seconds apart instead, the ratios of the first batches at 2M moved by about 0.2 between runs of the same
code (one round of each, a 5,000-invoice stream measured three times, once moved the 10k figure from 6.7 to
10.3 µs a record within one run).
"""

from __future__ import annotations

import asyncio
import contextlib
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from functools import partial

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


@dataclass(frozen=True)
class Side:
    """A database measured by the growth figures, and the server over it."""

    server: harness.Server
    dsn: str


def alternating(
    measures: Sequence[Callable[[int], float]], samples: int, *, budget_s: float | None = None
) -> list[list[float]]:
    """Each measure's values (called with the sample's number), taken call by call in turns, the order reversed
    at every sample (A B, B A, ...) so that neither side always runs first: `samples` of each, or fewer (at least
    3) once `budget_s` seconds have passed."""
    values: list[list[float]] = [[] for _ in measures]
    deadline = None if budget_s is None else time.monotonic() + budget_s
    for number in range(samples):
        if number >= 3 and deadline is not None and time.monotonic() > deadline:
            break
        order = range(len(measures)) if number % 2 == 0 else reversed(range(len(measures)))
        for index in order:
            values[index].append(measures[index](number))
    return values


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
    sides: Sequence[Side], key: str, account_name: str, customer_id: str, effort: Effort, list_records: int
) -> list[list[Figure]]:
    """Every growth figure on each side (a database at one size and its server), the sides' calls alternating
    one by one: each figure and the same figure at another size are measured over the same seconds."""
    metadata = load.bearer(key)
    bodies = [
        sample_bodies(asyncio.run(seed.sample_invoices(side.dsn, account_name, effort.latency_samples)),
                      effort.latency_samples)
        for side in sides
    ]  # fmt: skip
    figures: list[list[Figure]] = [[] for _ in sides]

    def add(key: str, label: str, unit: str, values: list[list[float]]) -> None:
        for side_figures, side_values in zip(figures, values, strict=True):
            side_figures.append(Figure(key, label, unit, statistics.median(side_values)))

    def on_each_side(measure: Callable[[int, int], float]) -> list[Callable[[int], float]]:
        return [partial(measure, index) for index in range(len(sides))]

    with contextlib.ExitStack() as stack:
        channels = [stack.enter_context(load.stream_channel(side.server.target)) for side in sides]
        gets = [
            channel.unary_unary(GET_INVOICE, request_serializer=None, response_deserializer=None)
            for channel in channels
        ]

        def get_ms(index: int, number: int) -> float:
            start = time.perf_counter_ns()
            gets[index](bodies[index][number], metadata=metadata)
            return (time.perf_counter_ns() - start) / 1e6

        for index in range(len(sides)):  # warm-up
            for body in bodies[index][:50]:
                gets[index](body, metadata=metadata)
        add(
            "get_invoice_p50",
            "GetInvoice p50, random invoices, 1 in flight",
            "ms",
            alternating(on_each_side(get_ms), effort.latency_samples),
        )

        long_body = list_request(limit=list_records)

        def per_record_us(index: int, _: int) -> float:
            reading = load.read_stream(channels[index], LIST_INVOICES, long_body, metadata)
            return reading.total_s / max(1, reading.records) * 1e6

        add(
            "list_per_record",
            f"ListInvoices cost per record ({list_records:,}-invoice stream)",
            "us",
            alternating(on_each_side(per_record_us), effort.runs),
        )
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

            def first_batch_ms(index: int, _: int, body: bytes = body) -> float:
                return load.first_batch_ms(channels[index], LIST_INVOICES, body, metadata)

            for index in range(len(sides)):
                first_batch_ms(index, 0)  # plan cached, pages warm as in use
            add(
                name,
                label,
                "ms",
                alternating(on_each_side(first_batch_ms), 20, budget_s=SLOW_MEASURE_S),
            )
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
