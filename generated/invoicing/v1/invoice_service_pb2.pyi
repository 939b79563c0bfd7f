from google.type import date_pb2 as _date_pb2
from invoicing.v1 import common_pb2 as _common_pb2
from invoicing.v1 import document_pb2 as _document_pb2
from invoicing.v1 import invoice_pb2 as _invoice_pb2
from invoicing.v1 import price_pb2 as _price_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class NewInvoiceLineItem(_message.Message):
    __slots__ = ("name", "quantity", "unit_amount", "start_date", "end_date")
    NAME_FIELD_NUMBER: _ClassVar[int]
    QUANTITY_FIELD_NUMBER: _ClassVar[int]
    UNIT_AMOUNT_FIELD_NUMBER: _ClassVar[int]
    START_DATE_FIELD_NUMBER: _ClassVar[int]
    END_DATE_FIELD_NUMBER: _ClassVar[int]
    name: str
    quantity: str
    unit_amount: str
    start_date: _date_pb2.Date
    end_date: _date_pb2.Date
    def __init__(self, name: _Optional[str] = ..., quantity: _Optional[str] = ..., unit_amount: _Optional[str] = ..., start_date: _Optional[_Union[_date_pb2.Date, _Mapping]] = ..., end_date: _Optional[_Union[_date_pb2.Date, _Mapping]] = ...) -> None: ...

class CreateInvoiceRequest(_message.Message):
    __slots__ = ("customer_id", "external_customer_id", "currency", "invoice_date", "line_items", "net_terms", "due_date", "memo", "metadata", "discount", "will_auto_issue", "auto_collection", "request_id", "validate_only")
    class MetadataEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    EXTERNAL_CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    CURRENCY_FIELD_NUMBER: _ClassVar[int]
    INVOICE_DATE_FIELD_NUMBER: _ClassVar[int]
    LINE_ITEMS_FIELD_NUMBER: _ClassVar[int]
    NET_TERMS_FIELD_NUMBER: _ClassVar[int]
    DUE_DATE_FIELD_NUMBER: _ClassVar[int]
    MEMO_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    DISCOUNT_FIELD_NUMBER: _ClassVar[int]
    WILL_AUTO_ISSUE_FIELD_NUMBER: _ClassVar[int]
    AUTO_COLLECTION_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    VALIDATE_ONLY_FIELD_NUMBER: _ClassVar[int]
    customer_id: str
    external_customer_id: str
    currency: str
    invoice_date: _date_pb2.Date
    line_items: _containers.RepeatedCompositeFieldContainer[NewInvoiceLineItem]
    net_terms: int
    due_date: _date_pb2.Date
    memo: str
    metadata: _containers.ScalarMap[str, str]
    discount: _price_pb2.Discount
    will_auto_issue: bool
    auto_collection: bool
    request_id: str
    validate_only: bool
    def __init__(self, customer_id: _Optional[str] = ..., external_customer_id: _Optional[str] = ..., currency: _Optional[str] = ..., invoice_date: _Optional[_Union[_date_pb2.Date, _Mapping]] = ..., line_items: _Optional[_Iterable[_Union[NewInvoiceLineItem, _Mapping]]] = ..., net_terms: _Optional[int] = ..., due_date: _Optional[_Union[_date_pb2.Date, _Mapping]] = ..., memo: _Optional[str] = ..., metadata: _Optional[_Mapping[str, str]] = ..., discount: _Optional[_Union[_price_pb2.Discount, _Mapping]] = ..., will_auto_issue: _Optional[bool] = ..., auto_collection: _Optional[bool] = ..., request_id: _Optional[str] = ..., validate_only: _Optional[bool] = ...) -> None: ...

class GetInvoiceRequest(_message.Message):
    __slots__ = ("invoice_id", "version")
    INVOICE_ID_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    invoice_id: str
    version: int
    def __init__(self, invoice_id: _Optional[str] = ..., version: _Optional[int] = ...) -> None: ...

