import datetime

from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.type import date_pb2 as _date_pb2
from invoicing.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class BackfillStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    BACKFILL_STATUS_UNSPECIFIED: _ClassVar[BackfillStatus]
    BACKFILL_STATUS_PENDING: _ClassVar[BackfillStatus]
    BACKFILL_STATUS_REFLECTED: _ClassVar[BackfillStatus]
    BACKFILL_STATUS_REVERTED: _ClassVar[BackfillStatus]
BACKFILL_STATUS_UNSPECIFIED: BackfillStatus
BACKFILL_STATUS_PENDING: BackfillStatus
BACKFILL_STATUS_REFLECTED: BackfillStatus
BACKFILL_STATUS_REVERTED: BackfillStatus

class BackfillAdjustment(_message.Message):
    __slots__ = ("invoice_id", "price_id", "name", "start_date", "end_date", "amount", "adjustment_invoice_id", "balance_transaction_id")
    INVOICE_ID_FIELD_NUMBER: _ClassVar[int]
    PRICE_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    START_DATE_FIELD_NUMBER: _ClassVar[int]
    END_DATE_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    ADJUSTMENT_INVOICE_ID_FIELD_NUMBER: _ClassVar[int]
    BALANCE_TRANSACTION_ID_FIELD_NUMBER: _ClassVar[int]
    invoice_id: str
    price_id: str
    name: str
    start_date: _date_pb2.Date
    end_date: _date_pb2.Date
    amount: str
    adjustment_invoice_id: str
    balance_transaction_id: str
    def __init__(self, invoice_id: _Optional[str] = ..., price_id: _Optional[str] = ..., name: _Optional[str] = ..., start_date: _Optional[_Union[_date_pb2.Date, _Mapping]] = ..., end_date: _Optional[_Union[_date_pb2.Date, _Mapping]] = ..., amount: _Optional[str] = ..., adjustment_invoice_id: _Optional[str] = ..., balance_transaction_id: _Optional[str] = ...) -> None: ...

class Backfill(_message.Message):
    __slots__ = ("id", "customer", "timeframe_start", "timeframe_end", "replace_existing_events", "status", "events_ingested", "created_at", "closed_at", "reverted_at", "adjustments")
    ID_FIELD_NUMBER: _ClassVar[int]
    CUSTOMER_FIELD_NUMBER: _ClassVar[int]
    TIMEFRAME_START_FIELD_NUMBER: _ClassVar[int]
    TIMEFRAME_END_FIELD_NUMBER: _ClassVar[int]
    REPLACE_EXISTING_EVENTS_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    EVENTS_INGESTED_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    CLOSED_AT_FIELD_NUMBER: _ClassVar[int]
    REVERTED_AT_FIELD_NUMBER: _ClassVar[int]
    ADJUSTMENTS_FIELD_NUMBER: _ClassVar[int]
    id: str
    customer: _common_pb2.CustomerRef
    timeframe_start: _timestamp_pb2.Timestamp
    timeframe_end: _timestamp_pb2.Timestamp
    replace_existing_events: bool
    status: BackfillStatus
    events_ingested: int
    created_at: _timestamp_pb2.Timestamp
    closed_at: _timestamp_pb2.Timestamp
    reverted_at: _timestamp_pb2.Timestamp
    adjustments: _containers.RepeatedCompositeFieldContainer[BackfillAdjustment]
    def __init__(self, id: _Optional[str] = ..., customer: _Optional[_Union[_common_pb2.CustomerRef, _Mapping]] = ..., timeframe_start: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., timeframe_end: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., replace_existing_events: _Optional[bool] = ..., status: _Optional[_Union[BackfillStatus, str]] = ..., events_ingested: _Optional[int] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., closed_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., reverted_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., adjustments: _Optional[_Iterable[_Union[BackfillAdjustment, _Mapping]]] = ...) -> None: ...

class CreateBackfillRequest(_message.Message):
    __slots__ = ("customer_id", "external_customer_id", "timeframe_start", "timeframe_end", "replace_existing_events", "request_id", "validate_only")
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    EXTERNAL_CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    TIMEFRAME_START_FIELD_NUMBER: _ClassVar[int]
    TIMEFRAME_END_FIELD_NUMBER: _ClassVar[int]
    REPLACE_EXISTING_EVENTS_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    VALIDATE_ONLY_FIELD_NUMBER: _ClassVar[int]
    customer_id: str
    external_customer_id: str
    timeframe_start: _timestamp_pb2.Timestamp
    timeframe_end: _timestamp_pb2.Timestamp
    replace_existing_events: bool
    request_id: str
    validate_only: bool
    def __init__(self, customer_id: _Optional[str] = ..., external_customer_id: _Optional[str] = ..., timeframe_start: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., timeframe_end: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., replace_existing_events: _Optional[bool] = ..., request_id: _Optional[str] = ..., validate_only: _Optional[bool] = ...) -> None: ...

