"""Prometheus metrics: calls, latency and status by RPC, pools and streams, served over HTTP when configured."""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any

from prometheus_client import Counter, Gauge, Histogram, start_http_server

RPCS = Counter("invoicing_rpc_total", "RPCs served, by method and status code.", ["method", "code"])
LATENCY = Histogram(
    "invoicing_rpc_duration_seconds",
    "Time to serve an RPC (a whole stream for streaming RPCs), by method.",
    ["method"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)


def observe(method: str, code: str, seconds: float) -> None:
    """Count one finished RPC and its duration."""
    RPCS.labels(method, code).inc()
    LATENCY.labels(method).observe(seconds)


POOL_CONNECTIONS = Gauge(
    "invoicing_db_pool_connections", "Database connections by pool and state (in_use, idle).", ["pool", "state"]
)
POOL_WAITING = Gauge("invoicing_db_pool_waiting", "Calls waiting for a database connection, by pool.", ["pool"])
STREAMS = Gauge("invoicing_streams_active", "Server streams being served, by method.", ["method"])


# The asyncpg pools of this process by name ("unary", "stream"); a server that stops closes its pools, and
# closed pools drop out of the figures.
_POOLS: dict[str, list[Any]] = {}


def _waiting(pool: Any) -> int:
    """Acquirers blocked on an asyncpg pool: the getters waiting on its internal queue of connections."""
    return len(getattr(getattr(pool, "_queue", None), "_getters", ()))


def _in_use(pool: Any) -> int:
    return int(pool.get_size() - pool.get_idle_size())


def _total(name: str, figure: Callable[[Any], int]) -> float:
    pools = _POOLS.get(name, [])
    pools[:] = [p for p in pools if not p.is_closing()]
    return float(sum(figure(p) for p in pools))


def watch_pools(pools: Mapping[str, Any]) -> None:
    """Report the connections in use, idle and waited for of these asyncpg pools, read at each scrape."""
    for name, pool in pools.items():
        if name not in _POOLS:
            _POOLS[name] = []
            POOL_CONNECTIONS.labels(name, "in_use").set_function(functools.partial(_total, name, _in_use))
            POOL_CONNECTIONS.labels(name, "idle").set_function(
                functools.partial(_total, name, lambda p: int(p.get_idle_size()))
            )
            POOL_WAITING.labels(name).set_function(functools.partial(_total, name, _waiting))
        _POOLS[name].append(pool)


def stream_started(method: str) -> None:
    """Count a server stream as active."""
    STREAMS.labels(method).inc()


def stream_finished(method: str) -> None:
    """Count a server stream as no longer active."""
    STREAMS.labels(method).dec()


def serve(listen: str) -> None:
    """Expose /metrics on host:port (in a background thread)."""
    host, _, port = listen.rpartition(":")
    start_http_server(int(port), addr=host or "127.0.0.1")
