"""Prometheus metrics, served over HTTP when configured.

Calls, latency and status by RPC; saturation apart from health: connections of
each pool in use, idle and waited for, and how long the waits take; open
streams by RPC; calls in flight and calls refused by admission control; the
database probe behind the health service.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Protocol

from prometheus_client import REGISTRY, Counter, Gauge, Histogram, start_http_server
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

RPCS = Counter("invoicing_rpc_total", "RPCs served, by method and status code.", ["method", "code"])
LATENCY = Histogram(
    "invoicing_rpc_duration_seconds",
    "Time to serve an RPC (a whole stream for streaming RPCs), by method.",
    ["method"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
OPEN_STREAMS = Gauge("invoicing_streams_open", "Streaming RPCs in progress, by method.", ["method"])
IN_FLIGHT = Gauge("invoicing_calls_in_flight", "Calls admitted and not finished (health and reflection aside).")
WAITING_TURN = Gauge(
    "invoicing_calls_waiting_turn", "Admitted unary calls waiting for their account's turn to run (others active)."
)
WAITING_ROW = Gauge(
    "invoicing_calls_waiting_row",
    "Mutations waiting in the server for another call on the same row (a hot customer) to finish.",
)
REFUSED = Counter(
    "invoicing_calls_refused_total", "Calls refused by admission control, by reason (the limit reached).", ["reason"]
)
ACQUIRE_WAIT = Histogram(
    "invoicing_db_pool_acquire_seconds",
    "Time a call waited for a database connection (its account's share, then the pool), by pool.",
    ["pool"],
    buckets=(0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
FROZEN_OBJECTS = Gauge(
    "invoicing_gc_frozen_objects", "Objects start-up left out of the garbage collector's scans (gc.freeze)."
)
BUSY_WAITS = Counter(
    "invoicing_busy_waits_total",
    "Busy waits of the event loop for a lone lookup's answer, by what ended them: an I/O event, or the budget.",
    ["ended_by"],
)
DATABASE_UP = Gauge("invoicing_database_up", "1 while the health probe's own connection gets answers, else 0.")
PROBE_FAILURES = Counter("invoicing_database_probe_failures_total", "Health probes of the database that failed.")
STREAMS_STALLED = Counter(
    "invoicing_streams_stalled_total", "List streams ended because their client stopped reading.", ["method"]
)


@dataclass(frozen=True)
class PoolStats:
    """A pool's connections at one moment."""

    in_use: int
    idle: int
    size: int
    max_size: int
    waiting: int


class Pool(Protocol):
    """What the pool gauges read from a pool."""

    name: str

    def stats(self) -> PoolStats:
        """The pool's figures now."""
        ...


class _PoolCollector(Collector):
    """Reads the live pools at scrape time (several servers in one process add up by pool name)."""

    def __init__(self) -> None:
        self.pools: weakref.WeakSet[Pool] = weakref.WeakSet()

    def collect(self) -> Iterator[GaugeMetricFamily]:
        totals: dict[str, dict[str, int]] = {}
        for pool in list(self.pools):
            stats = pool.stats()
            row = totals.setdefault(pool.name, dict.fromkeys(("in_use", "idle", "size", "max_size", "waiting"), 0))
            for key in row:
                row[key] += getattr(stats, key)
        for key, text in [
            ("in_use", "Database connections in use, by pool."),
            ("idle", "Open database connections not in use, by pool."),
            ("size", "Open database connections, by pool."),
            ("max_size", "Most database connections the pool may open."),
            ("waiting", "Calls waiting for a database connection, by pool."),
        ]:
            family = GaugeMetricFamily(f"invoicing_db_pool_{key}", text, labels=["pool"])
            for name, row in totals.items():
                family.add_metric([name], row[key])
            yield family


_POOLS = _PoolCollector()
REGISTRY.register(_POOLS)


def watch_pools(pools: Iterable[Pool]) -> None:
    """Report these pools in the pool gauges for as long as they exist."""
    for pool in pools:
        _POOLS.pools.add(pool)


def rpc_observer(method: str) -> Callable[[str, float], None]:
    """How to count one finished RPC of method and its duration, given its code (bound once per method: the
    label lookups cost more than the counting, and this runs on every call)."""
    latency = LATENCY.labels(method).observe
    counters: dict[str, Callable[[], None]] = {}

    def observe(code: str, seconds: float) -> None:
        count = counters.get(code)
        if count is None:
            count = counters[code] = RPCS.labels(method, code).inc
        count()
        latency(seconds)

    return observe


def acquire_wait(pool: str) -> Callable[[float], None]:
    """How to record the time a call waited for a connection of pool (bound once: the hot path is per call)."""
    return ACQUIRE_WAIT.labels(pool).observe


def serve(listen: str) -> None:
    """Expose /metrics on host:port (in a background thread)."""
    host, _, port = listen.rpartition(":")
    start_http_server(int(port), addr=host or "127.0.0.1")
