"""Structured logs: one JSON object per line, with the call's method, request id and trace id.

The call's fields come from `server.context` and the current OpenTelemetry span (trace and span ids only
when tracing is on and the call is sampled), so any log line written while serving a call carries them.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import sys

from opentelemetry import trace

from server import context


class JsonFormatter(logging.Formatter):
    """Formats a record as one JSON line (with the worker's number and pid in a worker of serve --workers)."""

    def __init__(self, worker: int | None = None) -> None:
        super().__init__()
        self._process: dict[str, object] = {} if worker is None else {"worker": worker, "pid": os.getpid()}

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            **self._process,
        }
        method, request_id = context.method(), context.request_id()
        if method:
            entry["method"] = method
        if request_id:
            entry["request_id"] = request_id
        span = trace.get_current_span().get_span_context()
        if span.is_valid:
            entry["trace_id"] = format(span.trace_id, "032x")
            entry["span_id"] = format(span.span_id, "016x")
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def configure(level: str, worker: int | None = None) -> None:
    """Send every log record to stderr as JSON lines, at level and above (naming the worker, if one)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(worker))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    logging.getLogger("pgserver").setLevel(logging.WARNING)
