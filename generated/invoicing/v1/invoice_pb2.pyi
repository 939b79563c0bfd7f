import datetime

from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.type import date_pb2 as _date_pb2
from invoicing.v1 import common_pb2 as _common_pb2
from invoicing.v1 import customer_pb2 as _customer_pb2
from invoicing.v1 import price_pb2 as _price_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class InvoiceStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    INVOICE_STATUS_UNSPECIFIED: _ClassVar[InvoiceStatus]
    INVOICE_STATUS_DRAFT: _ClassVar[InvoiceStatus]
    INVOICE_STATUS_ISSUED: _ClassVar[InvoiceStatus]
    INVOICE_STATUS_PAID: _ClassVar[InvoiceStatus]
    INVOICE_STATUS_SYNCED: _ClassVar[InvoiceStatus]
    INVOICE_STATUS_VOID: _ClassVar[InvoiceStatus]

class InvoiceSource(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    INVOICE_SOURCE_UNSPECIFIED: _ClassVar[InvoiceSource]
    INVOICE_SOURCE_SUBSCRIPTION: _ClassVar[InvoiceSource]
    INVOICE_SOURCE_PARTIAL: _ClassVar[InvoiceSource]
    INVOICE_SOURCE_ONE_OFF: _ClassVar[InvoiceSource]

class AdjustmentType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ADJUSTMENT_TYPE_UNSPECIFIED: _ClassVar[AdjustmentType]
    ADJUSTMENT_TYPE_USAGE_DISCOUNT: _ClassVar[AdjustmentType]
    ADJUSTMENT_TYPE_AMOUNT_DISCOUNT: _ClassVar[AdjustmentType]
    ADJUSTMENT_TYPE_PERCENTAGE_DISCOUNT: _ClassVar[AdjustmentType]
    ADJUSTMENT_TYPE_MINIMUM: _ClassVar[AdjustmentType]
    ADJUSTMENT_TYPE_MAXIMUM: _ClassVar[AdjustmentType]

class SubLineItemType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SUB_LINE_ITEM_TYPE_UNSPECIFIED: _ClassVar[SubLineItemType]
    SUB_LINE_ITEM_TYPE_TIER: _ClassVar[SubLineItemType]
    SUB_LINE_ITEM_TYPE_MATRIX: _ClassVar[SubLineItemType]
    SUB_LINE_ITEM_TYPE_OTHER: _ClassVar[SubLineItemType]

class InvoiceFieldChangeType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    INVOICE_FIELD_CHANGE_TYPE_UNSPECIFIED: _ClassVar[InvoiceFieldChangeType]
    INVOICE_FIELD_CHANGE_TYPE_ADDED: _ClassVar[InvoiceFieldChangeType]
    INVOICE_FIELD_CHANGE_TYPE_REMOVED: _ClassVar[InvoiceFieldChangeType]
    INVOICE_FIELD_CHANGE_TYPE_MODIFIED: _ClassVar[InvoiceFieldChangeType]

class InvoiceDateType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    INVOICE_DATE_TYPE_UNSPECIFIED: _ClassVar[InvoiceDateType]
    INVOICE_DATE_TYPE_INVOICE_DATE: _ClassVar[InvoiceDateType]
    INVOICE_DATE_TYPE_DUE_DATE: _ClassVar[InvoiceDateType]

class PaymentProvider(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PAYMENT_PROVIDER_UNSPECIFIED: _ClassVar[PaymentProvider]
    PAYMENT_PROVIDER_STRIPE: _ClassVar[PaymentProvider]
    PAYMENT_PROVIDER_ADYEN: _ClassVar[PaymentProvider]

class InvoiceEventType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    INVOICE_EVENT_TYPE_UNSPECIFIED: _ClassVar[InvoiceEventType]
    INVOICE_EVENT_TYPE_CREATED: _ClassVar[InvoiceEventType]
    INVOICE_EVENT_TYPE_LINE_ITEM_ADDED: _ClassVar[InvoiceEventType]
    INVOICE_EVENT_TYPE_LINE_ITEM_DELETED: _ClassVar[InvoiceEventType]
    INVOICE_EVENT_TYPE_UPDATED: _ClassVar[InvoiceEventType]
    INVOICE_EVENT_TYPE_ISSUED: _ClassVar[InvoiceEventType]
    INVOICE_EVENT_TYPE_PAID: _ClassVar[InvoiceEventType]
    INVOICE_EVENT_TYPE_VOIDED: _ClassVar[InvoiceEventType]
    INVOICE_EVENT_TYPE_CREDIT_NOTE_CREATED: _ClassVar[InvoiceEventType]
    INVOICE_EVENT_TYPE_CREDIT_NOTE_VOIDED: _ClassVar[InvoiceEventType]
INVOICE_STATUS_UNSPECIFIED: InvoiceStatus
INVOICE_STATUS_DRAFT: InvoiceStatus
INVOICE_STATUS_ISSUED: InvoiceStatus
INVOICE_STATUS_PAID: InvoiceStatus
INVOICE_STATUS_SYNCED: InvoiceStatus
INVOICE_STATUS_VOID: InvoiceStatus
INVOICE_SOURCE_UNSPECIFIED: InvoiceSource
INVOICE_SOURCE_SUBSCRIPTION: InvoiceSource
INVOICE_SOURCE_PARTIAL: InvoiceSource
INVOICE_SOURCE_ONE_OFF: InvoiceSource
ADJUSTMENT_TYPE_UNSPECIFIED: AdjustmentType
ADJUSTMENT_TYPE_USAGE_DISCOUNT: AdjustmentType
ADJUSTMENT_TYPE_AMOUNT_DISCOUNT: AdjustmentType
ADJUSTMENT_TYPE_PERCENTAGE_DISCOUNT: AdjustmentType
ADJUSTMENT_TYPE_MINIMUM: AdjustmentType
ADJUSTMENT_TYPE_MAXIMUM: AdjustmentType
SUB_LINE_ITEM_TYPE_UNSPECIFIED: SubLineItemType
SUB_LINE_ITEM_TYPE_TIER: SubLineItemType
SUB_LINE_ITEM_TYPE_MATRIX: SubLineItemType
SUB_LINE_ITEM_TYPE_OTHER: SubLineItemType
INVOICE_FIELD_CHANGE_TYPE_UNSPECIFIED: InvoiceFieldChangeType
INVOICE_FIELD_CHANGE_TYPE_ADDED: InvoiceFieldChangeType
INVOICE_FIELD_CHANGE_TYPE_REMOVED: InvoiceFieldChangeType
INVOICE_FIELD_CHANGE_TYPE_MODIFIED: InvoiceFieldChangeType
INVOICE_DATE_TYPE_UNSPECIFIED: InvoiceDateType
INVOICE_DATE_TYPE_INVOICE_DATE: InvoiceDateType
INVOICE_DATE_TYPE_DUE_DATE: InvoiceDateType
PAYMENT_PROVIDER_UNSPECIFIED: PaymentProvider
PAYMENT_PROVIDER_STRIPE: PaymentProvider
PAYMENT_PROVIDER_ADYEN: PaymentProvider
INVOICE_EVENT_TYPE_UNSPECIFIED: InvoiceEventType
INVOICE_EVENT_TYPE_CREATED: InvoiceEventType
INVOICE_EVENT_TYPE_LINE_ITEM_ADDED: InvoiceEventType
INVOICE_EVENT_TYPE_LINE_ITEM_DELETED: InvoiceEventType
INVOICE_EVENT_TYPE_UPDATED: InvoiceEventType
INVOICE_EVENT_TYPE_ISSUED: InvoiceEventType
INVOICE_EVENT_TYPE_PAID: InvoiceEventType
INVOICE_EVENT_TYPE_VOIDED: InvoiceEventType
INVOICE_EVENT_TYPE_CREDIT_NOTE_CREATED: InvoiceEventType
INVOICE_EVENT_TYPE_CREDIT_NOTE_VOIDED: InvoiceEventType

class Adjustment(_message.Message):
    __slots__ = ("id", "adjustment_type", "amount", "applies_to_price_ids", "is_invoice_level", "reason", "usage_discount", "amount_discount", "percentage_discount", "minimum_amount", "maximum_amount")
    ID_FIELD_NUMBER: _ClassVar[int]
    ADJUSTMENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    APPLIES_TO_PRICE_IDS_FIELD_NUMBER: _ClassVar[int]
    IS_INVOICE_LEVEL_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    USAGE_DISCOUNT_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_DISCOUNT_FIELD_NUMBER: _ClassVar[int]
    PERCENTAGE_DISCOUNT_FIELD_NUMBER: _ClassVar[int]
    MINIMUM_AMOUNT_FIELD_NUMBER: _ClassVar[int]
    MAXIMUM_AMOUNT_FIELD_NUMBER: _ClassVar[int]
    id: str
    adjustment_type: AdjustmentType
    amount: str
    applies_to_price_ids: _containers.RepeatedScalarFieldContainer[str]
    is_invoice_level: bool
    reason: str
    usage_discount: str
    amount_discount: str
    percentage_discount: str
    minimum_amount: str
    maximum_amount: str
    def __init__(self, id: _Optional[str] = ..., adjustment_type: _Optional[_Union[AdjustmentType, str]] = ..., amount: _Optional[str] = ..., applies_to_price_ids: _Optional[_Iterable[str]] = ..., is_invoice_level: _Optional[bool] = ..., reason: _Optional[str] = ..., usage_discount: _Optional[str] = ..., amount_discount: _Optional[str] = ..., percentage_discount: _Optional[str] = ..., minimum_amount: _Optional[str] = ..., maximum_amount: _Optional[str] = ...) -> None: ...

class TaxAmount(_message.Message):
    __slots__ = ("amount", "tax_rate_description", "tax_rate_percentage")
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    TAX_RATE_DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    TAX_RATE_PERCENTAGE_FIELD_NUMBER: _ClassVar[int]
    amount: str
    tax_rate_description: str
    tax_rate_percentage: str
    def __init__(self, amount: _Optional[str] = ..., tax_rate_description: _Optional[str] = ..., tax_rate_percentage: _Optional[str] = ...) -> None: ...

class SubLineTierConfig(_message.Message):
    __slots__ = ("first_unit", "last_unit", "unit_amount")
    FIRST_UNIT_FIELD_NUMBER: _ClassVar[int]
    LAST_UNIT_FIELD_NUMBER: _ClassVar[int]
    UNIT_AMOUNT_FIELD_NUMBER: _ClassVar[int]
    first_unit: str
    last_unit: str
    unit_amount: str
    def __init__(self, first_unit: _Optional[str] = ..., last_unit: _Optional[str] = ..., unit_amount: _Optional[str] = ...) -> None: ...

class SubLineMatrixConfig(_message.Message):
    __slots__ = ("dimension_values",)
    DIMENSION_VALUES_FIELD_NUMBER: _ClassVar[int]
    dimension_values: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, dimension_values: _Optional[_Iterable[str]] = ...) -> None: ...

class SubLineGrouping(_message.Message):
    __slots__ = ("key", "value")
    KEY_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    key: str
    value: str
    def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...

class SubLineItem(_message.Message):
    __slots__ = ("type", "name", "quantity", "amount", "tier_config", "matrix_config", "grouping")
    TYPE_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    QUANTITY_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    TIER_CONFIG_FIELD_NUMBER: _ClassVar[int]
    MATRIX_CONFIG_FIELD_NUMBER: _ClassVar[int]
    GROUPING_FIELD_NUMBER: _ClassVar[int]
    type: SubLineItemType
    name: str
    quantity: str
    amount: str
    tier_config: SubLineTierConfig
    matrix_config: SubLineMatrixConfig
    grouping: SubLineGrouping
    def __init__(self, type: _Optional[_Union[SubLineItemType, str]] = ..., name: _Optional[str] = ..., quantity: _Optional[str] = ..., amount: _Optional[str] = ..., tier_config: _Optional[_Union[SubLineTierConfig, _Mapping]] = ..., matrix_config: _Optional[_Union[SubLineMatrixConfig, _Mapping]] = ..., grouping: _Optional[_Union[SubLineGrouping, _Mapping]] = ...) -> None: ...

class InvoiceLineItem(_message.Message):
    __slots__ = ("id", "name", "quantity", "start_date", "end_date", "subtotal", "adjustments", "adjusted_subtotal", "credits_applied", "partially_invoiced_amount", "amount", "tax_amounts", "sub_line_items", "price", "is_one_off")
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    QUANTITY_FIELD_NUMBER: _ClassVar[int]
    START_DATE_FIELD_NUMBER: _ClassVar[int]
    END_DATE_FIELD_NUMBER: _ClassVar[int]
    SUBTOTAL_FIELD_NUMBER: _ClassVar[int]
    ADJUSTMENTS_FIELD_NUMBER: _ClassVar[int]
    ADJUSTED_SUBTOTAL_FIELD_NUMBER: _ClassVar[int]
    CREDITS_APPLIED_FIELD_NUMBER: _ClassVar[int]
    PARTIALLY_INVOICED_AMOUNT_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    TAX_AMOUNTS_FIELD_NUMBER: _ClassVar[int]
    SUB_LINE_ITEMS_FIELD_NUMBER: _ClassVar[int]
    PRICE_FIELD_NUMBER: _ClassVar[int]
    IS_ONE_OFF_FIELD_NUMBER: _ClassVar[int]
    id: str
    name: str
    quantity: str
    start_date: _date_pb2.Date
    end_date: _date_pb2.Date
    subtotal: str
    adjustments: _containers.RepeatedCompositeFieldContainer[Adjustment]
    adjusted_subtotal: str
    credits_applied: str
    partially_invoiced_amount: str
    amount: str
    tax_amounts: _containers.RepeatedCompositeFieldContainer[TaxAmount]
    sub_line_items: _containers.RepeatedCompositeFieldContainer[SubLineItem]
    price: _price_pb2.Price
    is_one_off: bool
    def __init__(self, id: _Optional[str] = ..., name: _Optional[str] = ..., quantity: _Optional[str] = ..., start_date: _Optional[_Union[_date_pb2.Date, _Mapping]] = ..., end_date: _Optional[_Union[_date_pb2.Date, _Mapping]] = ..., subtotal: _Optional[str] = ..., adjustments: _Optional[_Iterable[_Union[Adjustment, _Mapping]]] = ..., adjusted_subtotal: _Optional[str] = ..., credits_applied: _Optional[str] = ..., partially_invoiced_amount: _Optional[str] = ..., amount: _Optional[str] = ..., tax_amounts: _Optional[_Iterable[_Union[TaxAmount, _Mapping]]] = ..., sub_line_items: _Optional[_Iterable[_Union[SubLineItem, _Mapping]]] = ..., price: _Optional[_Union[_price_pb2.Price, _Mapping]] = ..., is_one_off: _Optional[bool] = ...) -> None: ...

class AutoCollection(_message.Message):
    __slots__ = ("enabled", "next_attempt_at", "num_attempts", "previously_attempted_at")
    ENABLED_FIELD_NUMBER: _ClassVar[int]
    NEXT_ATTEMPT_AT_FIELD_NUMBER: _ClassVar[int]
    NUM_ATTEMPTS_FIELD_NUMBER: _ClassVar[int]
    PREVIOUSLY_ATTEMPTED_AT_FIELD_NUMBER: _ClassVar[int]
    enabled: bool
    next_attempt_at: _timestamp_pb2.Timestamp
    num_attempts: int
    previously_attempted_at: _timestamp_pb2.Timestamp
    def __init__(self, enabled: _Optional[bool] = ..., next_attempt_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., num_attempts: _Optional[int] = ..., previously_attempted_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class CreditNoteSummary(_message.Message):
    __slots__ = ("id", "credit_note_number", "memo", "reason", "total", "type", "voided_at")
    ID_FIELD_NUMBER: _ClassVar[int]
    CREDIT_NOTE_NUMBER_FIELD_NUMBER: _ClassVar[int]
    MEMO_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    VOIDED_AT_FIELD_NUMBER: _ClassVar[int]
    id: str
    credit_note_number: str
    memo: str
    reason: str
    total: str
    type: str
    voided_at: _timestamp_pb2.Timestamp
    def __init__(self, id: _Optional[str] = ..., credit_note_number: _Optional[str] = ..., memo: _Optional[str] = ..., reason: _Optional[str] = ..., total: _Optional[str] = ..., type: _Optional[str] = ..., voided_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class PaymentAttempt(_message.Message):
    __slots__ = ("id", "amount", "created_at", "payment_provider", "payment_provider_id", "receipt_pdf", "succeeded")
    ID_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    PAYMENT_PROVIDER_FIELD_NUMBER: _ClassVar[int]
    PAYMENT_PROVIDER_ID_FIELD_NUMBER: _ClassVar[int]
    RECEIPT_PDF_FIELD_NUMBER: _ClassVar[int]
    SUCCEEDED_FIELD_NUMBER: _ClassVar[int]
    id: str
    amount: str
    created_at: _timestamp_pb2.Timestamp
    payment_provider: PaymentProvider
    payment_provider_id: str
    receipt_pdf: str
    succeeded: bool
    def __init__(self, id: _Optional[str] = ..., amount: _Optional[str] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., payment_provider: _Optional[_Union[PaymentProvider, str]] = ..., payment_provider_id: _Optional[str] = ..., receipt_pdf: _Optional[str] = ..., succeeded: _Optional[bool] = ...) -> None: ...

class Payment(_message.Message):
    __slots__ = ("id", "amount", "payment_received_date", "external_id", "notes", "created_at")
    ID_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    PAYMENT_RECEIVED_DATE_FIELD_NUMBER: _ClassVar[int]
    EXTERNAL_ID_FIELD_NUMBER: _ClassVar[int]
    NOTES_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    id: str
    amount: str
    payment_received_date: _date_pb2.Date
    external_id: str
    notes: str
    created_at: _timestamp_pb2.Timestamp
    def __init__(self, id: _Optional[str] = ..., amount: _Optional[str] = ..., payment_received_date: _Optional[_Union[_date_pb2.Date, _Mapping]] = ..., external_id: _Optional[str] = ..., notes: _Optional[str] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class Invoice(_message.Message):
    __slots__ = ("id", "version", "status", "invoice_source", "invoice_number", "customer", "subscription", "currency", "invoice_date", "due_date", "net_terms", "subtotal", "total", "amount_due", "line_items", "discounts", "discount", "minimum", "minimum_amount", "maximum", "maximum_amount", "memo", "metadata", "auto_collection", "billing_address", "shipping_address", "customer_tax_id", "customer_balance_transactions", "credit_notes", "payment_attempts", "payments", "will_auto_issue", "eligible_to_issue_at", "scheduled_issue_at", "issued_at", "paid_at", "voided_at", "issue_failed_at", "payment_started_at", "payment_failed_at", "sync_failed_at", "hosted_invoice_url", "invoice_pdf", "created_at", "updated_at")
    class MetadataEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    ID_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    INVOICE_SOURCE_FIELD_NUMBER: _ClassVar[int]
    INVOICE_NUMBER_FIELD_NUMBER: _ClassVar[int]
    CUSTOMER_FIELD_NUMBER: _ClassVar[int]
    SUBSCRIPTION_FIELD_NUMBER: _ClassVar[int]
    CURRENCY_FIELD_NUMBER: _ClassVar[int]
    INVOICE_DATE_FIELD_NUMBER: _ClassVar[int]
    DUE_DATE_FIELD_NUMBER: _ClassVar[int]
    NET_TERMS_FIELD_NUMBER: _ClassVar[int]
    SUBTOTAL_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_DUE_FIELD_NUMBER: _ClassVar[int]
    LINE_ITEMS_FIELD_NUMBER: _ClassVar[int]
    DISCOUNTS_FIELD_NUMBER: _ClassVar[int]
    DISCOUNT_FIELD_NUMBER: _ClassVar[int]
    MINIMUM_FIELD_NUMBER: _ClassVar[int]
    MINIMUM_AMOUNT_FIELD_NUMBER: _ClassVar[int]
    MAXIMUM_FIELD_NUMBER: _ClassVar[int]
    MAXIMUM_AMOUNT_FIELD_NUMBER: _ClassVar[int]
    MEMO_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    AUTO_COLLECTION_FIELD_NUMBER: _ClassVar[int]
    BILLING_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    SHIPPING_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    CUSTOMER_TAX_ID_FIELD_NUMBER: _ClassVar[int]
    CUSTOMER_BALANCE_TRANSACTIONS_FIELD_NUMBER: _ClassVar[int]
    CREDIT_NOTES_FIELD_NUMBER: _ClassVar[int]
    PAYMENT_ATTEMPTS_FIELD_NUMBER: _ClassVar[int]
    PAYMENTS_FIELD_NUMBER: _ClassVar[int]
    WILL_AUTO_ISSUE_FIELD_NUMBER: _ClassVar[int]
    ELIGIBLE_TO_ISSUE_AT_FIELD_NUMBER: _ClassVar[int]
    SCHEDULED_ISSUE_AT_FIELD_NUMBER: _ClassVar[int]
    ISSUED_AT_FIELD_NUMBER: _ClassVar[int]
    PAID_AT_FIELD_NUMBER: _ClassVar[int]
    VOIDED_AT_FIELD_NUMBER: _ClassVar[int]
    ISSUE_FAILED_AT_FIELD_NUMBER: _ClassVar[int]
    PAYMENT_STARTED_AT_FIELD_NUMBER: _ClassVar[int]
    PAYMENT_FAILED_AT_FIELD_NUMBER: _ClassVar[int]
    SYNC_FAILED_AT_FIELD_NUMBER: _ClassVar[int]
    HOSTED_INVOICE_URL_FIELD_NUMBER: _ClassVar[int]
    INVOICE_PDF_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    id: str
    version: int
    status: InvoiceStatus
    invoice_source: InvoiceSource
    invoice_number: str
    customer: _common_pb2.CustomerRef
    subscription: _common_pb2.SubscriptionRef
    currency: str
    invoice_date: _date_pb2.Date
    due_date: _date_pb2.Date
    net_terms: int
    subtotal: str
    total: str
    amount_due: str
    line_items: _containers.RepeatedCompositeFieldContainer[InvoiceLineItem]
    discounts: _containers.RepeatedCompositeFieldContainer[_price_pb2.Discount]
    discount: _price_pb2.Discount
    minimum: _price_pb2.Minimum
    minimum_amount: str
    maximum: _price_pb2.Maximum
    maximum_amount: str
    memo: str
    metadata: _containers.ScalarMap[str, str]
    auto_collection: AutoCollection
    billing_address: _common_pb2.Address
    shipping_address: _common_pb2.Address
    customer_tax_id: _common_pb2.CustomerTaxId
    customer_balance_transactions: _containers.RepeatedCompositeFieldContainer[_customer_pb2.BalanceTransaction]
    credit_notes: _containers.RepeatedCompositeFieldContainer[CreditNoteSummary]
    payment_attempts: _containers.RepeatedCompositeFieldContainer[PaymentAttempt]
    payments: _containers.RepeatedCompositeFieldContainer[Payment]
    will_auto_issue: bool
    eligible_to_issue_at: _timestamp_pb2.Timestamp
    scheduled_issue_at: _timestamp_pb2.Timestamp
    issued_at: _timestamp_pb2.Timestamp
    paid_at: _timestamp_pb2.Timestamp
    voided_at: _timestamp_pb2.Timestamp
    issue_failed_at: _timestamp_pb2.Timestamp
    payment_started_at: _timestamp_pb2.Timestamp
    payment_failed_at: _timestamp_pb2.Timestamp
    sync_failed_at: _timestamp_pb2.Timestamp
    hosted_invoice_url: str
    invoice_pdf: str
    created_at: _timestamp_pb2.Timestamp
    updated_at: _timestamp_pb2.Timestamp
    def __init__(self, id: _Optional[str] = ..., version: _Optional[int] = ..., status: _Optional[_Union[InvoiceStatus, str]] = ..., invoice_source: _Optional[_Union[InvoiceSource, str]] = ..., invoice_number: _Optional[str] = ..., customer: _Optional[_Union[_common_pb2.CustomerRef, _Mapping]] = ..., subscription: _Optional[_Union[_common_pb2.SubscriptionRef, _Mapping]] = ..., currency: _Optional[str] = ..., invoice_date: _Optional[_Union[_date_pb2.Date, _Mapping]] = ..., due_date: _Optional[_Union[_date_pb2.Date, _Mapping]] = ..., net_terms: _Optional[int] = ..., subtotal: _Optional[str] = ..., total: _Optional[str] = ..., amount_due: _Optional[str] = ..., line_items: _Optional[_Iterable[_Union[InvoiceLineItem, _Mapping]]] = ..., discounts: _Optional[_Iterable[_Union[_price_pb2.Discount, _Mapping]]] = ..., discount: _Optional[_Union[_price_pb2.Discount, _Mapping]] = ..., minimum: _Optional[_Union[_price_pb2.Minimum, _Mapping]] = ..., minimum_amount: _Optional[str] = ..., maximum: _Optional[_Union[_price_pb2.Maximum, _Mapping]] = ..., maximum_amount: _Optional[str] = ..., memo: _Optional[str] = ..., metadata: _Optional[_Mapping[str, str]] = ..., auto_collection: _Optional[_Union[AutoCollection, _Mapping]] = ..., billing_address: _Optional[_Union[_common_pb2.Address, _Mapping]] = ..., shipping_address: _Optional[_Union[_common_pb2.Address, _Mapping]] = ..., customer_tax_id: _Optional[_Union[_common_pb2.CustomerTaxId, _Mapping]] = ..., customer_balance_transactions: _Optional[_Iterable[_Union[_customer_pb2.BalanceTransaction, _Mapping]]] = ..., credit_notes: _Optional[_Iterable[_Union[CreditNoteSummary, _Mapping]]] = ..., payment_attempts: _Optional[_Iterable[_Union[PaymentAttempt, _Mapping]]] = ..., payments: _Optional[_Iterable[_Union[Payment, _Mapping]]] = ..., will_auto_issue: _Optional[bool] = ..., eligible_to_issue_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., scheduled_issue_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., issued_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., paid_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., voided_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., issue_failed_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., payment_started_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., payment_failed_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., sync_failed_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., hosted_invoice_url: _Optional[str] = ..., invoice_pdf: _Optional[str] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., updated_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class UpcomingInvoice(_message.Message):
    __slots__ = ("target_date", "invoice")
    TARGET_DATE_FIELD_NUMBER: _ClassVar[int]
    INVOICE_FIELD_NUMBER: _ClassVar[int]
    target_date: _date_pb2.Date
    invoice: Invoice
    def __init__(self, target_date: _Optional[_Union[_date_pb2.Date, _Mapping]] = ..., invoice: _Optional[_Union[Invoice, _Mapping]] = ...) -> None: ...

class InvoiceEvent(_message.Message):
    __slots__ = ("sequence", "type", "invoice_id", "customer_id", "version", "occurred_at", "invoice")
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    INVOICE_ID_FIELD_NUMBER: _ClassVar[int]
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    OCCURRED_AT_FIELD_NUMBER: _ClassVar[int]
    INVOICE_FIELD_NUMBER: _ClassVar[int]
    sequence: int
    type: InvoiceEventType
    invoice_id: str
    customer_id: str
    version: int
    occurred_at: _timestamp_pb2.Timestamp
    invoice: Invoice
    def __init__(self, sequence: _Optional[int] = ..., type: _Optional[_Union[InvoiceEventType, str]] = ..., invoice_id: _Optional[str] = ..., customer_id: _Optional[str] = ..., version: _Optional[int] = ..., occurred_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., invoice: _Optional[_Union[Invoice, _Mapping]] = ...) -> None: ...

class InvoiceFieldChange(_message.Message):
    __slots__ = ("path", "type", "old_value", "new_value")
    PATH_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    OLD_VALUE_FIELD_NUMBER: _ClassVar[int]
    NEW_VALUE_FIELD_NUMBER: _ClassVar[int]
    path: str
    type: InvoiceFieldChangeType
    old_value: _struct_pb2.Value
    new_value: _struct_pb2.Value
    def __init__(self, path: _Optional[str] = ..., type: _Optional[_Union[InvoiceFieldChangeType, str]] = ..., old_value: _Optional[_Union[_struct_pb2.Value, _Mapping]] = ..., new_value: _Optional[_Union[_struct_pb2.Value, _Mapping]] = ...) -> None: ...

class InvoiceVersion(_message.Message):
    __slots__ = ("version", "changed_at", "method", "api_key_id", "request_id", "changes", "invoice")
    VERSION_FIELD_NUMBER: _ClassVar[int]
    CHANGED_AT_FIELD_NUMBER: _ClassVar[int]
    METHOD_FIELD_NUMBER: _ClassVar[int]
    API_KEY_ID_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    CHANGES_FIELD_NUMBER: _ClassVar[int]
    INVOICE_FIELD_NUMBER: _ClassVar[int]
    version: int
    changed_at: _timestamp_pb2.Timestamp
    method: str
    api_key_id: str
    request_id: str
    changes: _containers.RepeatedCompositeFieldContainer[InvoiceFieldChange]
    invoice: Invoice
    def __init__(self, version: _Optional[int] = ..., changed_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., method: _Optional[str] = ..., api_key_id: _Optional[str] = ..., request_id: _Optional[str] = ..., changes: _Optional[_Iterable[_Union[InvoiceFieldChange, _Mapping]]] = ..., invoice: _Optional[_Union[Invoice, _Mapping]] = ...) -> None: ...