class GetBackfillRequest(_message.Message):
    __slots__ = ("backfill_id",)
    BACKFILL_ID_FIELD_NUMBER: _ClassVar[int]
    backfill_id: str
    def __init__(self, backfill_id: _Optional[str] = ...) -> None: ...

class CloseBackfillRequest(_message.Message):
    __slots__ = ("backfill_id", "request_id", "validate_only")
    BACKFILL_ID_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    VALIDATE_ONLY_FIELD_NUMBER: _ClassVar[int]
    backfill_id: str
    request_id: str
    validate_only: bool
    def __init__(self, backfill_id: _Optional[str] = ..., request_id: _Optional[str] = ..., validate_only: _Optional[bool] = ...) -> None: ...

class RevertBackfillRequest(_message.Message):
    __slots__ = ("backfill_id", "request_id", "validate_only")
    BACKFILL_ID_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    VALIDATE_ONLY_FIELD_NUMBER: _ClassVar[int]
    backfill_id: str
    request_id: str
    validate_only: bool
    def __init__(self, backfill_id: _Optional[str] = ..., request_id: _Optional[str] = ..., validate_only: _Optional[bool] = ...) -> None: ...

class Event(_message.Message):
    __slots__ = ("idempotency_key", "customer_id", "external_customer_id", "event_name", "timestamp", "properties")
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    EXTERNAL_CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    EVENT_NAME_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    PROPERTIES_FIELD_NUMBER: _ClassVar[int]
    idempotency_key: str
    customer_id: str
    external_customer_id: str
    event_name: str
    timestamp: _timestamp_pb2.Timestamp
    properties: _struct_pb2.Struct
    def __init__(self, idempotency_key: _Optional[str] = ..., customer_id: _Optional[str] = ..., external_customer_id: _Optional[str] = ..., event_name: _Optional[str] = ..., timestamp: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., properties: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ...) -> None: ...

class IngestEventsRequest(_message.Message):
    __slots__ = ("events", "backfill_id", "validate_only")
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    BACKFILL_ID_FIELD_NUMBER: _ClassVar[int]
    VALIDATE_ONLY_FIELD_NUMBER: _ClassVar[int]
    events: _containers.RepeatedCompositeFieldContainer[Event]
    backfill_id: str
    validate_only: bool
    def __init__(self, events: _Optional[_Iterable[_Union[Event, _Mapping]]] = ..., backfill_id: _Optional[str] = ..., validate_only: _Optional[bool] = ...) -> None: ...

class IngestEventStreamRequest(_message.Message):
    __slots__ = ("events", "backfill_id", "validate_only")
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    BACKFILL_ID_FIELD_NUMBER: _ClassVar[int]
    VALIDATE_ONLY_FIELD_NUMBER: _ClassVar[int]
    events: _containers.RepeatedCompositeFieldContainer[Event]
    backfill_id: str
    validate_only: bool
    def __init__(self, events: _Optional[_Iterable[_Union[Event, _Mapping]]] = ..., backfill_id: _Optional[str] = ..., validate_only: _Optional[bool] = ...) -> None: ...

class EventError(_message.Message):
    __slots__ = ("index", "reason", "field", "message")
    INDEX_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    FIELD_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    index: int
    reason: str
    field: str
    message: str
    def __init__(self, index: _Optional[int] = ..., reason: _Optional[str] = ..., field: _Optional[str] = ..., message: _Optional[str] = ...) -> None: ...

class IngestEventsResponse(_message.Message):
    __slots__ = ("ingested", "duplicates", "errors")
    INGESTED_FIELD_NUMBER: _ClassVar[int]
    DUPLICATES_FIELD_NUMBER: _ClassVar[int]
    ERRORS_FIELD_NUMBER: _ClassVar[int]
    ingested: int
    duplicates: int
    errors: _containers.RepeatedCompositeFieldContainer[EventError]
    def __init__(self, ingested: _Optional[int] = ..., duplicates: _Optional[int] = ..., errors: _Optional[_Iterable[_Union[EventError, _Mapping]]] = ...) -> None: ...
