"""`make bench`: every SPEC 11 row, each beside its anchor measured in the same run, as a ratio with its target.

The database grows in steps (10k, 200k, 2M invoices: set-based SQL, then their wire forms rendered by the
service's own renderer, then VACUUM ANALYZE) and a fresh server is started on it at each step. At every step
the growth figures are taken; at the main step (200k) every other scenario runs:

| row                              | load generator                          | anchor (same run)                  |
|----------------------------------|-----------------------------------------|------------------------------------|
| GetInvoice, 64 in flight         | h2load, pre-framed bodies               | Health/Check, same server          |
| GetInvoice p50, 1 in flight      | h2load, per-request log                 | Health/Check p50                   |
| ListInvoices full view           | Python stream reader (counts, no parse) | asyncpg cursor over the same rows  |
| ListInvoices RSS growth          | (the same streams)                      | RSS before                         |
| 64 concurrent ListInvoices       | 4 Python client processes               | one stream alone                   |
| mutations, 32 in flight          | 2 Python client processes               | GetInvoice, 32 in flight           |
| IngestEvents, batches of 1000    | 2 Python client processes               | asyncpg binary COPY, same batches  |
| GetUpcomingInvoice, 1M events    | Python client, 1 in flight              | plain SQL over the raw events      |
| growth (per size)                | Python client, 1 in flight              | first size (a copy), alternating   |
| serve --workers 2                | h2load                                  | --workers 1                        |
| fairness, documents              | Python clients                          | alone; GetInvoice                  |

Medians of several runs. The table is printed at the end and written as JSON (bench/results/latest.json);
`python -m bench.report` prints it as the README's Markdown table.

Usage: python -m bench [--quick | --dry-run] [--only GROUP,...] [--database-url URL] [--json PATH]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import os
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from bench import accounts, documents, fairness, forms, growth, harness, ingestion, reads, seed, upcoming, writes
from bench.accounts import MAIN, OTHERS
from bench.table import RESULTS, Row, format_table, load_average, write_json

GROUPS = ("unary", "list", "streams", "mutations", "ingest", "upcoming", "growth", "workers", "fairness", "documents")


@dataclass(frozen=True)
class Plan:
    """The sizes and effort of a run."""

    name: str
    sizes: tuple[int, ...]
    main_size: int
    effort: reads.Effort
    events: int
    ingest_events: int
    drafts_per_run: int
    list_records: int
    fairness_samples: int
    fairness_settle_s: float
    document_samples: int
    groups: tuple[str, ...] = GROUPS
    other_share: float = 0.01


FULL = Plan(
    "full", (10_000, 200_000, 2_000_000), 200_000, reads.Effort(runs=3, seconds=8, latency_samples=2000),
    events=1_000_000, ingest_events=100_000, drafts_per_run=1000, list_records=20_000, fairness_samples=2000,
    fairness_settle_s=2.0, document_samples=20,
)  # fmt: skip
QUICK = Plan(
    "quick", (2_000, 20_000), 20_000, reads.Effort(runs=2, seconds=3, latency_samples=500),
    events=100_000, ingest_events=20_000, drafts_per_run=200, list_records=2_000, fairness_samples=300,
    fairness_settle_s=1.0, document_samples=3,
    groups=("unary", "list", "streams", "mutations", "ingest", "upcoming", "growth"),
)  # fmt: skip
DRY_RUN = Plan(
    "dry-run", (100, 300), 300,
    reads.Effort(runs=1, seconds=1, latency_samples=20, streams=8, stream_processes=2),
    events=2_000, ingest_events=2_000, drafts_per_run=8, list_records=50, fairness_samples=10,
    fairness_settle_s=0.2, document_samples=1,
)  # fmt: skip


def _parse_size(text: str) -> int:
    text = text.strip().lower().replace("_", "")
    for suffix, factor in (("k", 1_000), ("m", 1_000_000)):
        if text.endswith(suffix):
            return int(float(text[:-1]) * factor)
    return int(text)


def _log(message: str) -> None:
    print(f"[{dt.datetime.now():%H:%M:%S}] {message}", flush=True)


class Run:
    """One bench run: the database, the plan, the rows measured so far and the seeding record."""

    def __init__(self, plan: Plan, dsn: str, workdir: Path, h2load: str) -> None:
        self.plan = plan
        self.dsn = dsn
        self.workdir = workdir
        self.h2load = h2load
        self.rows: list[Row] = []
        self.seeding: list[dict[str, Any]] = []
        self.keys = accounts.create(dsn)
        self._seeded: dict[str, int] = {}

    def wants(self, group: str) -> bool:
        """True when the plan runs this group of rows."""
        return group in self.plan.groups

    def grow(self, size: int) -> None:
        """Seed the main account up to `size` invoices (the others up to their share), render, vacuum."""
        start = time.perf_counter()
        targets = [(MAIN, size), *((o, max(10, round(size * self.plan.other_share))) for o in OTHERS)]
        ranges = []
        for account, count in targets:
            done = self._seeded.get(account.name, 0)
            if count > done:
                asyncio.run(seed.insert_invoices(self.dsn, account, done + 1, count))
                ranges.append((account, done + 1, count))
                self._seeded[account.name] = count
        inserted = time.perf_counter()
        forms.render(self.dsn, ranges)
        rendered = time.perf_counter()
        asyncio.run(seed.vacuum(self.dsn))
        vacuumed = time.perf_counter()
        total = sum(self._seeded.values())
        self.seeding.append(
            {"size": size, "invoices_in_database": total, "insert_s": round(inserted - start, 1),
             "render_s": round(rendered - inserted, 1), "vacuum_s": round(vacuumed - rendered, 1)}
        )  # fmt: skip
        _log(
            f"seeded {total:,} invoices x 5 lines: insert {inserted - start:.0f} s, wire forms"
            f" {rendered - inserted:.0f} s, vacuum {vacuumed - rendered:.0f} s"
        )

    def measure(self, group: str, scenario: Callable[[], list[Row]]) -> None:
        """Run one group of rows and keep them (printing each as it comes)."""
        if not self.wants(group):
            return
        _log(f"{group}...")
        for row in scenario():
            _log(f"  {row.scenario}: {row.value:.4g} {row.unit} (anchor {row.anchor:.4g}, ratio {row.ratio():.3g})")
            self.rows.append(row)

    def main_rows(self, server: harness.Server) -> None:
        """Every row measured at the main size, on the server started for it."""
        p, effort, keys = self.plan, self.plan.effort, self.keys
        invoice_id = accounts.rich_invoice(self.dsn)
        self.measure("unary", lambda: reads.unary_rows(self.h2load, server, self.dsn, keys.main, invoice_id, effort))
        self.measure("list", lambda: reads.full_view_rows(server, self.dsn, keys.main, MAIN.name, effort))
        self.measure("streams", lambda: [reads.concurrent_streams_row(server, self.dsn, keys.main, MAIN.name, effort)])
        self.measure(
            "mutations",
            lambda: writes.rows(server.target, self.dsn, keys.writes, effort, p.drafts_per_run),
        )
        self.measure(
            "ingest",
            lambda: [
                ingestion.row(server.target, self.dsn, keys.ingest, accounts.INGEST, p.ingest_events, effort.runs,
                              max(1, effort.stream_processes // 2))
            ],
        )  # fmt: skip
        self.measure(
            "upcoming",
            lambda: [upcoming.row(server.target, self.dsn, keys.main, MAIN.name, p.events, effort.latency_samples)],
        )
        self.measure(
            "fairness",
            lambda: fairness.rows(server.target, keys.main, keys.hot, invoice_id, effort.runs, p.fairness_samples,
                                  p.fairness_settle_s),
        )  # fmt: skip
        self.measure("documents", lambda: documents.rows(server.target, self.dsn, keys.main, p.document_samples))
        self.measure(
            "workers", lambda: [reads.workers_row(self.h2load, self.dsn, self.workdir, keys.main, invoice_id, effort)]
        )

    def execute(self) -> None:
        """Grow through the sizes, measuring at each."""
        by_size: dict[int, growth.Step] = {}
        customer = ""
        # One stream length at every size (what the smallest size's default view holds), so that the cost per
        # record compares like with like.
        list_records = min(self.plan.list_records, self.plan.sizes[0] // 2)
        with contextlib.ExitStack() as stack:
            first_size_copy: str | None = None  # a copy of the database at the first size (see bench.growth)
            for size in self.plan.sizes:
                self.grow(size)
                customer = customer or accounts.first_customer(self.dsn)
                if self.wants("growth") and first_size_copy is None and len(self.plan.sizes) > 1:
                    first_size_copy = stack.enter_context(harness.database_copy(self.dsn))
                with harness.serving(self.dsn, self.workdir) as server:
                    if self.wants("growth"):
                        by_size[size] = self.growth_step(size, server, first_size_copy, customer, list_records)
                    if size == self.plan.main_size:
                        self.main_rows(server)
        if len(by_size) > 1:
            self.rows += growth.rows(by_size)

    def growth_step(
        self, size: int, server: harness.Server, first_size_copy: str | None, customer: str, list_records: int
    ) -> growth.Step:
        """The growth figures at this size; after the first size, beside the first size's (its copy), the two
        sizes' calls alternating one by one, in `growth.ROUNDS` rounds."""

        def figures(sides: list[growth.Side]) -> list[list[growth.Figure]]:
            return growth.measure(sides, self.keys.main, MAIN.name, customer, self.plan.effort, list_records)

        label = growth.size_label(size)
        if size == self.plan.sizes[0] or first_size_copy is None:
            _log(f"growth figures at {label}...")
            return growth.Step(figures([growth.Side(server, self.dsn)])[0])
        first = growth.size_label(self.plan.sizes[0])
        own: list[list[growth.Figure]] = []
        anchors: list[list[growth.Figure]] = []
        _log(f"growth figures at {label}, call by call beside those at {first} (its copy), {growth.ROUNDS} rounds...")
        with harness.serving(first_size_copy, self.workdir) as anchor_server:
            for _ in range(growth.ROUNDS):
                anchor, figures_here = figures(
                    [growth.Side(anchor_server, first_size_copy), growth.Side(server, self.dsn)]
                )
                anchors.append(anchor)
                own.append(figures_here)
        return growth.Step(growth.medians(own), growth.medians(anchors))


