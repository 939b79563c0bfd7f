import datetime

from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

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
    __slots__ = ("events", "validate_only")
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    VALIDATE_ONLY_FIELD_NUMBER: _ClassVar[int]
    events: _containers.RepeatedCompositeFieldContainer[Event]
    validate_only: bool
    def __init__(self, events: _Optional[_Iterable[_Union[Event, _Mapping]]] = ..., validate_only: _Optional[bool] = ...) -> None: ...

class IngestEventStreamRequest(_message.Message):
    __slots__ = ("events", "validate_only")
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    VALIDATE_ONLY_FIELD_NUMBER: _ClassVar[int]
    events: _containers.RepeatedCompositeFieldContainer[Event]
    validate_only: bool
    def __init__(self, events: _Optional[_Iterable[_Union[Event, _Mapping]]] = ..., validate_only: _Optional[bool] = ...) -> None: ...

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
