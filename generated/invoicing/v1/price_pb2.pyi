import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class PriceModelType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PRICE_MODEL_TYPE_UNSPECIFIED: _ClassVar[PriceModelType]
    PRICE_MODEL_TYPE_UNIT: _ClassVar[PriceModelType]
    PRICE_MODEL_TYPE_PACKAGE: _ClassVar[PriceModelType]
    PRICE_MODEL_TYPE_TIERED: _ClassVar[PriceModelType]
    PRICE_MODEL_TYPE_BULK: _ClassVar[PriceModelType]
    PRICE_MODEL_TYPE_MATRIX: _ClassVar[PriceModelType]

class PriceType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PRICE_TYPE_UNSPECIFIED: _ClassVar[PriceType]
    PRICE_TYPE_FIXED_PRICE: _ClassVar[PriceType]
    PRICE_TYPE_USAGE_PRICE: _ClassVar[PriceType]

class Cadence(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CADENCE_UNSPECIFIED: _ClassVar[Cadence]
    CADENCE_ONE_TIME: _ClassVar[Cadence]
    CADENCE_MONTHLY: _ClassVar[Cadence]
    CADENCE_QUARTERLY: _ClassVar[Cadence]
    CADENCE_SEMI_ANNUAL: _ClassVar[Cadence]
    CADENCE_ANNUAL: _ClassVar[Cadence]

class BillingMode(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    BILLING_MODE_UNSPECIFIED: _ClassVar[BillingMode]
    BILLING_MODE_IN_ADVANCE: _ClassVar[BillingMode]
    BILLING_MODE_IN_ARREAR: _ClassVar[BillingMode]

class Aggregation(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    AGGREGATION_UNSPECIFIED: _ClassVar[Aggregation]
    AGGREGATION_COUNT: _ClassVar[Aggregation]
    AGGREGATION_SUM: _ClassVar[Aggregation]
    AGGREGATION_MAX: _ClassVar[Aggregation]
    AGGREGATION_UNIQUE_COUNT: _ClassVar[Aggregation]

class DiscountType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DISCOUNT_TYPE_UNSPECIFIED: _ClassVar[DiscountType]
    DISCOUNT_TYPE_PERCENTAGE: _ClassVar[DiscountType]
    DISCOUNT_TYPE_AMOUNT: _ClassVar[DiscountType]
    DISCOUNT_TYPE_USAGE: _ClassVar[DiscountType]
PRICE_MODEL_TYPE_UNSPECIFIED: PriceModelType
PRICE_MODEL_TYPE_UNIT: PriceModelType
PRICE_MODEL_TYPE_PACKAGE: PriceModelType
PRICE_MODEL_TYPE_TIERED: PriceModelType
PRICE_MODEL_TYPE_BULK: PriceModelType
PRICE_MODEL_TYPE_MATRIX: PriceModelType
PRICE_TYPE_UNSPECIFIED: PriceType
PRICE_TYPE_FIXED_PRICE: PriceType
PRICE_TYPE_USAGE_PRICE: PriceType
CADENCE_UNSPECIFIED: Cadence
CADENCE_ONE_TIME: Cadence
CADENCE_MONTHLY: Cadence
CADENCE_QUARTERLY: Cadence
CADENCE_SEMI_ANNUAL: Cadence
CADENCE_ANNUAL: Cadence
BILLING_MODE_UNSPECIFIED: BillingMode
BILLING_MODE_IN_ADVANCE: BillingMode
BILLING_MODE_IN_ARREAR: BillingMode
AGGREGATION_UNSPECIFIED: Aggregation
AGGREGATION_COUNT: Aggregation
AGGREGATION_SUM: Aggregation
AGGREGATION_MAX: Aggregation
AGGREGATION_UNIQUE_COUNT: Aggregation
DISCOUNT_TYPE_UNSPECIFIED: DiscountType
DISCOUNT_TYPE_PERCENTAGE: DiscountType
DISCOUNT_TYPE_AMOUNT: DiscountType
DISCOUNT_TYPE_USAGE: DiscountType

class BillableMetric(_message.Message):
    __slots__ = ("event_name", "aggregation", "property")
    EVENT_NAME_FIELD_NUMBER: _ClassVar[int]
    AGGREGATION_FIELD_NUMBER: _ClassVar[int]
    PROPERTY_FIELD_NUMBER: _ClassVar[int]
    event_name: str
    aggregation: Aggregation
    property: str
    def __init__(self, event_name: _Optional[str] = ..., aggregation: _Optional[_Union[Aggregation, str]] = ..., property: _Optional[str] = ...) -> None: ...

class Discount(_message.Message):
    __slots__ = ("discount_type", "percentage_discount", "amount_discount", "usage_discount", "applies_to_price_ids", "reason")
    DISCOUNT_TYPE_FIELD_NUMBER: _ClassVar[int]
    PERCENTAGE_DISCOUNT_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_DISCOUNT_FIELD_NUMBER: _ClassVar[int]
    USAGE_DISCOUNT_FIELD_NUMBER: _ClassVar[int]
    APPLIES_TO_PRICE_IDS_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    discount_type: DiscountType
    percentage_discount: str
    amount_discount: str
    usage_discount: str
    applies_to_price_ids: _containers.RepeatedScalarFieldContainer[str]
    reason: str
    def __init__(self, discount_type: _Optional[_Union[DiscountType, str]] = ..., percentage_discount: _Optional[str] = ..., amount_discount: _Optional[str] = ..., usage_discount: _Optional[str] = ..., applies_to_price_ids: _Optional[_Iterable[str]] = ..., reason: _Optional[str] = ...) -> None: ...

class Minimum(_message.Message):
    __slots__ = ("minimum_amount", "applies_to_price_ids")
    MINIMUM_AMOUNT_FIELD_NUMBER: _ClassVar[int]
    APPLIES_TO_PRICE_IDS_FIELD_NUMBER: _ClassVar[int]
    minimum_amount: str
    applies_to_price_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, minimum_amount: _Optional[str] = ..., applies_to_price_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class Maximum(_message.Message):
    __slots__ = ("maximum_amount", "applies_to_price_ids")
    MAXIMUM_AMOUNT_FIELD_NUMBER: _ClassVar[int]
    APPLIES_TO_PRICE_IDS_FIELD_NUMBER: _ClassVar[int]
    maximum_amount: str
    applies_to_price_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, maximum_amount: _Optional[str] = ..., applies_to_price_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class UnitConfig(_message.Message):
    __slots__ = ("unit_amount",)
    UNIT_AMOUNT_FIELD_NUMBER: _ClassVar[int]
    unit_amount: str
    def __init__(self, unit_amount: _Optional[str] = ...) -> None: ...

class PackageConfig(_message.Message):
    __slots__ = ("package_amount", "package_size")
    PACKAGE_AMOUNT_FIELD_NUMBER: _ClassVar[int]
    PACKAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    package_amount: str
    package_size: int
    def __init__(self, package_amount: _Optional[str] = ..., package_size: _Optional[int] = ...) -> None: ...

class Tier(_message.Message):
    __slots__ = ("first_unit", "last_unit", "unit_amount")
    FIRST_UNIT_FIELD_NUMBER: _ClassVar[int]
    LAST_UNIT_FIELD_NUMBER: _ClassVar[int]
    UNIT_AMOUNT_FIELD_NUMBER: _ClassVar[int]
    first_unit: str
    last_unit: str
    unit_amount: str
    def __init__(self, first_unit: _Optional[str] = ..., last_unit: _Optional[str] = ..., unit_amount: _Optional[str] = ...) -> None: ...

class TieredConfig(_message.Message):
    __slots__ = ("tiers",)
    TIERS_FIELD_NUMBER: _ClassVar[int]
    tiers: _containers.RepeatedCompositeFieldContainer[Tier]
    def __init__(self, tiers: _Optional[_Iterable[_Union[Tier, _Mapping]]] = ...) -> None: ...

class BulkTier(_message.Message):
    __slots__ = ("maximum_units", "unit_amount")
    MAXIMUM_UNITS_FIELD_NUMBER: _ClassVar[int]
    UNIT_AMOUNT_FIELD_NUMBER: _ClassVar[int]
    maximum_units: str
    unit_amount: str
    def __init__(self, maximum_units: _Optional[str] = ..., unit_amount: _Optional[str] = ...) -> None: ...

class BulkConfig(_message.Message):
    __slots__ = ("tiers",)
    TIERS_FIELD_NUMBER: _ClassVar[int]
    tiers: _containers.RepeatedCompositeFieldContainer[BulkTier]
    def __init__(self, tiers: _Optional[_Iterable[_Union[BulkTier, _Mapping]]] = ...) -> None: ...

class MatrixValue(_message.Message):
    __slots__ = ("dimension_values", "unit_amount")
    DIMENSION_VALUES_FIELD_NUMBER: _ClassVar[int]
    UNIT_AMOUNT_FIELD_NUMBER: _ClassVar[int]
    dimension_values: _containers.RepeatedScalarFieldContainer[str]
    unit_amount: str
    def __init__(self, dimension_values: _Optional[_Iterable[str]] = ..., unit_amount: _Optional[str] = ...) -> None: ...

class MatrixConfig(_message.Message):
    __slots__ = ("dimensions", "matrix_values", "default_unit_amount")
    DIMENSIONS_FIELD_NUMBER: _ClassVar[int]
    MATRIX_VALUES_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_UNIT_AMOUNT_FIELD_NUMBER: _ClassVar[int]
    dimensions: _containers.RepeatedScalarFieldContainer[str]
    matrix_values: _containers.RepeatedCompositeFieldContainer[MatrixValue]
    default_unit_amount: str
    def __init__(self, dimensions: _Optional[_Iterable[str]] = ..., matrix_values: _Optional[_Iterable[_Union[MatrixValue, _Mapping]]] = ..., default_unit_amount: _Optional[str] = ...) -> None: ...

class Price(_message.Message):
    __slots__ = ("id", "name", "model_type", "price_type", "cadence", "billing_mode", "currency", "fixed_price_quantity", "billable_metric", "minimum_amount", "maximum_amount", "discounts", "unit_config", "package_config", "tiered_config", "bulk_config", "matrix_config", "created_at")
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    MODEL_TYPE_FIELD_NUMBER: _ClassVar[int]
    PRICE_TYPE_FIELD_NUMBER: _ClassVar[int]
    CADENCE_FIELD_NUMBER: _ClassVar[int]
    BILLING_MODE_FIELD_NUMBER: _ClassVar[int]
    CURRENCY_FIELD_NUMBER: _ClassVar[int]
    FIXED_PRICE_QUANTITY_FIELD_NUMBER: _ClassVar[int]
    BILLABLE_METRIC_FIELD_NUMBER: _ClassVar[int]
    MINIMUM_AMOUNT_FIELD_NUMBER: _ClassVar[int]
    MAXIMUM_AMOUNT_FIELD_NUMBER: _ClassVar[int]
    DISCOUNTS_FIELD_NUMBER: _ClassVar[int]
    UNIT_CONFIG_FIELD_NUMBER: _ClassVar[int]
    PACKAGE_CONFIG_FIELD_NUMBER: _ClassVar[int]
    TIERED_CONFIG_FIELD_NUMBER: _ClassVar[int]
    BULK_CONFIG_FIELD_NUMBER: _ClassVar[int]
    MATRIX_CONFIG_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    id: str
    name: str
    model_type: PriceModelType
    price_type: PriceType
    cadence: Cadence
    billing_mode: BillingMode
    currency: str
    fixed_price_quantity: str
    billable_metric: BillableMetric
    minimum_amount: str
    maximum_amount: str
    discounts: _containers.RepeatedCompositeFieldContainer[Discount]
    unit_config: UnitConfig
    package_config: PackageConfig
    tiered_config: TieredConfig
    bulk_config: BulkConfig
    matrix_config: MatrixConfig
    created_at: _timestamp_pb2.Timestamp
    def __init__(self, id: _Optional[str] = ..., name: _Optional[str] = ..., model_type: _Optional[_Union[PriceModelType, str]] = ..., price_type: _Optional[_Union[PriceType, str]] = ..., cadence: _Optional[_Union[Cadence, str]] = ..., billing_mode: _Optional[_Union[BillingMode, str]] = ..., currency: _Optional[str] = ..., fixed_price_quantity: _Optional[str] = ..., billable_metric: _Optional[_Union[BillableMetric, _Mapping]] = ..., minimum_amount: _Optional[str] = ..., maximum_amount: _Optional[str] = ..., discounts: _Optional[_Iterable[_Union[Discount, _Mapping]]] = ..., unit_config: _Optional[_Union[UnitConfig, _Mapping]] = ..., package_config: _Optional[_Union[PackageConfig, _Mapping]] = ..., tiered_config: _Optional[_Union[TieredConfig, _Mapping]] = ..., bulk_config: _Optional[_Union[BulkConfig, _Mapping]] = ..., matrix_config: _Optional[_Union[MatrixConfig, _Mapping]] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...