def _arguments(argv: list[str] | None) -> tuple[Plan, argparse.Namespace]:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true", help="smaller sets, fewer runs, the headline rows (~3 min)")
    mode.add_argument("--dry-run", action="store_true", help="every row on a tiny set, once: checks the bench works")
    parser.add_argument("--only", help=f"comma-separated groups to run, of: {', '.join(GROUPS)}")
    parser.add_argument("--sizes", help="invoice counts to grow through, such as 10k,200k,2M")
    parser.add_argument("--main-size", help="the size at which the non-growth rows run (one of --sizes)")
    parser.add_argument("--runs", type=int, help="runs per figure (the median is kept)")
    parser.add_argument("--database-url", help="use a fresh database on this PostgreSQL (default: an embedded one)")
    parser.add_argument("--json", type=Path, help="where to write the results (default bench/results/latest.json)")
    parser.add_argument(
        "--server-setting",
        action="append",
        default=[],
        metavar="INVOICING_NAME=VALUE",
        help="a setting for every server the run starts, such as INVOICING_MAX_RUNNING_CALLS_PER_ACCOUNT=1"
        " (repeatable; recorded with the results)",
    )
    args = parser.parse_args(argv)
    for setting in args.server_setting:
        name, equals, value = setting.partition("=")
        if not equals or not name.startswith("INVOICING_") or name in harness.FIXED_SETTINGS:
            parser.error(f"--server-setting wants INVOICING_NAME=VALUE, not one the bench sets itself: {setting!r}")
        harness.SERVER_SETTINGS[name] = value
    plan = QUICK if args.quick else DRY_RUN if args.dry_run else FULL
    if args.only:
        wanted = tuple(g.strip() for g in args.only.split(","))
        unknown = set(wanted) - set(GROUPS)
        if unknown:
            parser.error(f"unknown groups: {', '.join(sorted(unknown))}")
        plan = replace(plan, groups=wanted)
    if args.sizes:
        sizes = tuple(sorted(_parse_size(s) for s in args.sizes.split(",")))
        plan = replace(plan, sizes=sizes, main_size=sizes[min(1, len(sizes) - 1)])
    if args.main_size:
        plan = replace(plan, main_size=_parse_size(args.main_size))
    if plan.main_size not in plan.sizes:
        parser.error("--main-size must be one of the sizes")
    if args.runs:
        plan = replace(plan, effort=replace(plan.effort, runs=args.runs))
    if "growth" not in plan.groups:
        plan = replace(plan, sizes=(plan.main_size,))  # only the main size's rows: no larger set to seed
    return plan, args


