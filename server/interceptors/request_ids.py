"""Request ids: every call gets one (the client's `x-request-id`, or a new one) for its log lines.

At DEBUG level, each finished call also writes one log line (method, status code, duration), which
carries the request id and, when tracing is on, the trace id.
"""

from __future__ import annotations

import itertools
import logging
import os
import time
from typing import Any, cast

import grpc

from server import context
from server.interceptors.base import MethodInterceptor, ServerStream, Unary, serve_stream

log = logging.getLogger("server.rpc")

_HEADER = "x-request-id"
_MAX_LENGTH = 128


# New ids: this process's random prefix and a counter, 32 hex digits like a UUID's, unique across processes
# and restarts without a random draw (a system call) per call. A forked worker draws a prefix of its own.
_PROCESS_PREFIX = os.urandom(8).hex()
_numbers = itertools.count()


def _new_process() -> None:
    global _PROCESS_PREFIX, _numbers
    _PROCESS_PREFIX, _numbers = os.urandom(8).hex(), itertools.count()


os.register_at_fork(after_in_child=_new_process)


def request_id_of(metadata: Any) -> str:
    """The client's x-request-id when it is printable ASCII of at most 128 characters; else a new id."""
    for key, value in metadata or ():
        if key != _HEADER or not isinstance(value, str):
            continue
        if 0 < len(value) <= _MAX_LENGTH and value.isascii() and value.isprintable():
            return value
    return f"{_PROCESS_PREFIX}{next(_numbers):016x}"


def _finished(call: grpc.aio.ServicerContext, started: float) -> None:
    if log.isEnabledFor(logging.DEBUG):
        code = call.code()
        name = code.name if isinstance(code, grpc.StatusCode) else "OK"
        log.debug("rpc finished: %s in %.1f ms", name, (time.perf_counter() - started) * 1000)


class RequestIds(MethodInterceptor):
    """Puts the call's request id in `server.context` (read by the log formatter)."""

    def unary(self, behavior: Unary, method: str) -> Unary:
        async def call(request: Any, servicer_context: grpc.aio.ServicerContext) -> Any:
            started = time.perf_counter()
            context.set_request_id(request_id_of(servicer_context.invocation_metadata()))
            try:
                return await behavior(request, servicer_context)
            finally:
                _finished(servicer_context, started)

        return call

    def server_stream(self, behavior: ServerStream, method: str) -> ServerStream:
        async def call(request: Any, servicer_context: grpc.aio.ServicerContext) -> None:
            started = time.perf_counter()
            context.set_request_id(request_id_of(servicer_context.invocation_metadata()))
            try:
                await serve_stream(behavior, request, servicer_context)
            finally:
                _finished(servicer_context, started)

        return cast(ServerStream, call)