class GetInvoiceDocumentRequest(_message.Message):
    __slots__ = ("invoice_id", "format")
    INVOICE_ID_FIELD_NUMBER: _ClassVar[int]
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    invoice_id: str
    format: _document_pb2.DocumentFormat
    def __init__(self, invoice_id: _Optional[str] = ..., format: _Optional[_Union[_document_pb2.DocumentFormat, str]] = ...) -> None: ...

class GetUpcomingInvoiceRequest(_message.Message):
    __slots__ = ("subscription_id",)
    SUBSCRIPTION_ID_FIELD_NUMBER: _ClassVar[int]
    subscription_id: str
    def __init__(self, subscription_id: _Optional[str] = ...) -> None: ...

class ListInvoicesRequest(_message.Message):
    __slots__ = ("customer_id", "external_customer_id", "subscription_id", "status", "date_type", "due_date", "due_date_gt", "due_date_lt", "due_date_window", "invoice_date_gt", "invoice_date_gte", "invoice_date_lt", "invoice_date_lte", "amount", "amount_gt", "amount_lt", "is_recurring", "limit", "resume_token")
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    EXTERNAL_CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    SUBSCRIPTION_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    DATE_TYPE_FIELD_NUMBER: _ClassVar[int]
    DUE_DATE_FIELD_NUMBER: _ClassVar[int]
    DUE_DATE_GT_FIELD_NUMBER: _ClassVar[int]
    DUE_DATE_LT_FIELD_NUMBER: _ClassVar[int]
    DUE_DATE_WINDOW_FIELD_NUMBER: _ClassVar[int]
    INVOICE_DATE_GT_FIELD_NUMBER: _ClassVar[int]
    INVOICE_DATE_GTE_FIELD_NUMBER: _ClassVar[int]
    INVOICE_DATE_LT_FIELD_NUMBER: _ClassVar[int]
    INVOICE_DATE_LTE_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_GT_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_LT_FIELD_NUMBER: _ClassVar[int]
    IS_RECURRING_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    RESUME_TOKEN_FIELD_NUMBER: _ClassVar[int]
    customer_id: str
    external_customer_id: str
    subscription_id: str
    status: _containers.RepeatedScalarFieldContainer[_invoice_pb2.InvoiceStatus]
    date_type: _invoice_pb2.InvoiceDateType
    due_date: _date_pb2.Date
    due_date_gt: _date_pb2.Date
    due_date_lt: _date_pb2.Date
    due_date_window: str
    invoice_date_gt: _date_pb2.Date
    invoice_date_gte: _date_pb2.Date
    invoice_date_lt: _date_pb2.Date
    invoice_date_lte: _date_pb2.Date
    amount: str
    amount_gt: str
    amount_lt: str
    is_recurring: bool
    limit: int
    resume_token: str
    def __init__(self, customer_id: _Optional[str] = ..., external_customer_id: _Optional[str] = ..., subscription_id: _Optional[str] = ..., status: _Optional[_Iterable[_Union[_invoice_pb2.InvoiceStatus, str]]] = ..., date_type: _Optional[_Union[_invoice_pb2.InvoiceDateType, str]] = ..., due_date: _Optional[_Union[_date_pb2.Date, _Mapping]] = ..., due_date_gt: _Optional[_Union[_date_pb2.Date, _Mapping]] = ..., due_date_lt: _Optional[_Union[_date_pb2.Date, _Mapping]] = ..., due_date_window: _Optional[str] = ..., invoice_date_gt: _Optional[_Union[_date_pb2.Date, _Mapping]] = ..., invoice_date_gte: _Optional[_Union[_date_pb2.Date, _Mapping]] = ..., invoice_date_lt: _Optional[_Union[_date_pb2.Date, _Mapping]] = ..., invoice_date_lte: _Optional[_Union[_date_pb2.Date, _Mapping]] = ..., amount: _Optional[str] = ..., amount_gt: _Optional[str] = ..., amount_lt: _Optional[str] = ..., is_recurring: _Optional[bool] = ..., limit: _Optional[int] = ..., resume_token: _Optional[str] = ...) -> None: ...

