"""SubscriptionService: subscriptions and their current billing period."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

import asyncpg
import grpc
from invoicing.v1 import common_pb2, subscription_service_pb2, subscription_service_pb2_grpc

from server.api import converters as conv
from server.api.customers import customer_key
from server.api.mutations import run_mutation
from server.api.plans import plan_pb
from server.api.streaming import BY_CREATED, Lister
from server.billing import engine
from server.context import account_id
from server.db import customers as customers_repo
from server.db import plans as plans_repo
from server.db import subscriptions as repo
from server.db.pool import Database
from server.domain.errors import FIELD_CONFLICT, FIELD_REQUIRED, FailedPrecondition, Violations
from server.domain.invoices import add_months
from server.domain.periods import Period, instant
from server.domain.validation import check_id, check_limit, check_metadata, check_net_terms, check_request_id, today_in

# How far a start date may lie from today: backdating bills every period since (and usage older than five
# years is not accepted anyway), and a start far ahead is a typo more often than a plan.
_START_WINDOW_MONTHS = 60

_STATUS_NUMBERS = {
    "upcoming": subscription_service_pb2.SUBSCRIPTION_STATUS_UPCOMING,
    "active": subscription_service_pb2.SUBSCRIPTION_STATUS_ACTIVE,
    "ended": subscription_service_pb2.SUBSCRIPTION_STATUS_ENDED,
}


def status_and_period(sub: engine.Subscription, today: dt.date) -> tuple[str, Period | None]:
    """The subscription's status on a local day, and its current billing period when active."""
    if today < sub.schedule.start_date:
        return "upcoming", None
    if sub.end_date is not None and today >= sub.end_date:
        return "ended", None
    period = sub.schedule.period_containing(today)
    if sub.end_date is not None and period.end > sub.end_date:
        period = Period(period.start, sub.end_date)
    return "active", period


def subscription_pb(row: Mapping[str, Any], now: dt.datetime) -> subscription_service_pb2.Subscription:
    """A Subscription message from a subscription row, with its status and period at `now`."""
    sub = engine.subscription_from(row, "")
    status, period = status_and_period(sub, today_in(sub.timezone, now))
    plan = plan_pb(
        {
            "id": row["plan_id"],
            "name": row["plan_name"],
            "currency": row["plan_currency"],
            "prices": row["prices"],
            "external_plan_id": row["external_plan_id"],
            "metadata": row["plan_metadata"],
            "created_at": row["plan_created_at"],
        }
    )
    return subscription_service_pb2.Subscription(
        id=row["id"],
        customer=common_pb2.CustomerRef(id=row["customer_id"], external_customer_id=row["external_customer_id"] or ""),
        plan=plan,
        start_date=conv.date_pb(row["start_date"]),
        end_date=conv.date_pb(row["end_date"]),
        status=_STATUS_NUMBERS[status],
        align_billing_with_subscription_start_date=row["align_to_start"],
        net_terms=row["net_terms"],
        auto_issuance=row["auto_issuance"],
        current_billing_period_start_date=conv.date_pb(period.start) if period else None,
        current_billing_period_end_date=conv.date_pb(period.end) if period else None,
        metadata=row["metadata"],
        created_at=conv.timestamp(row["created_at"]),
    )


