import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from invoicing.v1 import common_pb2 as _common_pb2
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class AccountProfile(_message.Message):
    __slots__ = ("account_name", "name", "email", "address", "tax_id", "payment_instructions", "updated_at")
    ACCOUNT_NAME_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    EMAIL_FIELD_NUMBER: _ClassVar[int]
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    TAX_ID_FIELD_NUMBER: _ClassVar[int]
    PAYMENT_INSTRUCTIONS_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    account_name: str
    name: str
    email: str
    address: _common_pb2.Address
    tax_id: _common_pb2.CustomerTaxId
    payment_instructions: str
    updated_at: _timestamp_pb2.Timestamp
    def __init__(self, account_name: _Optional[str] = ..., name: _Optional[str] = ..., email: _Optional[str] = ..., address: _Optional[_Union[_common_pb2.Address, _Mapping]] = ..., tax_id: _Optional[_Union[_common_pb2.CustomerTaxId, _Mapping]] = ..., payment_instructions: _Optional[str] = ..., updated_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class GetAccountProfileRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class UpdateAccountProfileRequest(_message.Message):
    __slots__ = ("name", "email", "address", "tax_id", "payment_instructions", "request_id", "validate_only")
    NAME_FIELD_NUMBER: _ClassVar[int]
    EMAIL_FIELD_NUMBER: _ClassVar[int]
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    TAX_ID_FIELD_NUMBER: _ClassVar[int]
    PAYMENT_INSTRUCTIONS_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    VALIDATE_ONLY_FIELD_NUMBER: _ClassVar[int]
    name: str
    email: str
    address: _common_pb2.Address
    tax_id: _common_pb2.CustomerTaxId
    payment_instructions: str
    request_id: str
    validate_only: bool
    def __init__(self, name: _Optional[str] = ..., email: _Optional[str] = ..., address: _Optional[_Union[_common_pb2.Address, _Mapping]] = ..., tax_id: _Optional[_Union[_common_pb2.CustomerTaxId, _Mapping]] = ..., payment_instructions: _Optional[str] = ..., request_id: _Optional[str] = ..., validate_only: _Optional[bool] = ...) -> None: ...
