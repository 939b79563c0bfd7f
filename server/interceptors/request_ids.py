"""Request ids: every call gets one (the client's `x-request-id`, or a new one) for its log lines.

At DEBUG level, each finished call also writes one log line (method, status code, duration), which
carries the request id and, when tracing is on, the trace id.
"""

from __future__ import annotations

import logging
import time
import uuid
from typing import Any, cast

import grpc

from server import context
from server.interceptors.base import MethodInterceptor, ServerStream, Unary, serve_stream

log = logging.getLogger("server.rpc")

_HEADER = "x-request-id"
_MAX_LENGTH = 128


def request_id_of(metadata: Any) -> str:
    """The client's x-request-id when it is printable ASCII of at most 128 characters; else a new id."""
    for key, value in metadata or ():
        if key != _HEADER or not isinstance(value, str):
            continue
        if 0 < len(value) <= _MAX_LENGTH and value.isascii() and value.isprintable():
            return value
    return uuid.uuid4().hex


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
