"""What the server knows about the call being served: who calls, under which key, until when.

The interceptors set these context variables when a call starts; every layer
below reads them (the repositories only the deadline). asyncio copies the
context into each task, so concurrent calls never see each other's values.
"""

from __future__ import annotations

import time
from contextvars import ContextVar
from dataclasses import dataclass


@dataclass(frozen=True)
class Caller:
    """The authenticated caller of an RPC: its account and the id of the API key it used."""

    account_id: str
    key_id: str


_caller: ContextVar[Caller] = ContextVar("caller")
_method: ContextVar[str] = ContextVar("method", default="")
# The call's request id: the client's `x-request-id`, or one made up for the call (log correlation).
_request_id: ContextVar[str] = ContextVar("request_id", default="")
# The monotonic time (time.monotonic()) by which the current call must finish, if the client set a deadline.
_deadline: ContextVar[float | None] = ContextVar("deadline", default=None)


def set_caller(caller: Caller) -> None:
    """Record the authenticated caller of the current call."""
    _caller.set(caller)


def caller() -> Caller:
    """The authenticated caller of the current call (LookupError outside an authenticated call)."""
    return _caller.get()


def current_caller() -> Caller | None:
    """The authenticated caller of the current call, or None (before authentication, background work)."""
    return _caller.get(None)


def account_id() -> str:
    """The account of the current call."""
    return _caller.get().account_id


def set_method(method: str) -> None:
    """Record the full gRPC method name of the current call ("/invoicing.v1.InvoiceService/GetInvoice")."""
    _method.set(method)


def method() -> str:
    """The full gRPC method name of the current call ("" outside a call)."""
    return _method.get()


def set_request_id(request_id: str) -> None:
    """Record the request id of the current call."""
    _request_id.set(request_id)


def request_id() -> str:
    """The request id of the current call ("" outside a call)."""
    return _request_id.get()


def set_deadline(seconds_left: float | None) -> None:
    """Record the call's deadline as seconds from now (None: the client set none)."""
    _deadline.set(None if seconds_left is None else time.monotonic() + seconds_left)


def remaining_seconds() -> float | None:
    """Seconds left before the current call's deadline, or None without one."""
    deadline = _deadline.get()
    return None if deadline is None else deadline - time.monotonic()


def deadline_passed() -> bool:
    """True once the current call's deadline has passed (never for a call without one)."""
    deadline = _deadline.get()
    return deadline is not None and time.monotonic() >= deadline
