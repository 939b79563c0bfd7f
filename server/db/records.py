"""Rows (and their JSON forms inside aggregates) turned into typed domain records, one way for every table.

A record's field reads the column of the same name, converted to the field's declared type: numerics as
Decimal (JSON aggregates carry them as text, so money never passes through float), dates and times from
their ISO text, enums from their stored value, a NULL text column as "", a JSON array as a tuple and a JSON
object as the nested record of the field's type. What a column does not give as it is (a renamed column, a
form of its own) the caller passes by name.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import functools
import types
import typing
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any, TypeVar

import asyncpg

from server.db.json import as_date, as_datetime
from server.domain.errors import NotFound

R = TypeVar("R")

_Convert = Callable[[Any], Any]


def _keep(value: Any) -> Any:
    return value


def _text(value: str | None) -> str:
    return value or ""


def _decimal(value: Decimal | str) -> Decimal:
    return value if isinstance(value, Decimal) else Decimal(value)


def _converter(hint: Any) -> _Convert:
    """How a column's value becomes a field of type `hint` (None stays None in an optional field)."""
    args = typing.get_args(hint)
    if isinstance(hint, types.UnionType) and type(None) in args:
        (inner,) = [a for a in args if a is not type(None)]
        convert = _converter(inner)
        return lambda value: None if value is None else convert(value)
    origin = typing.get_origin(hint) or hint
    if origin is str:
        return _text
    if origin is Decimal:
        return _decimal
    if origin is dt.datetime:
        return as_datetime
    if origin is dt.date:
        return as_date
    if origin is tuple:
        element = args[0] if len(args) == 2 and args[1] is Ellipsis else Any
        convert_element = _converter(element)
        return lambda values: tuple(convert_element(v) for v in values)
    if isinstance(origin, type) and dataclasses.is_dataclass(origin):
        return lambda value: record_from(origin, value)
    if isinstance(origin, type) and issubclass(origin, enum.Enum):
        return origin
    return _keep


@functools.cache
def _columns(record: Any) -> tuple[tuple[str, _Convert, bool], ...]:
    """Each field's name, converter and whether it has a default."""
    hints = typing.get_type_hints(record)
    return tuple(
        (
            field.name,
            _converter(hints[field.name]),
            field.default is not dataclasses.MISSING or field.default_factory is not dataclasses.MISSING,
        )
        for field in dataclasses.fields(record)
    )


def record_from(record: Callable[..., R], row: Mapping[str, Any], /, **given: Any) -> R:
    """The `record` (a dataclass) of a row or of its JSON form: each field not `given` from its column.

    A field with a default keeps it when the row has no such column (a JSON form stored before the field).
    """
    values = dict(given)
    for name, convert, optional in _columns(record):
        if name not in values and not (optional and name not in row):
            values[name] = convert(row[name])
    return record(**values)


async def fetch_row(conn: asyncpg.Connection, kind: str, key: str, sql: str, *args: Any) -> asyncpg.Record:
    """The one row `sql` selects; NotFound (a `kind` named `key`) when it selects none."""
    row: asyncpg.Record | None = await conn.fetchrow(sql, *args)
    if row is None:
        raise NotFound(kind, key)
    return row
