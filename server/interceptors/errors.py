"""Errors and metrics: every call leaves through one mapping to a status, and is counted once.

Whatever a handler (or an inner interceptor) raises becomes a gRPC status via
`server.errors`; each finished call is observed by method and code in the
Prometheus metrics.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import grpc

from server import metrics
from server.errors import status_for_exception
from server.interceptors.base import MethodInterceptor, ServerStream, Unary


class ErrorsAndMetrics(MethodInterceptor):
    """The outermost interceptor of the service methods."""

    def unary(self, behavior: Unary, method: str) -> Unary:
        async def call(request: Any, context: grpc.aio.ServicerContext) -> Any:
            started = time.perf_counter()
            code = "OK"
            try:
                return await behavior(request, context)
            except grpc.aio.AbortError:
                raise
            except asyncio.CancelledError:
                code = "CANCELLED"
                raise
            except Exception as exc:  # every failure leaves through the one mapping
                status = status_for_exception(exc, method)
                code = status.code.name
                await _abort(context, status)
            finally:
                metrics.observe(method, code, time.perf_counter() - started)

        return call

    def server_stream(self, behavior: ServerStream, method: str) -> ServerStream:
        async def call(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
            started = time.perf_counter()
            code = "OK"
            metrics.stream_started(method)
            try:
                async for message in behavior(request, context):
                    yield message
            except grpc.aio.AbortError:
                raise
            except (asyncio.CancelledError, GeneratorExit):
                code = "CANCELLED"
                raise
            except Exception as exc:
                status = status_for_exception(exc, method)
                code = status.code.name
                await _abort(context, status)
            finally:
                metrics.stream_finished(method)
                metrics.observe(method, code, time.perf_counter() - started)

        return call


async def _abort(context: grpc.aio.ServicerContext, status: grpc.Status) -> None:
    """End the call with status (context.abort raises AbortError, which grpc expects)."""
    await context.abort(status.code, status.details, status.trailing_metadata)