class ListInvoicesResponse(_message.Message):
    __slots__ = ("invoices", "resume_token")
    INVOICES_FIELD_NUMBER: _ClassVar[int]
    RESUME_TOKEN_FIELD_NUMBER: _ClassVar[int]
    invoices: _containers.RepeatedCompositeFieldContainer[_invoice_pb2.Invoice]
    resume_token: str
    def __init__(self, invoices: _Optional[_Iterable[_Union[_invoice_pb2.Invoice, _Mapping]]] = ..., resume_token: _Optional[str] = ...) -> None: ...

class UpdateInvoiceRequest(_message.Message):
    __slots__ = ("invoice_id", "metadata", "net_terms", "due_date", "auto_collection", "invoice_date", "expected_version", "request_id", "validate_only")
    INVOICE_ID_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    NET_TERMS_FIELD_NUMBER: _ClassVar[int]
    DUE_DATE_FIELD_NUMBER: _ClassVar[int]
    AUTO_COLLECTION_FIELD_NUMBER: _ClassVar[int]
    INVOICE_DATE_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_VERSION_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    VALIDATE_ONLY_FIELD_NUMBER: _ClassVar[int]
    invoice_id: str
    metadata: _common_pb2.MetadataChange
    net_terms: int
    due_date: _date_pb2.Date
    auto_collection: bool
    invoice_date: _date_pb2.Date
    expected_version: int
    request_id: str
    validate_only: bool
    def __init__(self, invoice_id: _Optional[str] = ..., metadata: _Optional[_Union[_common_pb2.MetadataChange, _Mapping]] = ..., net_terms: _Optional[int] = ..., due_date: _Optional[_Union[_date_pb2.Date, _Mapping]] = ..., auto_collection: _Optional[bool] = ..., invoice_date: _Optional[_Union[_date_pb2.Date, _Mapping]] = ..., expected_version: _Optional[int] = ..., request_id: _Optional[str] = ..., validate_only: _Optional[bool] = ...) -> None: ...

class CreateInvoiceLineItemRequest(_message.Message):
    __slots__ = ("invoice_id", "amount", "quantity", "name", "start_date", "end_date", "expected_version", "request_id", "validate_only")
    INVOICE_ID_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    QUANTITY_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    START_DATE_FIELD_NUMBER: _ClassVar[int]
    END_DATE_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_VERSION_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    VALIDATE_ONLY_FIELD_NUMBER: _ClassVar[int]
    invoice_id: str
    amount: str
    quantity: str
    name: str
    start_date: _date_pb2.Date
    end_date: _date_pb2.Date
    expected_version: int
    request_id: str
    validate_only: bool
    def __init__(self, invoice_id: _Optional[str] = ..., amount: _Optional[str] = ..., quantity: _Optional[str] = ..., name: _Optional[str] = ..., start_date: _Optional[_Union[_date_pb2.Date, _Mapping]] = ..., end_date: _Optional[_Union[_date_pb2.Date, _Mapping]] = ..., expected_version: _Optional[int] = ..., request_id: _Optional[str] = ..., validate_only: _Optional[bool] = ...) -> None: ...

class DeleteInvoiceLineItemRequest(_message.Message):
    __slots__ = ("invoice_id", "line_item_id", "expected_version", "request_id", "validate_only")
    INVOICE_ID_FIELD_NUMBER: _ClassVar[int]
    LINE_ITEM_ID_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_VERSION_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    VALIDATE_ONLY_FIELD_NUMBER: _ClassVar[int]
    invoice_id: str
    line_item_id: str
    expected_version: int
    request_id: str
    validate_only: bool
    def __init__(self, invoice_id: _Optional[str] = ..., line_item_id: _Optional[str] = ..., expected_version: _Optional[int] = ..., request_id: _Optional[str] = ..., validate_only: _Optional[bool] = ...) -> None: ...

