"""Mutating RPCs: the caller as an actor, the request's fingerprint, and the exactly-once answer."""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from google.protobuf.message import Message

from server import context
from server.usecases.unit import Actor, Transactions, Tx

M = TypeVar("M", bound=Message)
T = TypeVar("T")


def request_hash(request: Message) -> bytes:
    """A fingerprint of the whole request, stable across retries (deterministic serialization)."""
    return hashlib.sha256(request.SerializeToString(deterministic=True)).digest()


def actor_of(request: Any) -> Actor:
    """The authenticated caller of this RPC, as the actor of the change it asks for (a dry run when the
    request sets `validate_only`, which every mutating request has)."""
    caller = context.caller()
    return Actor(
        account_id=caller.account_id,
        key_id=caller.key_id,
        method=context.method().rpartition("/")[2],
        request_id=getattr(request, "request_id", ""),
        dry_run=bool(getattr(request, "validate_only", False)),
    )


async def run_mutation(
    transactions: Transactions,
    request: Message,
    response_type: type[M],
    work: Callable[[Tx], Awaitable[T]],
    encode: Callable[[T], bytes],
    row: str | None = None,
) -> M:
    """Run a use case exactly once per request_id and answer with the (stored) encoded outcome.

    The first caller and every replay get the same bytes (map entries in one order). A dry run
    (`validate_only`) answers the same way and is rolled back (`Transactions`). `row` names the row whose
    exclusive lock the use case takes first, when the request names it: the call waits its turn for it in the
    server (`Transactions.exactly_once`).
    """
    encoded = await transactions.exactly_once(actor_of(request), request_hash(request), work, encode, row)
    return response_type.FromString(encoded)


def encoder(to_message: Callable[[T], Message]) -> Callable[[T], bytes]:
    """Encode a domain result through its converter, deterministically."""
    return lambda value: to_message(value).SerializeToString(deterministic=True)
