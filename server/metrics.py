"""Prometheus metrics: calls, latency and status by RPC, served over HTTP when configured."""

from __future__ import annotations

from prometheus_client import Counter, Histogram, start_http_server

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


def serve(listen: str) -> None:
    """Expose /metrics on host:port (in a background thread)."""
    host, _, port = listen.rpartition(":")
    start_http_server(int(port), addr=host or "127.0.0.1")
