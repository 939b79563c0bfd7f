"""What every servicer shares: the transactions its use cases run in, and a mutation's exactly-once answer."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from google.protobuf.message import Message

from server.api.mutations import encoder, run_mutation
from server.usecases.unit import Transactions, Tx

M = TypeVar("M", bound=Message)
T = TypeVar("T")


class Servicer:
    """The base of the servicers: the transactions (and their database) the use cases run in."""

    def __init__(self, transactions: Transactions) -> None:
        self._tx = transactions
        self._db = transactions.db

    async def _mutation(
        self,
        request: Any,
        response_type: type[M],
        work: Callable[[Tx], Awaitable[T]],
        to_message: Callable[[T], Message],
        row: str | None = None,
    ) -> M:
        """Run a mutating use case exactly once per request_id (`run_mutation`, in the turn of the row it locks
        first, when the request names it) and answer with its outcome as `to_message` converts it."""
        return await run_mutation(self._tx, request, response_type, work, encoder(to_message), row)
