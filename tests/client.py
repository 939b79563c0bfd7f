"""Test client: stubs on a channel that adds `authorization: Bearer <key>`, and status helpers."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import grpc
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from invoicing.v1 import customer_service_pb2_grpc, invoice_service_pb2_grpc


class _Auth(
    grpc.aio.UnaryUnaryClientInterceptor,
    grpc.aio.UnaryStreamClientInterceptor,
):
    def __init__(self, key: str) -> None:
        self._metadata = (("authorization", f"Bearer {key}"),)

    def _details(self, details: grpc.aio.ClientCallDetails) -> grpc.aio.ClientCallDetails:
        metadata = grpc.aio.Metadata(*(details.metadata or ()), *self._metadata)
        return grpc.aio.ClientCallDetails(
            details.method, details.timeout, metadata, details.credentials, details.wait_for_ready
        )

    async def intercept_unary_unary(self, continuation: Callable[..., Any], details: Any, request: Any) -> Any:
        return await continuation(self._details(details), request)

    async def intercept_unary_stream(self, continuation: Callable[..., Any], details: Any, request: Any) -> Any:
        return await continuation(self._details(details), request)


class _StreamAuth(grpc.aio.UnaryStreamClientInterceptor):
    """grpc.aio files an interceptor under its first matching kind only, so streams need their own."""

    def __init__(self, auth: _Auth) -> None:
        self._auth = auth

    async def intercept_unary_stream(self, continuation: Callable[..., Any], details: Any, request: Any) -> Any:
        return await self._auth.intercept_unary_stream(continuation, details, request)


@dataclass
class Api:
    """Authenticated stubs of every service."""

    channel: grpc.aio.Channel
    invoices: invoice_service_pb2_grpc.InvoiceServiceStub
    customers: customer_service_pb2_grpc.CustomerServiceStub


@asynccontextmanager
async def open_api(target: str, key: str) -> AsyncIterator[Api]:
    """Open a channel authenticated with key and yield its stubs."""
    auth = _Auth(key)
    async with grpc.aio.insecure_channel(target, interceptors=[auth, _StreamAuth(auth)]) as channel:
        yield Api(
            channel=channel,
            invoices=invoice_service_pb2_grpc.InvoiceServiceStub(channel),
            customers=customer_service_pb2_grpc.CustomerServiceStub(channel),
        )


# The reasons of INVALID_ARGUMENT, per field violation and in ErrorInfo (the README's error table).
FIELD_REASONS = {"FIELD_REQUIRED", "FIELD_TOO_LONG", "FIELD_OUT_OF_RANGE", "FIELD_CONFLICT", "FIELD_INVALID"}


@dataclass
class StatusDetails:
    """The rich details of a failed call."""

    code: grpc.StatusCode
    message: str
    reason: str
    domain: str
    field_violations: dict[str, str]
    violation_reasons: dict[str, str]
    precondition_types: list[str]
    retry_delay_ms: int | None
    metadata: dict[str, str]


def details_of(error: grpc.aio.AioRpcError) -> StatusDetails:
    """Unpack ErrorInfo, BadRequest, PreconditionFailure and RetryInfo from a failed call."""
    status = rpc_status.from_call(error)
    info = error_details_pb2.ErrorInfo()
    bad = error_details_pb2.BadRequest()
    pre = error_details_pb2.PreconditionFailure()
    retry = error_details_pb2.RetryInfo()
    reason = domain = ""
    metadata: dict[str, str] = {}
    violations: dict[str, str] = {}
    violation_reasons: dict[str, str] = {}
    pre_types: list[str] = []
    retry_ms = None
    for detail in status.details if status is not None else ():
        if detail.Is(info.DESCRIPTOR):
            detail.Unpack(info)
            reason, domain, metadata = info.reason, info.domain, dict(info.metadata)
        elif detail.Is(bad.DESCRIPTOR):
            detail.Unpack(bad)
            violations = {v.field: v.description for v in bad.field_violations}
            violation_reasons = {v.field: v.reason for v in bad.field_violations}
        elif detail.Is(pre.DESCRIPTOR):
            detail.Unpack(pre)
            pre_types = [v.type for v in pre.violations]
        elif detail.Is(retry.DESCRIPTOR):
            detail.Unpack(retry)
            retry_ms = retry.retry_delay.seconds * 1000 + retry.retry_delay.nanos // 1_000_000
    return StatusDetails(
        code=error.code(),
        message=error.details() or "",
        reason=reason,
        domain=domain,
        field_violations=violations,
        violation_reasons=violation_reasons,
        precondition_types=pre_types,
        retry_delay_ms=retry_ms,
        metadata=metadata,
    )


async def expect_error(call: Any) -> StatusDetails:
    """Await a unary call (or drain a stream) that must fail; return its details."""
    try:
        if hasattr(call, "__aiter__"):
            async for _ in call:
                pass
        else:
            await call
    except grpc.aio.AioRpcError as error:
        return details_of(error)
    raise AssertionError("the call succeeded but was expected to fail")


def assert_field_reasons(error: StatusDetails) -> None:
    """Every field violation has a documented reason, and ErrorInfo's is theirs when they agree."""
    reasons = set(error.violation_reasons.values())
    assert error.violation_reasons, error
    assert reasons <= FIELD_REASONS, error.violation_reasons
    assert error.reason == (reasons.pop() if len(reasons) == 1 else "FIELD_INVALID"), error
