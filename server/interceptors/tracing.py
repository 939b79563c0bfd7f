"""Tracing: one OpenTelemetry SERVER span per RPC, the parent of the call's database spans.

Installed only when tracing is configured (`server.tracing`), as the outermost interceptor, so the span
covers authentication, error mapping and the whole of a stream. A W3C `traceparent` sent by the client
makes the span part of the client's trace.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, cast

import grpc
from opentelemetry import trace
from opentelemetry.propagate import extract
from opentelemetry.trace import SpanKind, Status, StatusCode

from server.interceptors.base import MethodInterceptor, ServerStream, Unary, serve_stream

# Server-side codes that mean the server failed (OpenTelemetry's RPC conventions); the others are the
# client's doing and leave the span's status unset.
_SERVER_ERRORS = {
    grpc.StatusCode.UNKNOWN,
    grpc.StatusCode.DEADLINE_EXCEEDED,
    grpc.StatusCode.UNIMPLEMENTED,
    grpc.StatusCode.INTERNAL,
    grpc.StatusCode.UNAVAILABLE,
    grpc.StatusCode.DATA_LOSS,
}


class CallTracing(MethodInterceptor):
    """Wraps each RPC in a span named `package.Service/Method` with the rpc.* attributes."""

    def __init__(self, tracer_provider: trace.TracerProvider) -> None:
        super().__init__()
        self._tracer = tracer_provider.get_tracer("invoice-service")

    @contextmanager
    def _span(self, call: grpc.aio.ServicerContext, method: str) -> Iterator[trace.Span]:
        service, _, name = method.strip("/").partition("/")
        carrier = {k: v for k, v in call.invocation_metadata() or () if isinstance(v, str)}
        attributes = {"rpc.system": "grpc", "rpc.service": service, "rpc.method": name}
        # The status code decides the span's status, not the AbortError that carries it.
        with self._tracer.start_as_current_span(
            f"{service}/{name}",
            context=extract(carrier),
            kind=SpanKind.SERVER,
            attributes=attributes,
            record_exception=False,
            set_status_on_exception=False,
        ) as span:
            try:
                yield span
            finally:
                code = call.code()
                code = code if isinstance(code, grpc.StatusCode) else grpc.StatusCode.OK
                span.set_attribute("rpc.grpc.status_code", code.value[0])
                if code in _SERVER_ERRORS:
                    span.set_status(Status(StatusCode.ERROR, code.name))

    def unary(self, behavior: Unary, method: str) -> Unary:
        async def call(request: Any, context: grpc.aio.ServicerContext) -> Any:
            with self._span(context, method):
                return await behavior(request, context)

        return call

    def server_stream(self, behavior: ServerStream, method: str) -> ServerStream:
        async def call(request: Any, context: grpc.aio.ServicerContext) -> None:
            with self._span(context, method):
                await serve_stream(behavior, request, context)

        return cast(ServerStream, call)