class SubscriptionServicer(subscription_service_pb2_grpc.SubscriptionServiceServicer):
    """Implements SubscriptionService."""

    def __init__(
        self,
        db: Database,
        lists: Lister,
        clock: Callable[[], dt.datetime],
    ) -> None:
        self._db = db
        self._lists = lists
        self._clock = clock

    async def CreateSubscription(
        self, request: subscription_service_pb2.CreateSubscriptionRequest, context: grpc.aio.ServicerContext
    ) -> subscription_service_pb2.Subscription:
        v = Violations()
        customer_key(request.customer_id, request.external_customer_id, v)
        if bool(request.plan_id) == bool(request.external_plan_id):
            reason = FIELD_CONFLICT if request.plan_id else FIELD_REQUIRED
            v.add("plan_id", "set exactly one of plan_id and external_plan_id", reason=reason)
        check_id(request.plan_id, "plan_id", v, required=False)
        check_id(request.external_plan_id, "external_plan_id", v, required=False)
        check_request_id(request.request_id, v)
        start = conv.date_from(request.start_date, "start_date", v, required=True)
        today = self._clock().date()
        if start is not None and not add_months(today, -_START_WINDOW_MONTHS) <= start <= add_months(
            today, _START_WINDOW_MONTHS
        ):
            v.add("start_date", "must be within five years of today")
        if request.HasField("net_terms"):
            check_net_terms(request.net_terms, "net_terms", v)
        check_metadata(dict(request.metadata), "metadata", v)
        v.raise_if_any()
        assert start is not None

        async def work(conn: asyncpg.Connection, account: str) -> subscription_service_pb2.Subscription:
            customer = await customers_repo.get(
                conn, account, customer_id=request.customer_id, external_customer_id=request.external_customer_id
            )
            plan = await plans_repo.get(
                conn, account, plan_id=request.plan_id, external_plan_id=request.external_plan_id
            )
            if plan["currency"] != customer["currency"]:
                raise FailedPrecondition(
                    "CURRENCY_MISMATCH",
                    f"the plan bills in {plan['currency']}, the customer in {customer['currency']}",
                    subject="plan_id",
                )
            subscription_id = await repo.insert(
                conn,
                account,
                customer_id=customer["id"],
                plan_id=plan["id"],
                start_date=start,
                align_to_start=request.align_billing_with_subscription_start_date,
                net_terms=request.net_terms if request.HasField("net_terms") else customer["net_terms"],
                auto_issuance=request.auto_issuance if request.HasField("auto_issuance") else None,
                metadata=dict(request.metadata),
                first_boundary_at=instant(start, customer["timezone"]),
            )
            return subscription_pb(await repo.get(conn, account, subscription_id), self._clock())

        return await run_mutation(self._db, "CreateSubscription", request, subscription_service_pb2.Subscription, work)

    async def GetSubscription(
        self, request: subscription_service_pb2.GetSubscriptionRequest, context: grpc.aio.ServicerContext
    ) -> subscription_service_pb2.Subscription:
        v = Violations()
        check_id(request.subscription_id, "subscription_id", v)
        v.raise_if_any()
        async with self._db.connection() as conn:
            row = await repo.get(conn, account_id(), request.subscription_id)
        return subscription_pb(row, self._clock())

    async def ListSubscriptions(
        self, request: subscription_service_pb2.ListSubscriptionsRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[subscription_service_pb2.ListSubscriptionsResponse]:
        v = Violations()
        check_limit(request.limit, v)
        check_id(request.customer_id, "customer_id", v, required=False)
        check_id(request.external_customer_id, "external_customer_id", v, required=False)
        names = {number: name for name, number in _STATUS_NUMBERS.items()}
        wanted = []
        for index, number in enumerate(request.status):
            if number not in names:
                v.add(f"status[{index}]", f"is not a subscription status: {number}")
            else:
                wanted.append(names[number])
        v.raise_if_any()
        account = account_id()
        scope, after = self._lists.resume(account, "ListSubscriptions", request, BY_CREATED)
        now = self._clock()

        def build(row: asyncpg.Record) -> subscription_service_pb2.Subscription:
            return subscription_pb(row, now)

        async for response in self._lists.stream(
            scope,
            repo.list_query(
                account, request.customer_id or None, request.external_customer_id or None, wanted, now, after
            ),
            keyset=BY_CREATED,
            build=build,
            respond=lambda items, token: subscription_service_pb2.ListSubscriptionsResponse(
                subscriptions=items, resume_token=token
            ),
            limit=request.limit,
        ):
            yield response

    async def CancelSubscription(
        self, request: subscription_service_pb2.CancelSubscriptionRequest, context: grpc.aio.ServicerContext
    ) -> subscription_service_pb2.Subscription:
        v = Violations()
        check_id(request.subscription_id, "subscription_id", v)
        check_request_id(request.request_id, v)
        option = request.cancel_option
        requested = conv.optional_date(request, "cancellation_date", v)
        if option == subscription_service_pb2.CANCEL_OPTION_REQUESTED_DATE and requested is None:
            v.add("cancellation_date", "is required with CANCEL_OPTION_REQUESTED_DATE")
        if option not in (
            subscription_service_pb2.CANCEL_OPTION_END_OF_SUBSCRIPTION_TERM,
            subscription_service_pb2.CANCEL_OPTION_REQUESTED_DATE,
            subscription_service_pb2.CANCEL_OPTION_IMMEDIATE,
        ):
            v.add("cancel_option", "must be END_OF_SUBSCRIPTION_TERM, REQUESTED_DATE or IMMEDIATE")
        v.raise_if_any()

        async def work(conn: asyncpg.Connection, account: str) -> subscription_service_pb2.Subscription:
            row = await repo.get(conn, account, request.subscription_id, lock="update")
            sub = engine.subscription_from(row, account)
            now = self._clock()
            today = today_in(sub.timezone, now)
            if sub.end_date is not None and sub.end_date <= today:
                raise FailedPrecondition("SUBSCRIPTION_ENDED", "the subscription has already ended", subject="status")
            if option == subscription_service_pb2.CANCEL_OPTION_IMMEDIATE:
                end = max(today, sub.schedule.start_date)
            elif option == subscription_service_pb2.CANCEL_OPTION_REQUESTED_DATE:
                assert requested is not None
                if requested < sub.schedule.start_date or requested < today:
                    raise FailedPrecondition(
                        "CANCELLATION_DATE_IN_PAST",
                        "cancellation_date must not be before today or the start date",
                        subject="cancellation_date",
                    )
                end = requested
            else:
                end = sub.schedule.period_containing(max(today, sub.schedule.start_date)).end
            await repo.set_end_date(conn, account, sub.id, end)
            return subscription_pb(await repo.get(conn, account, sub.id), now)

        return await run_mutation(self._db, "CancelSubscription", request, subscription_service_pb2.Subscription, work)
