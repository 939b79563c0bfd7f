"""What a List call reads: where it continues and how much it takes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar

Position = TypeVar("Position")


@dataclass(frozen=True)
class Page(Generic[Position]):
    """A List call's reading: after a keyset position (None: from the start), in batches of at most `batch`
    records, at most `limit` records in all (0: no limit)."""

    after: Position | None
    batch: int
    limit: int
