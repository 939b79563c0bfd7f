import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.type import date_pb2 as _date_pb2
from invoicing.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class BalanceTransactionAction(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    BALANCE_TRANSACTION_ACTION_UNSPECIFIED: _ClassVar[BalanceTransactionAction]
    BALANCE_TRANSACTION_ACTION_APPLIED_TO_INVOICE: _ClassVar[BalanceTransactionAction]
    BALANCE_TRANSACTION_ACTION_MANUAL_ADJUSTMENT: _ClassVar[BalanceTransactionAction]
    BALANCE_TRANSACTION_ACTION_PRORATED_REFUND: _ClassVar[BalanceTransactionAction]
    BALANCE_TRANSACTION_ACTION_REVERT_PRORATED_REFUND: _ClassVar[BalanceTransactionAction]
    BALANCE_TRANSACTION_ACTION_RETURN_FROM_VOIDING: _ClassVar[BalanceTransactionAction]
    BALANCE_TRANSACTION_ACTION_CREDIT_NOTE_APPLIED: _ClassVar[BalanceTransactionAction]
    BALANCE_TRANSACTION_ACTION_CREDIT_NOTE_VOIDED: _ClassVar[BalanceTransactionAction]
    BALANCE_TRANSACTION_ACTION_OVERPAYMENT_REFUND: _ClassVar[BalanceTransactionAction]
    BALANCE_TRANSACTION_ACTION_EXTERNAL_PAYMENT: _ClassVar[BalanceTransactionAction]
    BALANCE_TRANSACTION_ACTION_SMALL_INVOICE_CARRYOVER: _ClassVar[BalanceTransactionAction]

class BalanceTransactionType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    BALANCE_TRANSACTION_TYPE_UNSPECIFIED: _ClassVar[BalanceTransactionType]
    BALANCE_TRANSACTION_TYPE_INCREMENT: _ClassVar[BalanceTransactionType]
    BALANCE_TRANSACTION_TYPE_DECREMENT: _ClassVar[BalanceTransactionType]

class CreditLedgerEntryType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CREDIT_LEDGER_ENTRY_TYPE_UNSPECIFIED: _ClassVar[CreditLedgerEntryType]
    CREDIT_LEDGER_ENTRY_TYPE_INCREMENT: _ClassVar[CreditLedgerEntryType]
    CREDIT_LEDGER_ENTRY_TYPE_DECREMENT: _ClassVar[CreditLedgerEntryType]
    CREDIT_LEDGER_ENTRY_TYPE_CREDIT_BLOCK_EXPIRY: _ClassVar[CreditLedgerEntryType]
    CREDIT_LEDGER_ENTRY_TYPE_RETURN_FROM_VOIDING: _ClassVar[CreditLedgerEntryType]
BALANCE_TRANSACTION_ACTION_UNSPECIFIED: BalanceTransactionAction
BALANCE_TRANSACTION_ACTION_APPLIED_TO_INVOICE: BalanceTransactionAction
BALANCE_TRANSACTION_ACTION_MANUAL_ADJUSTMENT: BalanceTransactionAction
BALANCE_TRANSACTION_ACTION_PRORATED_REFUND: BalanceTransactionAction
BALANCE_TRANSACTION_ACTION_REVERT_PRORATED_REFUND: BalanceTransactionAction
BALANCE_TRANSACTION_ACTION_RETURN_FROM_VOIDING: BalanceTransactionAction
BALANCE_TRANSACTION_ACTION_CREDIT_NOTE_APPLIED: BalanceTransactionAction
BALANCE_TRANSACTION_ACTION_CREDIT_NOTE_VOIDED: BalanceTransactionAction
BALANCE_TRANSACTION_ACTION_OVERPAYMENT_REFUND: BalanceTransactionAction
BALANCE_TRANSACTION_ACTION_EXTERNAL_PAYMENT: BalanceTransactionAction
BALANCE_TRANSACTION_ACTION_SMALL_INVOICE_CARRYOVER: BalanceTransactionAction
BALANCE_TRANSACTION_TYPE_UNSPECIFIED: BalanceTransactionType
BALANCE_TRANSACTION_TYPE_INCREMENT: BalanceTransactionType
BALANCE_TRANSACTION_TYPE_DECREMENT: BalanceTransactionType
CREDIT_LEDGER_ENTRY_TYPE_UNSPECIFIED: CreditLedgerEntryType
CREDIT_LEDGER_ENTRY_TYPE_INCREMENT: CreditLedgerEntryType
CREDIT_LEDGER_ENTRY_TYPE_DECREMENT: CreditLedgerEntryType
CREDIT_LEDGER_ENTRY_TYPE_CREDIT_BLOCK_EXPIRY: CreditLedgerEntryType
CREDIT_LEDGER_ENTRY_TYPE_RETURN_FROM_VOIDING: CreditLedgerEntryType

class Customer(_message.Message):
    __slots__ = ("id", "external_customer_id", "name", "email", "currency", "timezone", "billing_address", "shipping_address", "tax_id", "auto_collection", "auto_issuance", "net_terms", "metadata", "balance", "created_at", "updated_at", "credit_balance")
    class MetadataEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    ID_FIELD_NUMBER: _ClassVar[int]
    EXTERNAL_CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    EMAIL_FIELD_NUMBER: _ClassVar[int]
    CURRENCY_FIELD_NUMBER: _ClassVar[int]
    TIMEZONE_FIELD_NUMBER: _ClassVar[int]
    BILLING_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    SHIPPING_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    TAX_ID_FIELD_NUMBER: _ClassVar[int]
    AUTO_COLLECTION_FIELD_NUMBER: _ClassVar[int]
    AUTO_ISSUANCE_FIELD_NUMBER: _ClassVar[int]
    NET_TERMS_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    BALANCE_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    CREDIT_BALANCE_FIELD_NUMBER: _ClassVar[int]
    id: str
    external_customer_id: str
    name: str
    email: str
    currency: str
    timezone: str
    billing_address: _common_pb2.Address
    shipping_address: _common_pb2.Address
    tax_id: _common_pb2.CustomerTaxId
    auto_collection: bool
    auto_issuance: bool
    net_terms: int
    metadata: _containers.ScalarMap[str, str]
    balance: str
    created_at: _timestamp_pb2.Timestamp
    updated_at: _timestamp_pb2.Timestamp
    credit_balance: str
    def __init__(self, id: _Optional[str] = ..., external_customer_id: _Optional[str] = ..., name: _Optional[str] = ..., email: _Optional[str] = ..., currency: _Optional[str] = ..., timezone: _Optional[str] = ..., billing_address: _Optional[_Union[_common_pb2.Address, _Mapping]] = ..., shipping_address: _Optional[_Union[_common_pb2.Address, _Mapping]] = ..., tax_id: _Optional[_Union[_common_pb2.CustomerTaxId, _Mapping]] = ..., auto_collection: _Optional[bool] = ..., auto_issuance: _Optional[bool] = ..., net_terms: _Optional[int] = ..., metadata: _Optional[_Mapping[str, str]] = ..., balance: _Optional[str] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., updated_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., credit_balance: _Optional[str] = ...) -> None: ...

class BalanceTransaction(_message.Message):
    __slots__ = ("id", "action", "amount", "starting_balance", "ending_balance", "type", "invoice", "credit_note", "description", "created_at", "customer_id")
    ID_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    STARTING_BALANCE_FIELD_NUMBER: _ClassVar[int]
    ENDING_BALANCE_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    INVOICE_FIELD_NUMBER: _ClassVar[int]
    CREDIT_NOTE_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    action: BalanceTransactionAction
    amount: str
    starting_balance: str
    ending_balance: str
    type: BalanceTransactionType
    invoice: _common_pb2.InvoiceRef
    credit_note: _common_pb2.CreditNoteRef
    description: str
    created_at: _timestamp_pb2.Timestamp
    customer_id: str
    def __init__(self, id: _Optional[str] = ..., action: _Optional[_Union[BalanceTransactionAction, str]] = ..., amount: _Optional[str] = ..., starting_balance: _Optional[str] = ..., ending_balance: _Optional[str] = ..., type: _Optional[_Union[BalanceTransactionType, str]] = ..., invoice: _Optional[_Union[_common_pb2.InvoiceRef, _Mapping]] = ..., credit_note: _Optional[_Union[_common_pb2.CreditNoteRef, _Mapping]] = ..., description: _Optional[str] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., customer_id: _Optional[str] = ...) -> None: ...

class CreditBlock(_message.Message):
    __slots__ = ("id", "customer_id", "currency", "amount", "remaining", "per_unit_cost_basis", "effective_date", "expiry_date", "description", "created_at")
    ID_FIELD_NUMBER: _ClassVar[int]
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    CURRENCY_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    REMAINING_FIELD_NUMBER: _ClassVar[int]
    PER_UNIT_COST_BASIS_FIELD_NUMBER: _ClassVar[int]
    EFFECTIVE_DATE_FIELD_NUMBER: _ClassVar[int]
    EXPIRY_DATE_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    id: str
    customer_id: str
    currency: str
    amount: str
    remaining: str
    per_unit_cost_basis: str
    effective_date: _date_pb2.Date
    expiry_date: _date_pb2.Date
    description: str
    created_at: _timestamp_pb2.Timestamp
    def __init__(self, id: _Optional[str] = ..., customer_id: _Optional[str] = ..., currency: _Optional[str] = ..., amount: _Optional[str] = ..., remaining: _Optional[str] = ..., per_unit_cost_basis: _Optional[str] = ..., effective_date: _Optional[_Union[_date_pb2.Date, _Mapping]] = ..., expiry_date: _Optional[_Union[_date_pb2.Date, _Mapping]] = ..., description: _Optional[str] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class CreditLedgerEntry(_message.Message):
    __slots__ = ("id", "customer_id", "entry_type", "amount", "starting_balance", "ending_balance", "credit_block", "invoice", "line_item_id", "description", "created_at")
    ID_FIELD_NUMBER: _ClassVar[int]
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    ENTRY_TYPE_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    STARTING_BALANCE_FIELD_NUMBER: _ClassVar[int]
    ENDING_BALANCE_FIELD_NUMBER: _ClassVar[int]
    CREDIT_BLOCK_FIELD_NUMBER: _ClassVar[int]
    INVOICE_FIELD_NUMBER: _ClassVar[int]
    LINE_ITEM_ID_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    id: str
    customer_id: str
    entry_type: CreditLedgerEntryType
    amount: str
    starting_balance: str
    ending_balance: str
    credit_block: CreditBlock
    invoice: _common_pb2.InvoiceRef
    line_item_id: str
    description: str
    created_at: _timestamp_pb2.Timestamp
    def __init__(self, id: _Optional[str] = ..., customer_id: _Optional[str] = ..., entry_type: _Optional[_Union[CreditLedgerEntryType, str]] = ..., amount: _Optional[str] = ..., starting_balance: _Optional[str] = ..., ending_balance: _Optional[str] = ..., credit_block: _Optional[_Union[CreditBlock, _Mapping]] = ..., invoice: _Optional[_Union[_common_pb2.InvoiceRef, _Mapping]] = ..., line_item_id: _Optional[str] = ..., description: _Optional[str] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...
