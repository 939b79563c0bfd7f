"""SubscriptionService: subscriptions and their current billing period."""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import grpc
from invoicing.v1 import common_pb2, subscription_service_pb2, subscription_service_pb2_grpc

from server.api import converters as conv
from server.api.requests import check_fields, field_violations
from server.api.servicer import Servicer
from server.api.streaming import BY_CREATED, Lister, listed
from server.context import account_id
from server.domain import money
from server.domain.billing import CancelAt, SubscriptionStatus
from server.domain.changes import ChangeRecord, ChangeStatus, PlanChange, QuantityChange, check_change_date
from server.domain.errors import Violations
from server.domain.pricing import Cadence, PriceType
from server.domain.subscriptions import (
    NewSubscription,
    SubscriptionRecord,
    SubscriptionUpdate,
    check_cancellation_date,
    check_start_date,
    subscription_from,
)
from server.domain.timeline import ChangeKind, Timeline
from server.domain.validation import (
    check_id,
    check_metadata,
    check_metadata_patch,
    check_net_terms,
    check_request_id,
    today_in,
)
from server.usecases.subscriptions import (
    ChangeOutcome,
    Subscriptions,
    get_subscription,
    list_changes,
    list_subscriptions,
)
from server.usecases.unit import Transactions

_CANCEL_AT = {
    subscription_service_pb2.CANCEL_OPTION_END_OF_SUBSCRIPTION_TERM: CancelAt.END_OF_TERM,
    subscription_service_pb2.CANCEL_OPTION_REQUESTED_DATE: CancelAt.REQUESTED_DATE,
    subscription_service_pb2.CANCEL_OPTION_IMMEDIATE: CancelAt.IMMEDIATE,
}

_STATUS_NUMBERS = {
    SubscriptionStatus.UPCOMING: subscription_service_pb2.SUBSCRIPTION_STATUS_UPCOMING,
    SubscriptionStatus.ACTIVE: subscription_service_pb2.SUBSCRIPTION_STATUS_ACTIVE,
    SubscriptionStatus.ENDED: subscription_service_pb2.SUBSCRIPTION_STATUS_ENDED,
}
_STATUSES = {number: status for status, number in _STATUS_NUMBERS.items()}

_CHANGE_AT = {
    subscription_service_pb2.CHANGE_OPTION_IMMEDIATE: CancelAt.IMMEDIATE,
    subscription_service_pb2.CHANGE_OPTION_END_OF_SUBSCRIPTION_TERM: CancelAt.END_OF_TERM,
    subscription_service_pb2.CHANGE_OPTION_REQUESTED_DATE: CancelAt.REQUESTED_DATE,
}
_CHANGE_OPTION_NUMBERS = {option: number for number, option in _CHANGE_AT.items()}


@dataclass(frozen=True)
class _Timing:
    """How a request says when it takes effect: an option, and a date that the REQUESTED_DATE option needs."""

    option_field: str
    date_field: str
    options: Mapping[Any, CancelAt]  # by the option enum's numbers
    check_date: Callable[[dt.date, dt.date, Violations], None]  # (requested, today, violations)


_CANCEL_TIMING = _Timing("cancel_option", "cancellation_date", _CANCEL_AT, check_cancellation_date)
_CHANGE_TIMING = _Timing("change_option", "change_date", _CHANGE_AT, check_change_date)
_CHANGE_TYPES = {
    ChangeKind.PLAN: subscription_service_pb2.SUBSCRIPTION_CHANGE_TYPE_PLAN,
    ChangeKind.QUANTITY: subscription_service_pb2.SUBSCRIPTION_CHANGE_TYPE_QUANTITY,
}
_CHANGE_STATUSES = {
    ChangeStatus.SCHEDULED: subscription_service_pb2.SUBSCRIPTION_CHANGE_STATUS_SCHEDULED,
    ChangeStatus.APPLIED: subscription_service_pb2.SUBSCRIPTION_CHANGE_STATUS_APPLIED,
    ChangeStatus.SUPERSEDED: subscription_service_pb2.SUBSCRIPTION_CHANGE_STATUS_SUPERSEDED,
}


