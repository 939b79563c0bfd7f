import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.type import date_pb2 as _date_pb2
from invoicing.v1 import common_pb2 as _common_pb2
from invoicing.v1 import customer_pb2 as _customer_pb2
from invoicing.v1 import document_pb2 as _document_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class CreditNoteType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CREDIT_NOTE_TYPE_UNSPECIFIED: _ClassVar[CreditNoteType]
    CREDIT_NOTE_TYPE_ADJUSTMENT: _ClassVar[CreditNoteType]
    CREDIT_NOTE_TYPE_REFUND: _ClassVar[CreditNoteType]

class CreditNoteReason(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CREDIT_NOTE_REASON_UNSPECIFIED: _ClassVar[CreditNoteReason]
    CREDIT_NOTE_REASON_DUPLICATE: _ClassVar[CreditNoteReason]
    CREDIT_NOTE_REASON_FRAUDULENT: _ClassVar[CreditNoteReason]
    CREDIT_NOTE_REASON_ORDER_CHANGE: _ClassVar[CreditNoteReason]
    CREDIT_NOTE_REASON_PRODUCT_UNSATISFACTORY: _ClassVar[CreditNoteReason]
CREDIT_NOTE_TYPE_UNSPECIFIED: CreditNoteType
CREDIT_NOTE_TYPE_ADJUSTMENT: CreditNoteType
CREDIT_NOTE_TYPE_REFUND: CreditNoteType
CREDIT_NOTE_REASON_UNSPECIFIED: CreditNoteReason
CREDIT_NOTE_REASON_DUPLICATE: CreditNoteReason
CREDIT_NOTE_REASON_FRAUDULENT: CreditNoteReason
CREDIT_NOTE_REASON_ORDER_CHANGE: CreditNoteReason
CREDIT_NOTE_REASON_PRODUCT_UNSATISFACTORY: CreditNoteReason

class CreditNoteLineItem(_message.Message):
    __slots__ = ("id", "invoice_line_item_id", "name", "amount", "start_date", "end_date")
    ID_FIELD_NUMBER: _ClassVar[int]
    INVOICE_LINE_ITEM_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    START_DATE_FIELD_NUMBER: _ClassVar[int]
    END_DATE_FIELD_NUMBER: _ClassVar[int]
    id: str
    invoice_line_item_id: str
    name: str
    amount: str
    start_date: _date_pb2.Date
    end_date: _date_pb2.Date
    def __init__(self, id: _Optional[str] = ..., invoice_line_item_id: _Optional[str] = ..., name: _Optional[str] = ..., amount: _Optional[str] = ..., start_date: _Optional[_Union[_date_pb2.Date, _Mapping]] = ..., end_date: _Optional[_Union[_date_pb2.Date, _Mapping]] = ...) -> None: ...

class CreditNote(_message.Message):
    __slots__ = ("id", "credit_note_number", "invoice_id", "invoice_number", "customer", "currency", "type", "reason", "memo", "subtotal", "total", "line_items", "applied_to_amount_due", "credited_to_balance", "customer_balance_transactions", "created_at", "voided_at", "version", "credit_note_pdf")
    ID_FIELD_NUMBER: _ClassVar[int]
    CREDIT_NOTE_NUMBER_FIELD_NUMBER: _ClassVar[int]
    INVOICE_ID_FIELD_NUMBER: _ClassVar[int]
    INVOICE_NUMBER_FIELD_NUMBER: _ClassVar[int]
    CUSTOMER_FIELD_NUMBER: _ClassVar[int]
    CURRENCY_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    MEMO_FIELD_NUMBER: _ClassVar[int]
    SUBTOTAL_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    LINE_ITEMS_FIELD_NUMBER: _ClassVar[int]
    APPLIED_TO_AMOUNT_DUE_FIELD_NUMBER: _ClassVar[int]
    CREDITED_TO_BALANCE_FIELD_NUMBER: _ClassVar[int]
    CUSTOMER_BALANCE_TRANSACTIONS_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    VOIDED_AT_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    CREDIT_NOTE_PDF_FIELD_NUMBER: _ClassVar[int]
    id: str
    credit_note_number: str
    invoice_id: str
    invoice_number: str
    customer: _common_pb2.CustomerRef
    currency: str
    type: CreditNoteType
    reason: CreditNoteReason
    memo: str
    subtotal: str
    total: str
    line_items: _containers.RepeatedCompositeFieldContainer[CreditNoteLineItem]
    applied_to_amount_due: str
    credited_to_balance: str
    customer_balance_transactions: _containers.RepeatedCompositeFieldContainer[_customer_pb2.BalanceTransaction]
    created_at: _timestamp_pb2.Timestamp
    voided_at: _timestamp_pb2.Timestamp
    version: int
    credit_note_pdf: str
    def __init__(self, id: _Optional[str] = ..., credit_note_number: _Optional[str] = ..., invoice_id: _Optional[str] = ..., invoice_number: _Optional[str] = ..., customer: _Optional[_Union[_common_pb2.CustomerRef, _Mapping]] = ..., currency: _Optional[str] = ..., type: _Optional[_Union[CreditNoteType, str]] = ..., reason: _Optional[_Union[CreditNoteReason, str]] = ..., memo: _Optional[str] = ..., subtotal: _Optional[str] = ..., total: _Optional[str] = ..., line_items: _Optional[_Iterable[_Union[CreditNoteLineItem, _Mapping]]] = ..., applied_to_amount_due: _Optional[str] = ..., credited_to_balance: _Optional[str] = ..., customer_balance_transactions: _Optional[_Iterable[_Union[_customer_pb2.BalanceTransaction, _Mapping]]] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., voided_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., version: _Optional[int] = ..., credit_note_pdf: _Optional[str] = ...) -> None: ...

class NewCreditNoteLineItem(_message.Message):
    __slots__ = ("invoice_line_item_id", "amount")
    INVOICE_LINE_ITEM_ID_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    invoice_line_item_id: str
    amount: str
    def __init__(self, invoice_line_item_id: _Optional[str] = ..., amount: _Optional[str] = ...) -> None: ...

class CreateCreditNoteRequest(_message.Message):
    __slots__ = ("invoice_id", "line_items", "reason", "memo", "expected_version", "request_id", "validate_only")
    INVOICE_ID_FIELD_NUMBER: _ClassVar[int]
    LINE_ITEMS_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    MEMO_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_VERSION_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    VALIDATE_ONLY_FIELD_NUMBER: _ClassVar[int]
    invoice_id: str
    line_items: _containers.RepeatedCompositeFieldContainer[NewCreditNoteLineItem]
    reason: CreditNoteReason
    memo: str
    expected_version: int
    request_id: str
    validate_only: bool
    def __init__(self, invoice_id: _Optional[str] = ..., line_items: _Optional[_Iterable[_Union[NewCreditNoteLineItem, _Mapping]]] = ..., reason: _Optional[_Union[CreditNoteReason, str]] = ..., memo: _Optional[str] = ..., expected_version: _Optional[int] = ..., request_id: _Optional[str] = ..., validate_only: _Optional[bool] = ...) -> None: ...

class GetCreditNoteRequest(_message.Message):
    __slots__ = ("credit_note_id",)
    CREDIT_NOTE_ID_FIELD_NUMBER: _ClassVar[int]
    credit_note_id: str
    def __init__(self, credit_note_id: _Optional[str] = ...) -> None: ...

class ListCreditNotesRequest(_message.Message):
    __slots__ = ("customer_id", "external_customer_id", "invoice_id", "created_at_gt", "created_at_gte", "created_at_lt", "created_at_lte", "limit", "resume_token")
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    EXTERNAL_CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    INVOICE_ID_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_GT_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_GTE_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_LT_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_LTE_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    RESUME_TOKEN_FIELD_NUMBER: _ClassVar[int]
    customer_id: str
    external_customer_id: str
    invoice_id: str
    created_at_gt: _timestamp_pb2.Timestamp
    created_at_gte: _timestamp_pb2.Timestamp
    created_at_lt: _timestamp_pb2.Timestamp
    created_at_lte: _timestamp_pb2.Timestamp
    limit: int
    resume_token: str
    def __init__(self, customer_id: _Optional[str] = ..., external_customer_id: _Optional[str] = ..., invoice_id: _Optional[str] = ..., created_at_gt: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., created_at_gte: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., created_at_lt: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., created_at_lte: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., limit: _Optional[int] = ..., resume_token: _Optional[str] = ...) -> None: ...

class ListCreditNotesResponse(_message.Message):
    __slots__ = ("credit_notes", "resume_token")
    CREDIT_NOTES_FIELD_NUMBER: _ClassVar[int]
    RESUME_TOKEN_FIELD_NUMBER: _ClassVar[int]
    credit_notes: _containers.RepeatedCompositeFieldContainer[CreditNote]
    resume_token: str
    def __init__(self, credit_notes: _Optional[_Iterable[_Union[CreditNote, _Mapping]]] = ..., resume_token: _Optional[str] = ...) -> None: ...

class VoidCreditNoteRequest(_message.Message):
    __slots__ = ("credit_note_id", "expected_version", "request_id", "validate_only")
    CREDIT_NOTE_ID_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_VERSION_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    VALIDATE_ONLY_FIELD_NUMBER: _ClassVar[int]
    credit_note_id: str
    expected_version: int
    request_id: str
    validate_only: bool
    def __init__(self, credit_note_id: _Optional[str] = ..., expected_version: _Optional[int] = ..., request_id: _Optional[str] = ..., validate_only: _Optional[bool] = ...) -> None: ...

class GetCreditNoteDocumentRequest(_message.Message):
    __slots__ = ("credit_note_id", "format")
    CREDIT_NOTE_ID_FIELD_NUMBER: _ClassVar[int]
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    credit_note_id: str
    format: _document_pb2.DocumentFormat
    def __init__(self, credit_note_id: _Optional[str] = ..., format: _Optional[_Union[_document_pb2.DocumentFormat, str]] = ...) -> None: ...
