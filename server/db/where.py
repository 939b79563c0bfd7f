"""A query's conditions and their arguments, built together (SQL only): each argument's $n placeholder is
numbered as it is added, and a list newest first resumes after its keyset position in one way everywhere."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any, TypeVar

import asyncpg

from server.db.snapshots import ListQuery
from server.domain.validation import TimeRange

R = TypeVar("R")


class Where:
    """Conditions joined by AND, with the arguments they refer to."""

    def __init__(self, condition: str, *args: Any) -> None:
        """Start with a condition over the first arguments ($1, $2, ...)."""
        self.conditions = [condition]
        self.args = list(args)

    def arg(self, value: Any) -> str:
        """Add an argument; its placeholder."""
        self.args.append(value)
        return f"${len(self.args)}"

    def add(self, condition: str) -> None:
        """Add a condition (its arguments added with `arg`)."""
        self.conditions.append(condition)

    def within(self, bounds: TimeRange, column: str) -> None:
        """Add the bounds that are set on an instant column."""
        for op, value in ((">", bounds.gt), (">=", bounds.gte), ("<", bounds.lt), ("<=", bounds.lte)):
            if value is not None:
                self.add(f"{column} {op} {self.arg(value)}")

    def newest_first(
        self,
        select: str,
        alias: str,
        after: tuple[dt.datetime, str] | None,
        row: Callable[[asyncpg.Record], R],
    ) -> ListQuery[R]:
        """The list query of `select` (up to its WHERE) over these conditions, newest first (by created_at,
        ties by id) after a keyset position; `alias` names the table whose created_at and id order it."""
        if after is not None:
            self.add(f"({alias}.created_at, {alias}.id) < ({self.arg(after[0])}, {self.arg(after[1])})")
        sql = f"{select} WHERE {' AND '.join(self.conditions)} ORDER BY {alias}.created_at DESC, {alias}.id DESC"
        return ListQuery(sql, self.args, row)
