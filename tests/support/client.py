"""The test client: one object with a stub of every service on an authenticated channel, and status helpers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

import grpc
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from invoicing.v1 import (
    account_service_pb2_grpc,
    credit_note_service_pb2_grpc,
    customer_service_pb2_grpc,
    invoice_service_pb2_grpc,
    plan_service_pb2_grpc,
    subscription_service_pb2_grpc,
    usage_service_pb2_grpc,
)

T = TypeVar("T")


class _Bearer:
    """Adds `authorization: Bearer <key>` to a call's metadata."""

    def __init__(self, key: str) -> None:
        self._metadata = (("authorization", f"Bearer {key}"),)

    def details(self, details: grpc.aio.ClientCallDetails) -> grpc.aio.ClientCallDetails:
        """The call's details with the header added."""
        metadata = grpc.aio.Metadata(*(details.metadata or ()), *self._metadata)
        return grpc.aio.ClientCallDetails(
            details.method, details.timeout, metadata, details.credentials, details.wait_for_ready
        )


# grpc.aio files an interceptor under its first matching kind only, so each kind of call needs its own.


class _UnaryAuth(grpc.aio.UnaryUnaryClientInterceptor):
    def __init__(self, bearer: _Bearer) -> None:
        self._bearer = bearer

    async def intercept_unary_unary(self, continuation: Callable[..., Any], details: Any, request: Any) -> Any:
        return await continuation(self._bearer.details(details), request)


class _ServerStreamAuth(grpc.aio.UnaryStreamClientInterceptor):
    def __init__(self, bearer: _Bearer) -> None:
        self._bearer = bearer

    async def intercept_unary_stream(self, continuation: Callable[..., Any], details: Any, request: Any) -> Any:
        return await continuation(self._bearer.details(details), request)


class _ClientStreamAuth(grpc.aio.StreamUnaryClientInterceptor):
    def __init__(self, bearer: _Bearer) -> None:
        self._bearer = bearer

    async def intercept_stream_unary(self, continuation: Callable[..., Any], details: Any, requests: Any) -> Any:
        return await continuation(self._bearer.details(details), requests)


@dataclass(frozen=True)
class Api:
    """A stub of every service on one channel (authenticated when opened by `open_api`)."""

    channel: grpc.aio.Channel
    invoices: invoice_service_pb2_grpc.InvoiceServiceStub
    customers: customer_service_pb2_grpc.CustomerServiceStub
    plans: plan_service_pb2_grpc.PlanServiceStub
    subscriptions: subscription_service_pb2_grpc.SubscriptionServiceStub
    usage: usage_service_pb2_grpc.UsageServiceStub
    accounts: account_service_pb2_grpc.AccountServiceStub
    credit_notes: credit_note_service_pb2_grpc.CreditNoteServiceStub

    @classmethod
    def on(cls, channel: grpc.aio.Channel) -> Api:
        """Stubs of every service on the channel, which sends whatever credentials it was built with."""
        return cls(
            channel=channel,
            invoices=invoice_service_pb2_grpc.InvoiceServiceStub(channel),
            customers=customer_service_pb2_grpc.CustomerServiceStub(channel),
            plans=plan_service_pb2_grpc.PlanServiceStub(channel),
            subscriptions=subscription_service_pb2_grpc.SubscriptionServiceStub(channel),
            usage=usage_service_pb2_grpc.UsageServiceStub(channel),
            accounts=account_service_pb2_grpc.AccountServiceStub(channel),
            credit_notes=credit_note_service_pb2_grpc.CreditNoteServiceStub(channel),
        )


@asynccontextmanager
async def open_api(target: str, key: str) -> AsyncIterator[Api]:
    """Open a channel that sends `authorization: Bearer <key>` on every call, and yield its stubs."""
    bearer = _Bearer(key)
    interceptors = [_UnaryAuth(bearer), _ServerStreamAuth(bearer), _ClientStreamAuth(bearer)]
    async with grpc.aio.insecure_channel(target, interceptors=interceptors) as channel:
        yield Api.on(channel)


async def stream_of(requests: Sequence[T]) -> AsyncIterator[T]:
    """The requests of a client stream, yielding control to the event loop between messages."""
    for request in requests:
        await asyncio.sleep(0)
        yield request


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
