import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.type import date_pb2 as _date_pb2
from invoicing.v1 import common_pb2 as _common_pb2
from invoicing.v1 import customer_pb2 as _customer_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class CreateCustomerRequest(_message.Message):
    __slots__ = ("name", "email", "external_customer_id", "currency", "timezone", "billing_address", "shipping_address", "tax_id", "auto_collection", "auto_issuance", "net_terms", "metadata", "request_id", "validate_only")
    class MetadataEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    NAME_FIELD_NUMBER: _ClassVar[int]
    EMAIL_FIELD_NUMBER: _ClassVar[int]
    EXTERNAL_CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    CURRENCY_FIELD_NUMBER: _ClassVar[int]
    TIMEZONE_FIELD_NUMBER: _ClassVar[int]
    BILLING_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    SHIPPING_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    TAX_ID_FIELD_NUMBER: _ClassVar[int]
    AUTO_COLLECTION_FIELD_NUMBER: _ClassVar[int]
    AUTO_ISSUANCE_FIELD_NUMBER: _ClassVar[int]
    NET_TERMS_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    VALIDATE_ONLY_FIELD_NUMBER: _ClassVar[int]
    name: str
    email: str
    external_customer_id: str
    currency: str
    timezone: str
    billing_address: _common_pb2.Address
    shipping_address: _common_pb2.Address
    tax_id: _common_pb2.CustomerTaxId
    auto_collection: bool
    auto_issuance: bool
    net_terms: int
    metadata: _containers.ScalarMap[str, str]
    request_id: str
    validate_only: bool
    def __init__(self, name: _Optional[str] = ..., email: _Optional[str] = ..., external_customer_id: _Optional[str] = ..., currency: _Optional[str] = ..., timezone: _Optional[str] = ..., billing_address: _Optional[_Union[_common_pb2.Address, _Mapping]] = ..., shipping_address: _Optional[_Union[_common_pb2.Address, _Mapping]] = ..., tax_id: _Optional[_Union[_common_pb2.CustomerTaxId, _Mapping]] = ..., auto_collection: _Optional[bool] = ..., auto_issuance: _Optional[bool] = ..., net_terms: _Optional[int] = ..., metadata: _Optional[_Mapping[str, str]] = ..., request_id: _Optional[str] = ..., validate_only: _Optional[bool] = ...) -> None: ...

class GetCustomerRequest(_message.Message):
    __slots__ = ("customer_id", "external_customer_id")
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    EXTERNAL_CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    customer_id: str
    external_customer_id: str
    def __init__(self, customer_id: _Optional[str] = ..., external_customer_id: _Optional[str] = ...) -> None: ...

class UpdateCustomerRequest(_message.Message):
    __slots__ = ("customer_id", "external_customer_id", "name", "email", "currency", "timezone", "billing_address", "shipping_address", "tax_id", "auto_collection", "auto_issuance", "net_terms", "metadata", "request_id", "validate_only")
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
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
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    VALIDATE_ONLY_FIELD_NUMBER: _ClassVar[int]
    customer_id: str
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
    metadata: _common_pb2.MetadataChange
    request_id: str
    validate_only: bool
    def __init__(self, customer_id: _Optional[str] = ..., external_customer_id: _Optional[str] = ..., name: _Optional[str] = ..., email: _Optional[str] = ..., currency: _Optional[str] = ..., timezone: _Optional[str] = ..., billing_address: _Optional[_Union[_common_pb2.Address, _Mapping]] = ..., shipping_address: _Optional[_Union[_common_pb2.Address, _Mapping]] = ..., tax_id: _Optional[_Union[_common_pb2.CustomerTaxId, _Mapping]] = ..., auto_collection: _Optional[bool] = ..., auto_issuance: _Optional[bool] = ..., net_terms: _Optional[int] = ..., metadata: _Optional[_Union[_common_pb2.MetadataChange, _Mapping]] = ..., request_id: _Optional[str] = ..., validate_only: _Optional[bool] = ...) -> None: ...

class ListCustomersRequest(_message.Message):
    __slots__ = ("created_at_gt", "created_at_gte", "created_at_lt", "created_at_lte", "limit", "resume_token")
    CREATED_AT_GT_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_GTE_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_LT_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_LTE_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    RESUME_TOKEN_FIELD_NUMBER: _ClassVar[int]
    created_at_gt: _timestamp_pb2.Timestamp
    created_at_gte: _timestamp_pb2.Timestamp
    created_at_lt: _timestamp_pb2.Timestamp
    created_at_lte: _timestamp_pb2.Timestamp
    limit: int
    resume_token: str
    def __init__(self, created_at_gt: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., created_at_gte: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., created_at_lt: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., created_at_lte: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., limit: _Optional[int] = ..., resume_token: _Optional[str] = ...) -> None: ...

class ListCustomersResponse(_message.Message):
    __slots__ = ("customers", "resume_token")
    CUSTOMERS_FIELD_NUMBER: _ClassVar[int]
    RESUME_TOKEN_FIELD_NUMBER: _ClassVar[int]
    customers: _containers.RepeatedCompositeFieldContainer[_customer_pb2.Customer]
    resume_token: str
    def __init__(self, customers: _Optional[_Iterable[_Union[_customer_pb2.Customer, _Mapping]]] = ..., resume_token: _Optional[str] = ...) -> None: ...

