"""The bench cannot rot: `python -m bench --dry-run` runs every scenario once, on a tiny data set.

Nothing here looks at a timing. The dry run must finish, produce every row of the table (each with a figure
and an anchor), and the rows that count errors must have seen none: the mutations all reached `paid`,
every ingested event was stored, every concurrent stream came back complete.
"""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import psutil
import pytest
from invoicing.v1 import invoice_pb2, invoice_service_pb2

from bench import __main__ as bench_main
from bench import fairness, growth, harness
from bench.load import count_field

ROWS = {
    "get_invoice_64", "get_invoice_p50", "stored_form_lookup_p50", "list_full_view", "list_rss_growth",
    "list_concurrent_streams",
    "mutations_throughput", "mutations_p99", "ingest", "upcoming", "fairness_8", "fairness_64", "fairness_256",
    "document", "document_renderer", "workers",
}  # fmt: skip
GROWTH = {
    "get_invoice_p50", "list_per_record", "first_batch", "first_batch_amount_gt", "first_batch_void",
    "first_batch_customer", "first_batch_due_window",
}  # fmt: skip
MUST_BE_CLEAN = {"list_concurrent_streams", "mutations_throughput", "ingest"}


def test_stream_records_are_counted_without_parsing() -> None:
    message = invoice_service_pb2.ListInvoicesResponse(
        invoices=[invoice_pb2.Invoice(id=f"inv_{n}", memo="x" * 300 * n) for n in range(3)], resume_token="t" * 200
    )
    assert count_field(message.SerializeToString()) == 3
    assert count_field(invoice_service_pb2.ListInvoicesResponse(resume_token="t").SerializeToString()) == 0


def test_growth_figures_are_medians_over_the_rounds() -> None:
    """A round the machine slowed (the second) moves neither figure: each is the median of its own values."""
    rounds = [
        [growth.Figure("a", "A", "ms", 1.0), growth.Figure("b", "B", "us", 10.0)],
        [growth.Figure("a", "A", "ms", 9.0), growth.Figure("b", "B", "us", 90.0)],
        [growth.Figure("a", "A", "ms", 2.0), growth.Figure("b", "B", "us", 11.0)],
    ]
    assert growth.medians(rounds) == [growth.Figure("a", "A", "ms", 2.0), growth.Figure("b", "B", "us", 11.0)]


def test_growth_sides_alternate_call_by_call_neither_always_first() -> None:
    calls: list[tuple[str, int]] = []

    def side(name: str) -> Callable[[int], float]:
        def measure(number: int) -> float:
            calls.append((name, number))
            return float(number)

        return measure

    values = growth.alternating([side("a"), side("b")], 4)
    assert calls == [("a", 0), ("b", 0), ("b", 1), ("a", 1), ("a", 2), ("b", 2), ("b", 3), ("a", 3)]
    assert values == [[0.0, 1.0, 2.0, 3.0], [0.0, 1.0, 2.0, 3.0]]


def test_growth_sides_stop_after_their_budget_with_three_samples_at_least() -> None:
    values = growth.alternating([lambda _: 1.0, lambda _: 2.0], 20, budget_s=0.0)
    assert values == [[1.0] * 3, [2.0] * 3]


@pytest.mark.slow
@pytest.mark.timeout(600)  # a server process per size and several client processes, on a busy machine
def test_dry_run_produces_every_row(database_dsn: str, project_root: Path, tmp_path: Path) -> None:
    results = tmp_path / "results.json"
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--dry-run", "--database-url", database_dsn, "--json", str(results)],
        cwd=project_root,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    document = json.loads(results.read_text())
    rows = {row["key"]: row for row in document["rows"]}
    assert set(rows) == ROWS | {f"growth_{figure}_300" for figure in GROWTH}
    for key, row in rows.items():
        if key == "workers" and row["note"]:
            continue  # serve has no --workers yet: the row says so
        assert math.isfinite(row["value"] if row["value"] is not None else math.nan), row
        assert row["value"] > 0 or key == "list_rss_growth", row  # memory may even shrink over a stream
        assert (row["anchor"] or 0) > 0, row
        assert row["scenario"] in done.stdout
    for key in MUST_BE_CLEAN:
        assert rows[key]["note"] == "", rows[key]
    for callers in (8, 64, 256):  # each fairness figure says how busy the machine was, alone and beside
        assert re.fullmatch(r"machine busy \d+% alone, \d+% beside", rows[f"fairness_{callers}"]["note"])
    assert [step["invoices_in_database"] for step in document["seeding"]] == [130, 330]


def test_busy_share_counts_every_core_and_sees_a_busy_one() -> None:
    def spin() -> float:
        deadline = time.perf_counter() + 0.3
        while time.perf_counter() < deadline:
            pass
        return 42.0

    result, busy = fairness.busy_while(spin)
    assert result == 42.0
    # One core kept busy of the machine's: at least that core's share (other processes only add to it).
    assert 0.9 / (psutil.cpu_count() or 1) <= busy <= 1.0


def test_a_server_setting_named_on_the_command_line_reaches_every_server_and_no_other_does(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The bench's own INVOICING_* environment never reaches its servers; --server-setting does, and is kept."""
    monkeypatch.setattr(harness, "SERVER_SETTINGS", {})
    monkeypatch.setenv("INVOICING_MAX_CONCURRENT_CALLS", "3")
    bench_main._arguments(["--only", "fairness", "--server-setting", "INVOICING_MAX_RUNNING_CALLS_PER_ACCOUNT=1"])
    env = harness.server_env("postgresql://db", tmp_path, "127.0.0.1:1")
    assert env["INVOICING_MAX_RUNNING_CALLS_PER_ACCOUNT"] == "1"
    assert "INVOICING_MAX_CONCURRENT_CALLS" not in env
    assert env["INVOICING_LISTEN"] == "127.0.0.1:1"
    for bad in ("MAX_RUNNING_CALLS_PER_ACCOUNT=1", "INVOICING_MAX_RUNNING_CALLS_PER_ACCOUNT", "INVOICING_LISTEN=:1"):
        with pytest.raises(SystemExit):
            bench_main._arguments(["--server-setting", bad])