def _phases_pb(timeline: Timeline) -> list[subscription_service_pb2.SubscriptionPhase]:
    return [
        subscription_service_pb2.SubscriptionPhase(
            start_date=conv.date_pb(phase.start),
            end_date=conv.date_pb(timeline.end_of(index)),
            plan_id=phase.plan_id,
            plan_name=timeline.plans[phase.plan_id].name,
            fixed_fee_quantities={
                price.id: money.to_wire(price.fixed_quantity)
                for price in phase.prices
                if price.price_type is PriceType.FIXED and price.cadence is not Cadence.ONE_TIME
            },
        )
        for index, phase in enumerate(timeline.phases)
    ]


def change_pb(change: ChangeRecord, today: dt.date) -> subscription_service_pb2.SubscriptionChange:
    """A SubscriptionChange message, with its status on the customer's `today`."""
    return subscription_service_pb2.SubscriptionChange(
        id=change.id,
        subscription_id=change.subscription_id,
        type=_CHANGE_TYPES[change.kind],
        change_option=_CHANGE_OPTION_NUMBERS[change.option],
        effective_date=conv.date_pb(change.effective_date),
        plan_id=change.plan.id,
        previous_plan_id=change.previous_plan_id,
        price_id=change.price_id,
        quantity="" if change.quantity is None else money.to_wire(change.quantity),
        previous_quantity="" if change.previous_quantity is None else money.to_wire(change.previous_quantity),
        status=_CHANGE_STATUSES[change.status(today)],
        superseded_by_change_id=change.superseded_by,
        superseded_at=conv.timestamp(change.superseded_at),
        created_at=conv.timestamp(change.created_at),
    )


def subscription_pb(record: SubscriptionRecord, now: dt.datetime) -> subscription_service_pb2.Subscription:
    """A Subscription message, with its status, current period and plan at `now`."""
    status, period = subscription_from(record, "").term.status(now)
    timeline = record.timeline
    return subscription_service_pb2.Subscription(
        id=record.id,
        customer=common_pb2.CustomerRef(id=record.customer_id, external_customer_id=record.external_customer_id),
        plan=conv.plan_pb(timeline.plan_on(today_in(record.timezone, now))),
        start_date=conv.date_pb(record.start_date),
        end_date=conv.date_pb(record.end_date),
        status=_STATUS_NUMBERS[status],
        align_billing_with_subscription_start_date=record.align_to_start,
        net_terms=record.net_terms,
        auto_issuance=record.auto_issuance,
        current_billing_period_start_date=conv.date_pb(period.start) if period else None,
        current_billing_period_end_date=conv.date_pb(period.end) if period else None,
        metadata=record.metadata,
        created_at=conv.timestamp(record.created_at),
        ended_at=conv.timestamp(record.ended_at),
        phases=_phases_pb(timeline),
        invoicing_threshold="" if record.invoicing_threshold is None else money.to_wire(record.invoicing_threshold),
    )


