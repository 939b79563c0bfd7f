"""The shape every interceptor here shares: wrap each method's handler once, when the servicer is registered.

The layers are not grpc.aio server interceptors: grpc.aio awaits every
interceptor's `intercept_service` on every call, a cost paid before the
handler runs. Each layer here wraps a method's handler once, at registration
(`wrap_handler`, composed by `server.app`); per call, the wrapped behaviour
reads what it needs from the call's context.
"""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import AsyncGenerator, Awaitable, Callable, Sequence
from typing import Any

import grpc

# Health and reflection answer without credentials and need none of the per-call machinery.
PUBLIC_PREFIXES = ("/grpc.health.v1.", "/grpc.reflection.")

Unary = Callable[[Any, grpc.aio.ServicerContext], Awaitable[Any]]
ServerStream = Callable[[Any, grpc.aio.ServicerContext], AsyncGenerator[Any, None]]
Deserializer = Callable[[bytes], Any] | None


def wrap_handler(
    layers: Sequence[MethodInterceptor],
) -> Callable[[grpc.RpcMethodHandler, str], grpc.RpcMethodHandler]:
    """A function that wraps a method's handler in `layers`, the first one outermost."""

    def wrap(handler: grpc.RpcMethodHandler, method: str) -> grpc.RpcMethodHandler:
        for layer in reversed(layers):
            handler = layer.wrap(handler, method)
        return handler

    return wrap


def is_public(method: str) -> bool:
    """True for the methods that need no credentials (health, reflection)."""
    return method.startswith(PUBLIC_PREFIXES)


async def serve_stream(behavior: ServerStream, request: Any, context: grpc.aio.ServicerContext) -> None:
    """Serve a server-streaming behaviour from an interceptor that wraps ErrorsAndMetrics (outside it).

    ErrorsAndMetrics writes its messages itself (`context.write`), so what it returns is awaited; an
    async generator (a handler with no ErrorsAndMetrics inside) has its messages written here.
    """
    result: Any = behavior(request, context)
    if inspect.isawaitable(result):
        await result
        return
    async with contextlib.aclosing(result) as messages:
        async for message in messages:
            await context.write(message)


class MethodInterceptor:
    """Base class: subclasses say how to wrap a unary behaviour and a server-stream behaviour."""

    def wrap(self, handler: grpc.RpcMethodHandler, method: str) -> grpc.RpcMethodHandler:
        """The handler of `method` (its full name) with this layer around it; public methods unwrapped."""
        if is_public(method):
            return handler
        codec = {
            "request_deserializer": self.deserializer(handler.request_deserializer),
            "response_serializer": handler.response_serializer,
        }
        if handler.unary_unary is not None:
            return grpc.unary_unary_rpc_method_handler(self.unary(handler.unary_unary, method), **codec)
        if handler.unary_stream is not None:
            return grpc.unary_stream_rpc_method_handler(self.server_stream(handler.unary_stream, method), **codec)
        if handler.stream_unary is not None:
            return grpc.stream_unary_rpc_method_handler(self.client_stream(handler.stream_unary, method), **codec)
        return handler  # no bidirectional RPCs in this API

    def deserializer(self, deserializer: Deserializer) -> Deserializer:
        """The request deserializer to use (unchanged unless a subclass says otherwise)."""
        return deserializer

    def unary(self, behavior: Unary, method: str) -> Unary:
        """Wrap a unary-unary behaviour."""
        return behavior

    def client_stream(self, behavior: Unary, method: str) -> Unary:
        """Wrap a stream-unary behaviour (its request is an async iterator); like unary by default."""
        return self.unary(behavior, method)

    def server_stream(self, behavior: ServerStream, method: str) -> ServerStream:
        """Wrap a unary-stream behaviour."""
        return behavior


class BeforeCall(MethodInterceptor):
    """An interceptor that only does something before the handler runs (and may raise)."""

    def before(self, context: grpc.aio.ServicerContext, method: str) -> Awaitable[None] | None:
        """Run before the handler: None when done at once, else what to await to finish (a layer that mostly
        finishes at once saves a coroutine per call); an exception ends the call (mapped by the errors
        interceptor)."""
        raise NotImplementedError

    async def finish_before(self, context: grpc.aio.ServicerContext, method: str) -> None:
        """`before`, awaited to its end (for streams: one coroutine more per call counts for little there)."""
        if (unfinished := self.before(context, method)) is not None:
            await unfinished

    def unary(self, behavior: Unary, method: str) -> Unary:
        before = self.before

        async def call(request: Any, context: grpc.aio.ServicerContext) -> Any:
            if (unfinished := before(context, method)) is not None:
                await unfinished
            return await behavior(request, context)

        return call

    def server_stream(self, behavior: ServerStream, method: str) -> ServerStream:
        before = self.finish_before

        async def call(request: Any, context: grpc.aio.ServicerContext) -> AsyncGenerator[Any, None]:
            await before(context, method)
            async with contextlib.aclosing(behavior(request, context)) as stream:
                async for message in stream:
                    yield message

        return call
