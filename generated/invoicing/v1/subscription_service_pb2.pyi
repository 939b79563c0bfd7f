import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.type import date_pb2 as _date_pb2
from invoicing.v1 import common_pb2 as _common_pb2
from invoicing.v1 import plan_service_pb2 as _plan_service_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class SubscriptionStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SUBSCRIPTION_STATUS_UNSPECIFIED: _ClassVar[SubscriptionStatus]
    SUBSCRIPTION_STATUS_UPCOMING: _ClassVar[SubscriptionStatus]
    SUBSCRIPTION_STATUS_ACTIVE: _ClassVar[SubscriptionStatus]
    SUBSCRIPTION_STATUS_ENDED: _ClassVar[SubscriptionStatus]

class CancelOption(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CANCEL_OPTION_UNSPECIFIED: _ClassVar[CancelOption]
    CANCEL_OPTION_END_OF_SUBSCRIPTION_TERM: _ClassVar[CancelOption]
    CANCEL_OPTION_REQUESTED_DATE: _ClassVar[CancelOption]
    CANCEL_OPTION_IMMEDIATE: _ClassVar[CancelOption]

class ChangeOption(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CHANGE_OPTION_UNSPECIFIED: _ClassVar[ChangeOption]
    CHANGE_OPTION_IMMEDIATE: _ClassVar[ChangeOption]
    CHANGE_OPTION_END_OF_SUBSCRIPTION_TERM: _ClassVar[ChangeOption]
    CHANGE_OPTION_REQUESTED_DATE: _ClassVar[ChangeOption]

class SubscriptionChangeType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SUBSCRIPTION_CHANGE_TYPE_UNSPECIFIED: _ClassVar[SubscriptionChangeType]
    SUBSCRIPTION_CHANGE_TYPE_PLAN: _ClassVar[SubscriptionChangeType]
    SUBSCRIPTION_CHANGE_TYPE_QUANTITY: _ClassVar[SubscriptionChangeType]

class SubscriptionChangeStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SUBSCRIPTION_CHANGE_STATUS_UNSPECIFIED: _ClassVar[SubscriptionChangeStatus]
    SUBSCRIPTION_CHANGE_STATUS_SCHEDULED: _ClassVar[SubscriptionChangeStatus]
    SUBSCRIPTION_CHANGE_STATUS_APPLIED: _ClassVar[SubscriptionChangeStatus]
    SUBSCRIPTION_CHANGE_STATUS_SUPERSEDED: _ClassVar[SubscriptionChangeStatus]
SUBSCRIPTION_STATUS_UNSPECIFIED: SubscriptionStatus
SUBSCRIPTION_STATUS_UPCOMING: SubscriptionStatus
SUBSCRIPTION_STATUS_ACTIVE: SubscriptionStatus
SUBSCRIPTION_STATUS_ENDED: SubscriptionStatus
CANCEL_OPTION_UNSPECIFIED: CancelOption
CANCEL_OPTION_END_OF_SUBSCRIPTION_TERM: CancelOption
CANCEL_OPTION_REQUESTED_DATE: CancelOption
CANCEL_OPTION_IMMEDIATE: CancelOption
CHANGE_OPTION_UNSPECIFIED: ChangeOption
CHANGE_OPTION_IMMEDIATE: ChangeOption
CHANGE_OPTION_END_OF_SUBSCRIPTION_TERM: ChangeOption
CHANGE_OPTION_REQUESTED_DATE: ChangeOption
SUBSCRIPTION_CHANGE_TYPE_UNSPECIFIED: SubscriptionChangeType
SUBSCRIPTION_CHANGE_TYPE_PLAN: SubscriptionChangeType
SUBSCRIPTION_CHANGE_TYPE_QUANTITY: SubscriptionChangeType
SUBSCRIPTION_CHANGE_STATUS_UNSPECIFIED: SubscriptionChangeStatus
SUBSCRIPTION_CHANGE_STATUS_SCHEDULED: SubscriptionChangeStatus
SUBSCRIPTION_CHANGE_STATUS_APPLIED: SubscriptionChangeStatus
SUBSCRIPTION_CHANGE_STATUS_SUPERSEDED: SubscriptionChangeStatus

class Subscription(_message.Message):
    __slots__ = ("id", "customer", "plan", "start_date", "end_date", "status", "align_billing_with_subscription_start_date", "net_terms", "auto_issuance", "current_billing_period_start_date", "current_billing_period_end_date", "metadata", "created_at", "ended_at", "phases", "invoicing_threshold")
    class MetadataEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    ID_FIELD_NUMBER: _ClassVar[int]
    CUSTOMER_FIELD_NUMBER: _ClassVar[int]
    PLAN_FIELD_NUMBER: _ClassVar[int]
    START_DATE_FIELD_NUMBER: _ClassVar[int]
    END_DATE_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    ALIGN_BILLING_WITH_SUBSCRIPTION_START_DATE_FIELD_NUMBER: _ClassVar[int]
    NET_TERMS_FIELD_NUMBER: _ClassVar[int]
    AUTO_ISSUANCE_FIELD_NUMBER: _ClassVar[int]
    CURRENT_BILLING_PERIOD_START_DATE_FIELD_NUMBER: _ClassVar[int]
    CURRENT_BILLING_PERIOD_END_DATE_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    ENDED_AT_FIELD_NUMBER: _ClassVar[int]
    PHASES_FIELD_NUMBER: _ClassVar[int]
    INVOICING_THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    id: str
    customer: _common_pb2.CustomerRef
    plan: _plan_service_pb2.Plan
    start_date: _date_pb2.Date
    end_date: _date_pb2.Date
    status: SubscriptionStatus
    align_billing_with_subscription_start_date: bool
    net_terms: int
    auto_issuance: bool
    current_billing_period_start_date: _date_pb2.Date
    current_billing_period_end_date: _date_pb2.Date
    metadata: _containers.ScalarMap[str, str]
    created_at: _timestamp_pb2.Timestamp
    ended_at: _timestamp_pb2.Timestamp
    phases: _containers.RepeatedCompositeFieldContainer[SubscriptionPhase]
    invoicing_threshold: str
    def __init__(self, id: _Optional[str] = ..., customer: _Optional[_Union[_common_pb2.CustomerRef, _Mapping]] = ..., plan: _Optional[_Union[_plan_service_pb2.Plan, _Mapping]] = ..., start_date: _Optional[_Union[_date_pb2.Date, _Mapping]] = ..., end_date: _Optional[_Union[_date_pb2.Date, _Mapping]] = ..., status: _Optional[_Union[SubscriptionStatus, str]] = ..., align_billing_with_subscription_start_date: _Optional[bool] = ..., net_terms: _Optional[int] = ..., auto_issuance: _Optional[bool] = ..., current_billing_period_start_date: _Optional[_Union[_date_pb2.Date, _Mapping]] = ..., current_billing_period_end_date: _Optional[_Union[_date_pb2.Date, _Mapping]] = ..., metadata: _Optional[_Mapping[str, str]] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., ended_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., phases: _Optional[_Iterable[_Union[SubscriptionPhase, _Mapping]]] = ..., invoicing_threshold: _Optional[str] = ...) -> None: ...

class SubscriptionPhase(_message.Message):
    __slots__ = ("start_date", "end_date", "plan_id", "plan_name", "fixed_fee_quantities")
    class FixedFeeQuantitiesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    START_DATE_FIELD_NUMBER: _ClassVar[int]
    END_DATE_FIELD_NUMBER: _ClassVar[int]
    PLAN_ID_FIELD_NUMBER: _ClassVar[int]
    PLAN_NAME_FIELD_NUMBER: _ClassVar[int]
    FIXED_FEE_QUANTITIES_FIELD_NUMBER: _ClassVar[int]
    start_date: _date_pb2.Date
    end_date: _date_pb2.Date
    plan_id: str
    plan_name: str
    fixed_fee_quantities: _containers.ScalarMap[str, str]
    def __init__(self, start_date: _Optional[_Union[_date_pb2.Date, _Mapping]] = ..., end_date: _Optional[_Union[_date_pb2.Date, _Mapping]] = ..., plan_id: _Optional[str] = ..., plan_name: _Optional[str] = ..., fixed_fee_quantities: _Optional[_Mapping[str, str]] = ...) -> None: ...

class SubscriptionChange(_message.Message):
    __slots__ = ("id", "subscription_id", "type", "change_option", "effective_date", "plan_id", "previous_plan_id", "price_id", "quantity", "previous_quantity", "status", "superseded_by_change_id", "superseded_at", "created_at")
    ID_FIELD_NUMBER: _ClassVar[int]
    SUBSCRIPTION_ID_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    CHANGE_OPTION_FIELD_NUMBER: _ClassVar[int]
    EFFECTIVE_DATE_FIELD_NUMBER: _ClassVar[int]
    PLAN_ID_FIELD_NUMBER: _ClassVar[int]
    PREVIOUS_PLAN_ID_FIELD_NUMBER: _ClassVar[int]
    PRICE_ID_FIELD_NUMBER: _ClassVar[int]
    QUANTITY_FIELD_NUMBER: _ClassVar[int]
    PREVIOUS_QUANTITY_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    SUPERSEDED_BY_CHANGE_ID_FIELD_NUMBER: _ClassVar[int]
    SUPERSEDED_AT_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    id: str
    subscription_id: str
    type: SubscriptionChangeType
    change_option: ChangeOption
    effective_date: _date_pb2.Date
    plan_id: str
    previous_plan_id: str
    price_id: str
    quantity: str
    previous_quantity: str
    status: SubscriptionChangeStatus
    superseded_by_change_id: str
    superseded_at: _timestamp_pb2.Timestamp
    created_at: _timestamp_pb2.Timestamp
    def __init__(self, id: _Optional[str] = ..., subscription_id: _Optional[str] = ..., type: _Optional[_Union[SubscriptionChangeType, str]] = ..., change_option: _Optional[_Union[ChangeOption, str]] = ..., effective_date: _Optional[_Union[_date_pb2.Date, _Mapping]] = ..., plan_id: _Optional[str] = ..., previous_plan_id: _Optional[str] = ..., price_id: _Optional[str] = ..., quantity: _Optional[str] = ..., previous_quantity: _Optional[str] = ..., status: _Optional[_Union[SubscriptionChangeStatus, str]] = ..., superseded_by_change_id: _Optional[str] = ..., superseded_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class CreateSubscriptionRequest(_message.Message):
    __slots__ = ("customer_id", "external_customer_id", "plan_id", "external_plan_id", "start_date", "align_billing_with_subscription_start_date", "net_terms", "auto_issuance", "metadata", "request_id", "invoicing_threshold", "validate_only")
    class MetadataEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    EXTERNAL_CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    PLAN_ID_FIELD_NUMBER: _ClassVar[int]
    EXTERNAL_PLAN_ID_FIELD_NUMBER: _ClassVar[int]
    START_DATE_FIELD_NUMBER: _ClassVar[int]
    ALIGN_BILLING_WITH_SUBSCRIPTION_START_DATE_FIELD_NUMBER: _ClassVar[int]
    NET_TERMS_FIELD_NUMBER: _ClassVar[int]
    AUTO_ISSUANCE_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    INVOICING_THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    VALIDATE_ONLY_FIELD_NUMBER: _ClassVar[int]
    customer_id: str
    external_customer_id: str
    plan_id: str
    external_plan_id: str
    start_date: _date_pb2.Date
    align_billing_with_subscription_start_date: bool
    net_terms: int
    auto_issuance: bool
    metadata: _containers.ScalarMap[str, str]
    request_id: str
    invoicing_threshold: str
    validate_only: bool
    def __init__(self, customer_id: _Optional[str] = ..., external_customer_id: _Optional[str] = ..., plan_id: _Optional[str] = ..., external_plan_id: _Optional[str] = ..., start_date: _Optional[_Union[_date_pb2.Date, _Mapping]] = ..., align_billing_with_subscription_start_date: _Optional[bool] = ..., net_terms: _Optional[int] = ..., auto_issuance: _Optional[bool] = ..., metadata: _Optional[_Mapping[str, str]] = ..., request_id: _Optional[str] = ..., invoicing_threshold: _Optional[str] = ..., validate_only: _Optional[bool] = ...) -> None: ...

class GetSubscriptionRequest(_message.Message):
    __slots__ = ("subscription_id",)
    SUBSCRIPTION_ID_FIELD_NUMBER: _ClassVar[int]
    subscription_id: str
    def __init__(self, subscription_id: _Optional[str] = ...) -> None: ...

class ListSubscriptionsRequest(_message.Message):
    __slots__ = ("customer_id", "external_customer_id", "status", "limit", "resume_token")
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    EXTERNAL_CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    RESUME_TOKEN_FIELD_NUMBER: _ClassVar[int]
    customer_id: str
    external_customer_id: str
    status: _containers.RepeatedScalarFieldContainer[SubscriptionStatus]
    limit: int
    resume_token: str
    def __init__(self, customer_id: _Optional[str] = ..., external_customer_id: _Optional[str] = ..., status: _Optional[_Iterable[_Union[SubscriptionStatus, str]]] = ..., limit: _Optional[int] = ..., resume_token: _Optional[str] = ...) -> None: ...

class ListSubscriptionsResponse(_message.Message):
    __slots__ = ("subscriptions", "resume_token")
    SUBSCRIPTIONS_FIELD_NUMBER: _ClassVar[int]
    RESUME_TOKEN_FIELD_NUMBER: _ClassVar[int]
    subscriptions: _containers.RepeatedCompositeFieldContainer[Subscription]
    resume_token: str
    def __init__(self, subscriptions: _Optional[_Iterable[_Union[Subscription, _Mapping]]] = ..., resume_token: _Optional[str] = ...) -> None: ...

class CancelSubscriptionRequest(_message.Message):
    __slots__ = ("subscription_id", "cancel_option", "cancellation_date", "request_id", "validate_only")
    SUBSCRIPTION_ID_FIELD_NUMBER: _ClassVar[int]
    CANCEL_OPTION_FIELD_NUMBER: _ClassVar[int]
    CANCELLATION_DATE_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    VALIDATE_ONLY_FIELD_NUMBER: _ClassVar[int]
    subscription_id: str
    cancel_option: CancelOption
    cancellation_date: _date_pb2.Date
    request_id: str
    validate_only: bool
    def __init__(self, subscription_id: _Optional[str] = ..., cancel_option: _Optional[_Union[CancelOption, str]] = ..., cancellation_date: _Optional[_Union[_date_pb2.Date, _Mapping]] = ..., request_id: _Optional[str] = ..., validate_only: _Optional[bool] = ...) -> None: ...

class ChangeSubscriptionPlanRequest(_message.Message):
    __slots__ = ("subscription_id", "plan_id", "external_plan_id", "change_option", "change_date", "request_id", "validate_only")
    SUBSCRIPTION_ID_FIELD_NUMBER: _ClassVar[int]
    PLAN_ID_FIELD_NUMBER: _ClassVar[int]
    EXTERNAL_PLAN_ID_FIELD_NUMBER: _ClassVar[int]
    CHANGE_OPTION_FIELD_NUMBER: _ClassVar[int]
    CHANGE_DATE_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    VALIDATE_ONLY_FIELD_NUMBER: _ClassVar[int]
    subscription_id: str
    plan_id: str
    external_plan_id: str
    change_option: ChangeOption
    change_date: _date_pb2.Date
    request_id: str
    validate_only: bool
    def __init__(self, subscription_id: _Optional[str] = ..., plan_id: _Optional[str] = ..., external_plan_id: _Optional[str] = ..., change_option: _Optional[_Union[ChangeOption, str]] = ..., change_date: _Optional[_Union[_date_pb2.Date, _Mapping]] = ..., request_id: _Optional[str] = ..., validate_only: _Optional[bool] = ...) -> None: ...

class UpdateFixedFeeQuantityRequest(_message.Message):
    __slots__ = ("subscription_id", "price_id", "quantity", "change_option", "change_date", "request_id", "validate_only")
    SUBSCRIPTION_ID_FIELD_NUMBER: _ClassVar[int]
    PRICE_ID_FIELD_NUMBER: _ClassVar[int]
    QUANTITY_FIELD_NUMBER: _ClassVar[int]
    CHANGE_OPTION_FIELD_NUMBER: _ClassVar[int]
    CHANGE_DATE_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    VALIDATE_ONLY_FIELD_NUMBER: _ClassVar[int]
    subscription_id: str
    price_id: str
    quantity: str
    change_option: ChangeOption
    change_date: _date_pb2.Date
    request_id: str
    validate_only: bool
    def __init__(self, subscription_id: _Optional[str] = ..., price_id: _Optional[str] = ..., quantity: _Optional[str] = ..., change_option: _Optional[_Union[ChangeOption, str]] = ..., change_date: _Optional[_Union[_date_pb2.Date, _Mapping]] = ..., request_id: _Optional[str] = ..., validate_only: _Optional[bool] = ...) -> None: ...

class SubscriptionChangeResponse(_message.Message):
    __slots__ = ("subscription", "change")
    SUBSCRIPTION_FIELD_NUMBER: _ClassVar[int]
    CHANGE_FIELD_NUMBER: _ClassVar[int]
    subscription: Subscription
    change: SubscriptionChange
    def __init__(self, subscription: _Optional[_Union[Subscription, _Mapping]] = ..., change: _Optional[_Union[SubscriptionChange, _Mapping]] = ...) -> None: ...

class ListSubscriptionChangesRequest(_message.Message):
    __slots__ = ("subscription_id", "limit", "resume_token")
    SUBSCRIPTION_ID_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    RESUME_TOKEN_FIELD_NUMBER: _ClassVar[int]
    subscription_id: str
    limit: int
    resume_token: str
    def __init__(self, subscription_id: _Optional[str] = ..., limit: _Optional[int] = ..., resume_token: _Optional[str] = ...) -> None: ...

class ListSubscriptionChangesResponse(_message.Message):
    __slots__ = ("changes", "resume_token")
    CHANGES_FIELD_NUMBER: _ClassVar[int]
    RESUME_TOKEN_FIELD_NUMBER: _ClassVar[int]
    changes: _containers.RepeatedCompositeFieldContainer[SubscriptionChange]
    resume_token: str
    def __init__(self, changes: _Optional[_Iterable[_Union[SubscriptionChange, _Mapping]]] = ..., resume_token: _Optional[str] = ...) -> None: ...

class UpdateSubscriptionRequest(_message.Message):
    __slots__ = ("subscription_id", "invoicing_threshold", "metadata", "request_id", "validate_only")
    SUBSCRIPTION_ID_FIELD_NUMBER: _ClassVar[int]
    INVOICING_THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    VALIDATE_ONLY_FIELD_NUMBER: _ClassVar[int]
    subscription_id: str
    invoicing_threshold: str
    metadata: _common_pb2.MetadataChange
    request_id: str
    validate_only: bool
    def __init__(self, subscription_id: _Optional[str] = ..., invoicing_threshold: _Optional[str] = ..., metadata: _Optional[_Union[_common_pb2.MetadataChange, _Mapping]] = ..., request_id: _Optional[str] = ..., validate_only: _Optional[bool] = ...) -> None: ...