class IssueInvoiceRequest(_message.Message):
    __slots__ = ("invoice_id", "expected_version", "request_id", "validate_only")
    INVOICE_ID_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_VERSION_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    VALIDATE_ONLY_FIELD_NUMBER: _ClassVar[int]
    invoice_id: str
    expected_version: int
    request_id: str
    validate_only: bool
    def __init__(self, invoice_id: _Optional[str] = ..., expected_version: _Optional[int] = ..., request_id: _Optional[str] = ..., validate_only: _Optional[bool] = ...) -> None: ...

class MarkInvoicePaidRequest(_message.Message):
    __slots__ = ("invoice_id", "payment_received_date", "external_id", "notes", "expected_version", "request_id", "validate_only")
    INVOICE_ID_FIELD_NUMBER: _ClassVar[int]
    PAYMENT_RECEIVED_DATE_FIELD_NUMBER: _ClassVar[int]
    EXTERNAL_ID_FIELD_NUMBER: _ClassVar[int]
    NOTES_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_VERSION_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    VALIDATE_ONLY_FIELD_NUMBER: _ClassVar[int]
    invoice_id: str
    payment_received_date: _date_pb2.Date
    external_id: str
    notes: str
    expected_version: int
    request_id: str
    validate_only: bool
    def __init__(self, invoice_id: _Optional[str] = ..., payment_received_date: _Optional[_Union[_date_pb2.Date, _Mapping]] = ..., external_id: _Optional[str] = ..., notes: _Optional[str] = ..., expected_version: _Optional[int] = ..., request_id: _Optional[str] = ..., validate_only: _Optional[bool] = ...) -> None: ...

class VoidInvoiceRequest(_message.Message):
    __slots__ = ("invoice_id", "expected_version", "request_id", "validate_only")
    INVOICE_ID_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_VERSION_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    VALIDATE_ONLY_FIELD_NUMBER: _ClassVar[int]
    invoice_id: str
    expected_version: int
    request_id: str
    validate_only: bool
    def __init__(self, invoice_id: _Optional[str] = ..., expected_version: _Optional[int] = ..., request_id: _Optional[str] = ..., validate_only: _Optional[bool] = ...) -> None: ...

class WatchInvoiceEventsRequest(_message.Message):
    __slots__ = ("after_sequence", "customer_id", "types")
    AFTER_SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    TYPES_FIELD_NUMBER: _ClassVar[int]
    after_sequence: int
    customer_id: str
    types: _containers.RepeatedScalarFieldContainer[_invoice_pb2.InvoiceEventType]
    def __init__(self, after_sequence: _Optional[int] = ..., customer_id: _Optional[str] = ..., types: _Optional[_Iterable[_Union[_invoice_pb2.InvoiceEventType, str]]] = ...) -> None: ...

class ListInvoiceVersionsRequest(_message.Message):
    __slots__ = ("invoice_id", "limit", "resume_token")
    INVOICE_ID_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    RESUME_TOKEN_FIELD_NUMBER: _ClassVar[int]
    invoice_id: str
    limit: int
    resume_token: str
    def __init__(self, invoice_id: _Optional[str] = ..., limit: _Optional[int] = ..., resume_token: _Optional[str] = ...) -> None: ...

class ListInvoiceVersionsResponse(_message.Message):
    __slots__ = ("versions", "resume_token")
    VERSIONS_FIELD_NUMBER: _ClassVar[int]
    RESUME_TOKEN_FIELD_NUMBER: _ClassVar[int]
    versions: _containers.RepeatedCompositeFieldContainer[_invoice_pb2.InvoiceVersion]
    resume_token: str
    def __init__(self, versions: _Optional[_Iterable[_Union[_invoice_pb2.InvoiceVersion, _Mapping]]] = ..., resume_token: _Optional[str] = ...) -> None: ...