class SubscriptionServicer(Servicer, subscription_service_pb2_grpc.SubscriptionServiceServicer):
    """Implements SubscriptionService."""

    def __init__(self, transactions: Transactions, subscriptions: Subscriptions, lists: Lister) -> None:
        super().__init__(transactions)
        self._subscriptions = subscriptions
        self._lists = lists

    def _subscription_pb(self, record: SubscriptionRecord) -> subscription_service_pb2.Subscription:
        return subscription_pb(record, self._tx.clock())

    async def CreateSubscription(
        self, request: subscription_service_pb2.CreateSubscriptionRequest, context: grpc.aio.ServicerContext
    ) -> subscription_service_pb2.Subscription:
        v = Violations()
        customer = conv.customer_ref(request, v)
        plan = conv.plan_ref(request, v)
        check_request_id(request.request_id, v)
        start = conv.date_from(request.start_date, "start_date", v, required=True)
        if start is not None:
            check_start_date(start, self._tx.clock().date(), v)
        if request.HasField("net_terms"):
            check_net_terms(request.net_terms, "net_terms", v)
        check_metadata(dict(request.metadata), "metadata", v)
        threshold = None
        if request.invoicing_threshold:
            threshold = money.parse_decimal(request.invoicing_threshold, "invoicing_threshold", v, allow_zero=False)
        v.raise_if_any()
        assert start is not None
        new = NewSubscription(
            customer=customer,
            plan=plan,
            start_date=start,
            align_to_start=request.align_billing_with_subscription_start_date,
            net_terms=request.net_terms if request.HasField("net_terms") else None,
            auto_issuance=request.auto_issuance if request.HasField("auto_issuance") else None,
            metadata=dict(request.metadata),
            invoicing_threshold=threshold,
        )
        return await self._mutation(
            request,
            subscription_service_pb2.Subscription,
            lambda tx: self._subscriptions.create(tx, new),
            self._subscription_pb,
        )

    async def GetSubscription(
        self, request: subscription_service_pb2.GetSubscriptionRequest, context: grpc.aio.ServicerContext
    ) -> subscription_service_pb2.Subscription:
        check_fields(request, "subscription_id")
        record = await get_subscription(self._db, account_id(), request.subscription_id)
        return subscription_pb(record, self._tx.clock())

    def ListSubscriptions(
        self, request: subscription_service_pb2.ListSubscriptionsRequest, context: grpc.aio.ServicerContext
    ) -> AsyncGenerator[subscription_service_pb2.ListSubscriptionsResponse, None]:
        v = field_violations(request, "limit")
        check_id(request.customer_id, "customer_id", v, required=False)
        check_id(request.external_customer_id, "external_customer_id", v, required=False)
        wanted = []
        for index, number in enumerate(request.status):
            if number not in _STATUSES:
                v.add(f"status[{index}]", f"is not a subscription status: {number}")
            else:
                wanted.append(_STATUSES[number])
        v.raise_if_any()
        now = self._tx.clock()
        customer_id, external_customer_id = request.customer_id or None, request.external_customer_id or None
        return self._lists.serve(
            request,
            BY_CREATED,
            lambda account, page: list_subscriptions(
                self._db, account, customer_id, external_customer_id, wanted, now, page
            ),
            build=lambda record: subscription_pb(record, now),
            respond=listed(subscription_service_pb2.ListSubscriptionsResponse),
        )

    async def CancelSubscription(
        self, request: subscription_service_pb2.CancelSubscriptionRequest, context: grpc.aio.ServicerContext
    ) -> subscription_service_pb2.Subscription:
        v = field_violations(request, "subscription_id", "request_id")
        when, requested = self._timing(request, _CANCEL_TIMING, v)
        v.raise_if_any()
        return await self._mutation(
            request,
            subscription_service_pb2.Subscription,
            lambda tx: self._subscriptions.cancel(tx, request.subscription_id, when, requested),
            self._subscription_pb,
        )

    def _timing(self, request: Any, timing: _Timing, v: Violations) -> tuple[CancelAt, dt.date | None]:
        """When a cancellation or change request takes effect: its option and its requested date (each recorded
        in v when wrong; the option is then IMMEDIATE, for the caller to raise)."""
        option = getattr(request, timing.option_field)
        requested = conv.optional_date(request, timing.date_field, v)
        if timing.options.get(option) is CancelAt.REQUESTED_DATE and requested is None:
            v.add(timing.date_field, f"is required with {timing.option_field.upper()}_REQUESTED_DATE")
        if requested is not None:
            timing.check_date(requested, self._tx.clock().date(), v)
        if option not in timing.options:
            enum = request.DESCRIPTOR.fields_by_name[timing.option_field].enum_type
            prefix = f"{timing.option_field.upper()}_"
            names = [enum.values_by_number[number].name.removeprefix(prefix) for number in timing.options]
            v.add(timing.option_field, f"must be {', '.join(names[:-1])} or {names[-1]}")
            return CancelAt.IMMEDIATE, requested
        return timing.options[option], requested

    def _change_pb(self, outcome: ChangeOutcome) -> subscription_service_pb2.SubscriptionChangeResponse:
        now = self._tx.clock()
        today = today_in(outcome.subscription.timezone, now)
        return subscription_service_pb2.SubscriptionChangeResponse(
            subscription=subscription_pb(outcome.subscription, now), change=change_pb(outcome.change, today)
        )

    async def ChangeSubscriptionPlan(
        self, request: subscription_service_pb2.ChangeSubscriptionPlanRequest, context: grpc.aio.ServicerContext
    ) -> subscription_service_pb2.SubscriptionChangeResponse:
        v = field_violations(request, "subscription_id")
        plan = conv.plan_ref(request, v)
        check_request_id(request.request_id, v)
        option, requested = self._timing(request, _CHANGE_TIMING, v)
        v.raise_if_any()
        change = PlanChange(plan, option, requested)
        return await self._mutation(
            request,
            subscription_service_pb2.SubscriptionChangeResponse,
            lambda tx: self._subscriptions.change_plan(tx, request.subscription_id, change),
            self._change_pb,
        )

    async def UpdateFixedFeeQuantity(
        self, request: subscription_service_pb2.UpdateFixedFeeQuantityRequest, context: grpc.aio.ServicerContext
    ) -> subscription_service_pb2.SubscriptionChangeResponse:
        v = field_violations(request, "subscription_id", "price_id", "request_id")
        quantity = None
        if not request.quantity:
            v.add("quantity", "is required")
        else:
            quantity = money.parse_decimal(request.quantity, "quantity", v)
        option, requested = self._timing(request, _CHANGE_TIMING, v)
        v.raise_if_any()
        assert quantity is not None
        change = QuantityChange(request.price_id, quantity, option, requested)
        return await self._mutation(
            request,
            subscription_service_pb2.SubscriptionChangeResponse,
            lambda tx: self._subscriptions.change_quantity(tx, request.subscription_id, change),
            self._change_pb,
        )

    async def ListSubscriptionChanges(
        self, request: subscription_service_pb2.ListSubscriptionChangesRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[subscription_service_pb2.ListSubscriptionChangesResponse]:
        check_fields(request, "subscription_id", "limit")
        record = await get_subscription(self._db, account_id(), request.subscription_id)  # NOT_FOUND first
        today = today_in(record.timezone, self._tx.clock())
        async with contextlib.aclosing(
            self._lists.serve(
                request,
                BY_CREATED,
                lambda account, page: list_changes(self._db, account, request.subscription_id, page),
                build=lambda change: change_pb(change, today),
                respond=listed(subscription_service_pb2.ListSubscriptionChangesResponse),
            )
        ) as stream:
            async for response in stream:
                yield response

    async def UpdateSubscription(
        self, request: subscription_service_pb2.UpdateSubscriptionRequest, context: grpc.aio.ServicerContext
    ) -> subscription_service_pb2.Subscription:
        v = field_violations(request, "subscription_id", "request_id")
        threshold = None
        if request.HasField("invoicing_threshold"):
            threshold = money.parse_decimal(request.invoicing_threshold or "0", "invoicing_threshold", v)
        metadata = conv.metadata_patch_from(request.metadata) if request.HasField("metadata") else None
        if metadata is not None:
            check_metadata_patch(metadata, "metadata", v)
        if threshold is None and metadata is None and not v.items:
            v.add("subscription_id", "names no field to change: set invoicing_threshold or metadata")
        v.raise_if_any()
        update = SubscriptionUpdate(metadata=metadata, invoicing_threshold=threshold)
        return await self._mutation(
            request,
            subscription_service_pb2.Subscription,
            lambda tx: self._subscriptions.update(tx, request.subscription_id, update),
            self._subscription_pb,
        )