def main(argv: list[str] | None = None) -> int:
    """Run the bench; print the table; write the JSON file."""
    plan, args = _arguments(argv)
    h2load = harness.ensure_tool("h2load", "nghttp2-client")
    started, load_before = time.time(), load_average()
    settings = "".join(f"; {name}={value}" for name, value in harness.SERVER_SETTINGS.items())
    _log(f"{plan.name} run: sizes {', '.join(growth.size_label(s) for s in plan.sizes)}; load average {load_before}"
         f"{settings}")  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp, harness.database(args.database_url, Path(tmp)) as dsn:
        run = Run(plan, dsn, Path(tmp), h2load)
        run.execute()
    load_after = load_average()
    duration = time.time() - started
    print()
    print(format_table(run.rows))
    print(
        f"\n{plan.name} run, {duration / 60:.1f} min; medians of {plan.effort.runs} run(s); load average"
        f" {load_before} at the start, {load_after} at the end ({os.cpu_count()} cores){settings}."
    )
    for step in run.seeding:
        print(
            f"seeding to {step['invoices_in_database']:,} invoices: {step['insert_s']} s insert,"
            f" {step['render_s']} s wire forms, {step['vacuum_s']} s vacuum"
        )
    meta = {
        "mode": plan.name,
        "started_at": dt.datetime.fromtimestamp(started, dt.UTC).isoformat(timespec="seconds"),
        "duration_s": round(duration, 1),
        "cores": os.cpu_count(),
        "load_average_start": load_before,
        "load_average_end": load_after,
        "runs": plan.effort.runs,
        "sizes": list(plan.sizes),
        "main_size": plan.main_size,
        "seeding": run.seeding,
        "server_settings": dict(harness.SERVER_SETTINGS),
    }
    path = args.json or RESULTS / "latest.json"
    write_json(path, run.rows, meta)
    print(f"results written to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
