"""API keys and the interceptor that every RPC passes through.

Keys look like `sk_<43 random characters>`; only their SHA-256 is stored (a
fast hash is right for 256-bit random secrets). The interceptor checks
`authorization: Bearer <key>` on every RPC except health and reflection, puts
the caller's account and deadline in context variables, and maps whatever the
handler raises to a status through `server.errors`.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextvars import ContextVar
from typing import Any

import grpc
from google.protobuf.message import DecodeError

from server import metrics
from server.db import accounts
from server.db.pool import Database, call_deadline
from server.domain.errors import InvalidArgument, Unauthenticated
from server.errors import status_for_exception

log = logging.getLogger(__name__)

KEY_PREFIX = "sk_"
_PUBLIC_PREFIXES = ("/grpc.health.v1.", "/grpc.reflection.")

current_account: ContextVar[str] = ContextVar("current_account")


def new_api_key() -> str:
    """A fresh random API key (shown once, never stored)."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


def hash_key(key: str) -> bytes:
    """What is stored and looked up for a key."""
    return hashlib.sha256(key.encode()).digest()


def account_id() -> str:
    """The account of the RPC being served (set by the interceptor)."""
    return current_account.get()


class KeyCache:
    """Remembers valid keys for a few seconds so that most calls skip the lookup."""

    def __init__(self, db: Database, ttl_seconds: float) -> None:
        self._db = db
        self._ttl = ttl_seconds
        self._entries: dict[bytes, tuple[str, float]] = {}

    async def account_for(self, metadata: tuple[tuple[str, str | bytes], ...] | None) -> str:
        """The account of the bearer key in the metadata, or Unauthenticated."""
        key = _bearer_key(metadata)
        digest = hash_key(key)
        now = time.monotonic()
        cached = self._entries.get(digest)
        if cached is not None and cached[1] > now:
            return cached[0]
        async with self._db.connection() as conn:
            found = await accounts.account_for_key(conn, digest)
        if found is None:
            raise Unauthenticated("unknown API key", reason="API_KEY_INVALID")
        account, revoked_at = found
        if revoked_at is not None:
            raise Unauthenticated("the API key was revoked", reason="API_KEY_REVOKED")
        if self._ttl > 0:
            if len(self._entries) > 10_000:
                self._entries.clear()
            self._entries[digest] = (account, now + self._ttl)
        return account


def _bearer_key(metadata: tuple[tuple[str, str | bytes], ...] | None) -> str:
    values = [v for k, v in (metadata or ()) if k == "authorization"]
    if not values:
        raise Unauthenticated(
            "missing authorization metadata: send 'authorization: Bearer <api key>'", reason="API_KEY_MISSING"
        )
    value = values[0] if isinstance(values[0], str) else values[0].decode(errors="replace")
    scheme, _, key = value.partition(" ")
    key = key.strip()
    if scheme.lower() != "bearer" or not key.startswith(KEY_PREFIX) or len(key) > 128:
        raise Unauthenticated("malformed authorization: expected 'Bearer sk_...'", reason="API_KEY_MALFORMED")
    return key


class ServiceInterceptor(grpc.aio.ServerInterceptor):
    """Authentication, deadline propagation, error mapping and metrics for every RPC.

    The wrapped handler of a method is built once and reused: per call it reads the
    metadata from the call's context.
    """

    def __init__(self, keys: KeyCache) -> None:
        self._keys = keys
        self._wrapped: dict[str, grpc.RpcMethodHandler] = {}

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        method: str = handler_call_details.method
        wrapped = self._wrapped.get(method)
        if wrapped is not None:
            return wrapped
        handler = await continuation(handler_call_details)
        if handler is None or method.startswith(_PUBLIC_PREFIXES):
            return handler
        wrapped = self._wrap(handler, method)
        self._wrapped[method] = wrapped
        return wrapped

    def _wrap(self, handler: grpc.RpcMethodHandler, method: str) -> grpc.RpcMethodHandler:
        codec = {
            "request_deserializer": _tolerant(handler.request_deserializer),
            "response_serializer": handler.response_serializer,
        }
        if handler.unary_unary is not None:
            return grpc.unary_unary_rpc_method_handler(self._wrap_unary(handler.unary_unary, method, _decoded), **codec)
        if handler.unary_stream is not None:
            return grpc.unary_stream_rpc_method_handler(self._wrap_stream(handler.unary_stream, method), **codec)
        if handler.stream_unary is not None:
            return grpc.stream_unary_rpc_method_handler(
                self._wrap_unary(handler.stream_unary, method, _decoded_stream), **codec
            )
        return handler  # no bidirectional RPCs in this API

    async def _enter(self, context: grpc.aio.ServicerContext) -> None:
        left = context.time_remaining()
        call_deadline.set(None if left is None else time.monotonic() + left)
        current_account.set(await self._keys.account_for(context.invocation_metadata()))

    def _wrap_unary(self, inner: Any, method: str, decoded: Callable[[Any], Any]) -> Any:
        async def behavior(request: Any, context: grpc.aio.ServicerContext) -> Any:
            started = time.perf_counter()
            code = "OK"
            try:
                await self._enter(context)
                return await inner(decoded(request), context)
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

        return behavior

    def _wrap_stream(self, inner: Any, method: str) -> Any:
        async def behavior(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
            started = time.perf_counter()
            code = "OK"
            try:
                await self._enter(context)
                async for message in inner(_decoded(request), context):
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
                metrics.observe(method, code, time.perf_counter() - started)

        return behavior


class _Undecodable:
    """Stands in for a request whose bytes are not the method's message, so the call can fail INVALID_ARGUMENT.

    (grpc answers UNKNOWN when the deserializer itself raises.)
    """

    def __init__(self, error: DecodeError) -> None:
        self.error = error


def _tolerant(deserializer: Callable[[bytes], Any] | None) -> Callable[[bytes], Any] | None:
    """The request deserializer, returning _Undecodable instead of raising."""
    if deserializer is None:
        return None
    parse = deserializer

    def deserialize(data: bytes) -> Any:
        try:
            return parse(data)
        except DecodeError as exc:
            return _Undecodable(exc)

    return deserialize


def _decoded(request: Any) -> Any:
    """The request, or InvalidArgument if its bytes did not decode."""
    if isinstance(request, _Undecodable):
        raise InvalidArgument.one("request", f"is not a valid encoding of the request message: {request.error}")
    return request


async def _decoded_stream(requests: AsyncIterator[Any]) -> AsyncIterator[Any]:
    """A client stream's requests, failing with InvalidArgument at the first that did not decode."""
    async for request in requests:
        yield _decoded(request)


async def _abort(context: grpc.aio.ServicerContext, status: grpc.Status) -> None:
    """End the call with status (context.abort raises AbortError, which grpc expects)."""
    await context.abort(status.code, status.details, status.trailing_metadata)
