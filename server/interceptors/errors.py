"""Errors and metrics: every call leaves through one mapping to a status, and is counted once.

Whatever a handler (or an inner interceptor) raises becomes a gRPC status via
`server.errors`; each finished call is observed by method and code in the
Prometheus metrics, and streams are counted while they are open.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import Any, cast

import grpc
from grpc._cython import cygrpc

from server import metrics
from server.errors import status_for_exception
from server.interceptors.base import MethodInterceptor, ServerStream, Unary

# What grpc raises when a message cannot be sent because the call is over on the client's side.
_SEND_FAILED = cygrpc.ExecuteBatchError
# The logger grpc.aio reports a servicer's failures on.
_GRPC_LOG = logging.getLogger("grpc._cython.cygrpc")


class _ClientDepartures(logging.Filter):
    """Keeps grpc.aio's report of a call it could not finish sending as the ordinary cancellation it is.

    A handler's messages are written by ErrorsAndMetrics, which ends a call quietly when a write fails; but
    the final status is sent by grpc itself once the handler returns. A client that goes away between its
    last message and that status (a list read to its first batch and dropped) makes the send fail, and grpc
    logs `ExecuteBatchError raised in core by servicer method` at ERROR with a traceback. Such a record is
    kept at DEBUG (without the traceback), and dropped unless grpc's logger shows DEBUG.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info is None or not isinstance(record.exc_info[1], _SEND_FAILED):
            return True
        if not _GRPC_LOG.isEnabledFor(logging.DEBUG):
            return False
        record.levelno, record.levelname = logging.DEBUG, logging.getLevelName(logging.DEBUG)
        record.msg, record.exc_info, record.exc_text = f"{record.msg} (the client had gone)", None, None
        return True


def quiet_client_departures() -> None:
    """Install the `_ClientDepartures` filter on grpc.aio's logger (once per process)."""
    if not any(isinstance(f, _ClientDepartures) for f in _GRPC_LOG.filters):
        _GRPC_LOG.addFilter(_ClientDepartures())


class ErrorsAndMetrics(MethodInterceptor):
    """The outermost interceptor of the service methods."""

    def unary(self, behavior: Unary, method: str) -> Unary:
        observe = metrics.rpc_observer(method)

        async def call(request: Any, context: grpc.aio.ServicerContext) -> Any:
            started = time.perf_counter()
            code: str | None = "OK"  # None: counted already
            try:
                return await behavior(request, context)
            except grpc.aio.AbortError:
                raise
            except asyncio.CancelledError:
                code = "CANCELLED"
                raise
            except Exception as exc:  # every failure leaves through the one mapping
                code = None
                await _fail(context, status_for_exception(exc, method), observe, started)
            finally:
                if code is not None:
                    observe(code, time.perf_counter() - started)

        return call

    def client_stream(self, behavior: Unary, method: str) -> Unary:
        unary = self.unary(behavior, method)
        open_streams = metrics.OPEN_STREAMS.labels(method)

        async def call(requests: Any, context: grpc.aio.ServicerContext) -> Any:
            open_streams.inc()
            try:
                return await unary(requests, context)
            finally:
                open_streams.dec()

        return call

    def server_stream(self, behavior: ServerStream, method: str) -> ServerStream:
        """Writes the stream's messages itself (context.write) rather than handing grpc a generator.

        So a write that fails because the client went away (cancelled, reset, past its deadline) ends the
        call as a cancellation, quietly, instead of surfacing in grpc as an error with a traceback.
        """
        open_streams = metrics.OPEN_STREAMS.labels(method)
        observe = metrics.rpc_observer(method)

        async def call(request: Any, context: grpc.aio.ServicerContext) -> None:
            started = time.perf_counter()
            code: str | None = "OK"  # None: counted already
            open_streams.inc()
            try:
                stream = behavior(request, context)
                async with contextlib.aclosing(stream) as messages:
                    async for message in messages:
                        try:
                            await context.write(message)
                        except _SEND_FAILED as exc:
                            raise asyncio.CancelledError("the client went away") from exc
            except grpc.aio.AbortError:
                raise
            except (asyncio.CancelledError, GeneratorExit):
                code = "CANCELLED"
                raise
            except Exception as exc:
                code = None
                await _fail(context, status_for_exception(exc, method), observe, started)
            finally:
                open_streams.dec()
                if code is not None:
                    observe(code, time.perf_counter() - started)

        return cast(ServerStream, call)


async def _fail(
    context: grpc.aio.ServicerContext, status: grpc.Status, observe: Callable[[str, float], None], started: float
) -> None:
    """Count the failed call, then end it with status (context.abort raises AbortError, which grpc expects).

    Counted first: abort sends the status before it returns, so a client that has seen the status finds the
    call in the metrics.
    """
    observe(status.code.name, time.perf_counter() - started)
    await context.abort(status.code, status.details, status.trailing_metadata)
