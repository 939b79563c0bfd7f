"""Field-level changes between two versions of an invoice, computed from their wire forms (Invoice messages).

Fields are compared in descriptor order, leaf by leaf: a changed scalar is one change; a sub-message is
compared field by field (Timestamps and Dates whole); a map entry by its key; an element of a list whose
elements have ids (line items, balance transactions, payments, credit notes, payment attempts) by its id,
so that an added or removed line is one change named by the line's id; any other list whole. `version`,
`updated_at` and `invoice_pdf` change with every version and are reported on the version itself, not as
changes. Values are given in their proto3 JSON form as `google.protobuf.Value`s.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any, Final

from google.protobuf import json_format, struct_pb2
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message
from invoicing.v1 import invoice_pb2

ChangeType = invoice_pb2.InvoiceFieldChangeType

# Fields of the invoice that change with every version.
EVERY_VERSION: Final = frozenset({"version", "updated_at", "invoice_pdf"})
# Lists whose elements carry an `id` and are compared element by element.
KEYED_LISTS: Final = frozenset(
    {"line_items", "customer_balance_transactions", "payments", "credit_notes", "payment_attempts"}
)
# Messages compared whole: they are values, not records.
_WHOLE: Final = frozenset({"google.protobuf.Timestamp", "google.type.Date", "google.protobuf.Struct"})
_INT64: Final = frozenset(
    {
        FieldDescriptor.TYPE_INT64,
        FieldDescriptor.TYPE_UINT64,
        FieldDescriptor.TYPE_SINT64,
        FieldDescriptor.TYPE_FIXED64,
        FieldDescriptor.TYPE_SFIXED64,
    }
)


def invoice_changes(
    before: invoice_pb2.Invoice | None, after: invoice_pb2.Invoice
) -> list[invoice_pb2.InvoiceFieldChange]:
    """The changes from `before` to `after`; none when there is no version before."""
    changes: list[invoice_pb2.InvoiceFieldChange] = []
    if before is not None:
        _compare(before, after, "", changes.append, skip=EVERY_VERSION)
    return changes


Emit = Callable[[invoice_pb2.InvoiceFieldChange], None]


def _compare(before: Message, after: Message, prefix: str, emit: Emit, *, skip: frozenset[str] = frozenset()) -> None:
    fields: list[Any] = list(after.DESCRIPTOR.fields)  # (upb's descriptors are typed apart)
    for fd in fields:
        if fd.name in skip:
            continue
        path = prefix + fd.name
        old, new = getattr(before, fd.name), getattr(after, fd.name)
        if _is_map(fd):
            _compare_map(fd, old, new, path, emit)
        elif fd.is_repeated:
            if fd.name in KEYED_LISTS and fd.message_type is not None and "id" in fd.message_type.fields_by_name:
                _compare_keyed(old, new, path, emit)
            elif list(old) != list(new):
                emit(_change(path, _list_value(fd, old), _list_value(fd, new)))
        elif fd.message_type is not None or fd.has_presence:
            had, has = before.HasField(fd.name), after.HasField(fd.name)
            if had and has and fd.message_type is not None and fd.message_type.full_name not in _WHOLE:
                _compare(old, new, path + ".", emit)
            elif had != has or (had and old != new):
                emit(_change(path, _value(fd, old) if had else None, _value(fd, new) if has else None))
        elif old != new:
            emit(_change(path, _value(fd, old), _value(fd, new)))


def _compare_map(fd: FieldDescriptor, old: Any, new: Any, path: str, emit: Emit) -> None:
    assert fd.message_type is not None
    value_fd = fd.message_type.fields_by_name["value"]
    for key in sorted(set(old) | set(new), key=str):
        had, has = key in old, key in new
        if had != has or old[key] != new[key]:
            emit(
                _change(
                    f"{path}[{json.dumps(key, ensure_ascii=False)}]",
                    _value(value_fd, old[key]) if had else None,
                    _value(value_fd, new[key]) if has else None,
                )
            )


def _compare_keyed(old: Any, new: Any, path: str, emit: Emit) -> None:
    before = {item.id: item for item in old}
    after = {item.id: item for item in new}
    for key in [*before, *(k for k in after if k not in before)]:
        element = f"{path}[{json.dumps(key, ensure_ascii=False)}]"
        if key not in after:
            emit(_change(element, _message_value(before[key]), None))
        elif key not in before:
            emit(_change(element, None, _message_value(after[key])))
        elif before[key] != after[key]:
            _compare(before[key], after[key], element + ".", emit)


def _change(path: str, old: struct_pb2.Value | None, new: struct_pb2.Value | None) -> invoice_pb2.InvoiceFieldChange:
    if old is None:
        kind = ChangeType.INVOICE_FIELD_CHANGE_TYPE_ADDED
    elif new is None:
        kind = ChangeType.INVOICE_FIELD_CHANGE_TYPE_REMOVED
    else:
        kind = ChangeType.INVOICE_FIELD_CHANGE_TYPE_MODIFIED
    return invoice_pb2.InvoiceFieldChange(path=path, type=kind, old_value=old, new_value=new)


def _is_map(fd: FieldDescriptor) -> bool:
    return fd.message_type is not None and fd.message_type.GetOptions().map_entry


def _json(fd: FieldDescriptor, value: Any) -> Any:
    """One value of a field in its proto3 JSON form."""
    if fd.message_type is not None:
        return json_format.MessageToDict(value, preserving_proto_field_name=True)
    if fd.enum_type is not None:
        found = fd.enum_type.values_by_number.get(value)
        return found.name if found is not None else value
    if fd.type in _INT64:
        return str(value)
    if fd.type == FieldDescriptor.TYPE_BYTES:
        return base64.b64encode(value).decode()
    return value


def _as_value(data: Any) -> struct_pb2.Value:
    value = struct_pb2.Value()
    json_format.ParseDict(data, value)
    return value


def _value(fd: FieldDescriptor, value: Any) -> struct_pb2.Value:
    return _as_value(_json(fd, value))


def _list_value(fd: FieldDescriptor, values: Any) -> struct_pb2.Value:
    return _as_value([_json(fd, value) for value in values])


def _message_value(message: Message) -> struct_pb2.Value:
    return _as_value(json_format.MessageToDict(message, preserving_proto_field_name=True))
