"""Request decoding: bytes that are not the method's request message become INVALID_ARGUMENT.

grpc answers UNKNOWN when a deserializer raises; here the deserializer hands
on a stand-in instead, and the call fails INVALID_ARGUMENT once it reaches the
handler (after authentication, so an anonymous caller learns nothing).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any

import grpc
from google.protobuf.message import DecodeError

from server.domain.errors import InvalidArgument
from server.interceptors.base import Deserializer, MethodInterceptor, ServerStream, Unary


class RequestDecoding(MethodInterceptor):
    """The innermost interceptor: it sees the request just before the servicer does."""

    def deserializer(self, deserializer: Deserializer) -> Deserializer:
        return _tolerant(deserializer)

    def unary(self, behavior: Unary, method: str) -> Unary:
        async def call(request: Any, context: grpc.aio.ServicerContext) -> Any:
            return await behavior(_decoded(request), context)

        return call

    def client_stream(self, behavior: Unary, method: str) -> Unary:
        async def call(requests: AsyncIterator[Any], context: grpc.aio.ServicerContext) -> Any:
            return await behavior(_decoded_stream(requests), context)

        return call

    def server_stream(self, behavior: ServerStream, method: str) -> ServerStream:
        async def call(request: Any, context: grpc.aio.ServicerContext) -> AsyncGenerator[Any, None]:
            async with contextlib.aclosing(behavior(_decoded(request), context)) as stream:
                async for message in stream:
                    yield message

        return call


class _Undecodable:
    """Stands in for a request whose bytes are not the method's message, so the call can fail INVALID_ARGUMENT."""

    def __init__(self, error: DecodeError) -> None:
        self.error = error


def _tolerant(deserializer: Deserializer) -> Deserializer:
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