class CreateBalanceTransactionRequest(_message.Message):
    __slots__ = ("customer_id", "external_customer_id", "amount", "type", "description", "request_id", "validate_only")
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    EXTERNAL_CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    VALIDATE_ONLY_FIELD_NUMBER: _ClassVar[int]
    customer_id: str
    external_customer_id: str
    amount: str
    type: _customer_pb2.BalanceTransactionType
    description: str
    request_id: str
    validate_only: bool
    def __init__(self, customer_id: _Optional[str] = ..., external_customer_id: _Optional[str] = ..., amount: _Optional[str] = ..., type: _Optional[_Union[_customer_pb2.BalanceTransactionType, str]] = ..., description: _Optional[str] = ..., request_id: _Optional[str] = ..., validate_only: _Optional[bool] = ...) -> None: ...

class ListBalanceTransactionsRequest(_message.Message):
    __slots__ = ("customer_id", "external_customer_id", "created_at_gt", "created_at_gte", "created_at_lt", "created_at_lte", "limit", "resume_token")
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    EXTERNAL_CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_GT_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_GTE_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_LT_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_LTE_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    RESUME_TOKEN_FIELD_NUMBER: _ClassVar[int]
    customer_id: str
    external_customer_id: str
    created_at_gt: _timestamp_pb2.Timestamp
    created_at_gte: _timestamp_pb2.Timestamp
    created_at_lt: _timestamp_pb2.Timestamp
    created_at_lte: _timestamp_pb2.Timestamp
    limit: int
    resume_token: str
    def __init__(self, customer_id: _Optional[str] = ..., external_customer_id: _Optional[str] = ..., created_at_gt: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., created_at_gte: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., created_at_lt: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., created_at_lte: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., limit: _Optional[int] = ..., resume_token: _Optional[str] = ...) -> None: ...

class ListBalanceTransactionsResponse(_message.Message):
    __slots__ = ("balance_transactions", "resume_token")
    BALANCE_TRANSACTIONS_FIELD_NUMBER: _ClassVar[int]
    RESUME_TOKEN_FIELD_NUMBER: _ClassVar[int]
    balance_transactions: _containers.RepeatedCompositeFieldContainer[_customer_pb2.BalanceTransaction]
    resume_token: str
    def __init__(self, balance_transactions: _Optional[_Iterable[_Union[_customer_pb2.BalanceTransaction, _Mapping]]] = ..., resume_token: _Optional[str] = ...) -> None: ...

class GrantCreditsRequest(_message.Message):
    __slots__ = ("customer_id", "external_customer_id", "amount", "currency", "effective_date", "expiry_date", "per_unit_cost_basis", "description", "request_id", "validate_only")
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    EXTERNAL_CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    CURRENCY_FIELD_NUMBER: _ClassVar[int]
    EFFECTIVE_DATE_FIELD_NUMBER: _ClassVar[int]
    EXPIRY_DATE_FIELD_NUMBER: _ClassVar[int]
    PER_UNIT_COST_BASIS_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    VALIDATE_ONLY_FIELD_NUMBER: _ClassVar[int]
    customer_id: str
    external_customer_id: str
    amount: str
    currency: str
    effective_date: _date_pb2.Date
    expiry_date: _date_pb2.Date
    per_unit_cost_basis: str
    description: str
    request_id: str
    validate_only: bool
    def __init__(self, customer_id: _Optional[str] = ..., external_customer_id: _Optional[str] = ..., amount: _Optional[str] = ..., currency: _Optional[str] = ..., effective_date: _Optional[_Union[_date_pb2.Date, _Mapping]] = ..., expiry_date: _Optional[_Union[_date_pb2.Date, _Mapping]] = ..., per_unit_cost_basis: _Optional[str] = ..., description: _Optional[str] = ..., request_id: _Optional[str] = ..., validate_only: _Optional[bool] = ...) -> None: ...

class ListCreditBlocksRequest(_message.Message):
    __slots__ = ("customer_id", "external_customer_id", "limit", "resume_token")
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    EXTERNAL_CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    RESUME_TOKEN_FIELD_NUMBER: _ClassVar[int]
    customer_id: str
    external_customer_id: str
    limit: int
    resume_token: str
    def __init__(self, customer_id: _Optional[str] = ..., external_customer_id: _Optional[str] = ..., limit: _Optional[int] = ..., resume_token: _Optional[str] = ...) -> None: ...

class ListCreditBlocksResponse(_message.Message):
    __slots__ = ("credit_blocks", "resume_token")
    CREDIT_BLOCKS_FIELD_NUMBER: _ClassVar[int]
    RESUME_TOKEN_FIELD_NUMBER: _ClassVar[int]
    credit_blocks: _containers.RepeatedCompositeFieldContainer[_customer_pb2.CreditBlock]
    resume_token: str
    def __init__(self, credit_blocks: _Optional[_Iterable[_Union[_customer_pb2.CreditBlock, _Mapping]]] = ..., resume_token: _Optional[str] = ...) -> None: ...

class ListCreditLedgerRequest(_message.Message):
    __slots__ = ("customer_id", "external_customer_id", "limit", "resume_token")
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    EXTERNAL_CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    RESUME_TOKEN_FIELD_NUMBER: _ClassVar[int]
    customer_id: str
    external_customer_id: str
    limit: int
    resume_token: str
    def __init__(self, customer_id: _Optional[str] = ..., external_customer_id: _Optional[str] = ..., limit: _Optional[int] = ..., resume_token: _Optional[str] = ...) -> None: ...

class ListCreditLedgerResponse(_message.Message):
    __slots__ = ("entries", "resume_token")
    ENTRIES_FIELD_NUMBER: _ClassVar[int]
    RESUME_TOKEN_FIELD_NUMBER: _ClassVar[int]
    entries: _containers.RepeatedCompositeFieldContainer[_customer_pb2.CreditLedgerEntry]
    resume_token: str
    def __init__(self, entries: _Optional[_Iterable[_Union[_customer_pb2.CreditLedgerEntry, _Mapping]]] = ..., resume_token: _Optional[str] = ...) -> None: ...
