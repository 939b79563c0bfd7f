"""The result table: one row per SPEC 11 scenario, its anchor from the same run, the ratio and the target.

Printed at the end of a run and written as JSON (`bench/results/latest.json` by default), from which
`python -m bench.report` prints the README's Markdown table again.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"


@dataclass(frozen=True)
class Target:
    """What a row must reach: a text for the table and a check of (value, ratio)."""

    text: str
    check: Callable[[float, float], bool] | None = None

    def met(self, value: float, ratio: float) -> bool | None:
        """True or False when the row has a target, None when it is reported only."""
        if self.check is None or math.isnan(ratio):
            return None
        return self.check(value, ratio)


def ratio_at_least(bound: float) -> Target:
    """The ratio to the anchor is at least `bound`."""
    return Target(f">= {bound:g}x", lambda _value, ratio: ratio >= bound)


def ratio_at_most(bound: float, *, value_at_most: float | None = None, unit: str = "") -> Target:
    """The ratio to the anchor is at most `bound` (and the figure itself at most `value_at_most`)."""
    if value_at_most is None:
        return Target(f"<= {bound:g}x", lambda _value, ratio: ratio <= bound)
    limit = value_at_most
    return Target(
        f"<= {bound:g}x, <= {limit:g} {unit}".rstrip(), lambda value, ratio: ratio <= bound and value <= limit
    )


def value_at_most(bound: float, unit: str) -> Target:
    """The figure itself is at most `bound` (the anchor is context only)."""
    return Target(f"<= {bound:g} {unit}", lambda value, _ratio: value <= bound)


REPORT = Target("(report)")


@dataclass
class Row:
    """One line of the table. `key` names the row in the JSON file; `client` says what generated the load."""

    key: str
    scenario: str
    value: float
    unit: str
    anchor_name: str
    anchor: float
    target: Target = REPORT
    client: str = ""
    note: str = ""
    ok: bool | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        self.ok = self.target.met(self.value, self.ratio())

    def ratio(self) -> float:
        """value / anchor (NaN without an anchor)."""
        return self.value / self.anchor if self.anchor and not math.isnan(self.anchor) else float("nan")

    def as_json(self) -> dict[str, Any]:
        """The row as plain JSON values."""
        data = asdict(self)
        data["target"] = self.target.text
        data["ratio"] = None if math.isnan(self.ratio()) else round(self.ratio(), 4)
        for name in ("value", "anchor"):
            data[name] = None if math.isnan(data[name]) else data[name]
        return data


def _figure(value: float) -> str:
    if math.isnan(value):
        return "-"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.3g}" if abs(value) < 10 else f"{value:.1f}"


def _verdict(ok: bool | None) -> str:
    return {True: "ok", False: "SHORT", None: ""}[ok]


def format_table(rows: Sequence[Row]) -> str:
    """The plain-text table printed at the end of a run."""
    width = max([len("scenario"), *(len(row.scenario) for row in rows)])
    head = f"{'scenario':<{width}} {'value':>10} {'unit':<10} {'anchor':<36} {'anchor':>10} {'ratio':>7}  target"
    lines = [head, "-" * len(head)]
    for row in rows:
        lines.append(
            f"{row.scenario:<{width}} {_figure(row.value):>10} {row.unit:<10} {row.anchor_name:<36}"
            f" {_figure(row.anchor):>10} {_figure(row.ratio()):>7}  {row.target.text} {_verdict(row.ok)}".rstrip()
        )
    return "\n".join(lines)


def load_average() -> tuple[float, float, float]:
    """The machine's 1, 5 and 15 minute load averages."""
    one, five, fifteen = os.getloadavg()
    return round(one, 2), round(five, 2), round(fifteen, 2)


def write_json(path: Path, rows: Iterable[Row], meta: dict[str, Any]) -> None:
    """Write the rows and the run's circumstances (sizes, seeding times, load averages) as JSON."""
    path.parent.mkdir(parents=True, exist_ok=True)
    document = {**meta, "rows": [row.as_json() for row in rows]}
    path.write_text(json.dumps(document, indent=2) + "\n")


def markdown(document: dict[str, Any]) -> str:
    """The README's table from a JSON result file."""
    lines = ["| Scenario | Figure | Anchor | Ratio | Target | Load generator |", "|---|---|---|---|---|---|"]
    for row in document["rows"]:
        value = _figure(float("nan") if row["value"] is None else row["value"])
        anchor = _figure(float("nan") if row["anchor"] is None else row["anchor"])
        anchor_text = f"{row['anchor_name']}: {anchor}" if row["anchor_name"] else ""
        ratio = "" if row["ratio"] is None else f"{row['ratio']:.2f}×"
        verdict = {True: " ✔", False: " ✘", None: ""}[row["ok"]]
        lines.append(
            f"| {row['scenario']} | {value} {row['unit']} | {anchor_text} | {ratio} | {row['target']}{verdict}"
            f" | {row['client']} |"
        )
    return "\n".join(lines)
