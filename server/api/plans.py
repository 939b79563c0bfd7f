"""PlanService: plans and their prices."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any

import asyncpg
import grpc
from invoicing.v1 import plan_service_pb2, plan_service_pb2_grpc

from server.api import converters as conv
from server.api.mutations import run_mutation
from server.api.streaming import BY_CREATED, Lister
from server.context import account_id
from server.db import plans as repo
from server.db.pool import Database
from server.domain.customers import check_currency
from server.domain.errors import FIELD_CONFLICT, FIELD_REQUIRED, Violations
from server.domain.ids import new_id
from server.domain.plans import MAX_PRICES_PER_PLAN, check_plan_prices, parse_price
from server.domain.pricing import Price
from server.domain.validation import (
    MAX_NAME_LENGTH,
    check_id,
    check_limit,
    check_metadata,
    check_request_id,
    check_text,
)


def plan_pb(row: Mapping[str, Any]) -> plan_service_pb2.Plan:
    """A Plan message from a plan row."""
    return plan_service_pb2.Plan(
        id=row["id"],
        name=row["name"],
        currency=row["currency"],
        prices=[conv.price_pb(p) for p in row["prices"]],
        external_plan_id=row["external_plan_id"] or "",
        metadata=row["metadata"],
        created_at=conv.timestamp(row["created_at"]),
    )


class PlanServicer(plan_service_pb2_grpc.PlanServiceServicer):
    """Implements PlanService."""

    def __init__(self, db: Database, lists: Lister) -> None:
        self._db = db
        self._lists = lists

    async def CreatePlan(
        self, request: plan_service_pb2.CreatePlanRequest, context: grpc.aio.ServicerContext
    ) -> plan_service_pb2.Plan:
        v = Violations()
        check_request_id(request.request_id, v)
        check_text(request.name, "name", v, max_length=MAX_NAME_LENGTH, required=True)
        check_currency(request.currency, "currency", v)
        check_id(request.external_plan_id, "external_plan_id", v, required=False)
        check_metadata(dict(request.metadata), "metadata", v)
        if len(request.prices) > MAX_PRICES_PER_PLAN:
            v.add("prices", f"must have at most {MAX_PRICES_PER_PLAN} prices")
        stored: list[dict[str, Any]] = []
        parsed: list[Price] = []
        for index, message in enumerate(request.prices[:MAX_PRICES_PER_PLAN]):
            data = conv.price_data(message)
            data["id"] = new_id("price")
            data.setdefault("currency", request.currency)  # a price in another currency is refused
            price = parse_price(data, f"prices[{index}]", request.currency, v)
            if price is not None:
                data["billing_mode"] = price.billing_mode.value  # show the mode that applies, defaults included
                parsed.append(price)
                stored.append(data)
        if len(parsed) == len(request.prices):  # every price is valid on its own: check them together
            check_plan_prices(parsed, "prices", v)
        v.raise_if_any()

        async def work(conn: asyncpg.Connection, account: str) -> plan_service_pb2.Plan:
            row = await repo.insert(
                conn,
                account,
                name=request.name,
                currency=request.currency,
                prices=stored,
                external_plan_id=request.external_plan_id,
                metadata=dict(request.metadata),
            )
            return plan_pb(row)

        return await run_mutation(self._db, "CreatePlan", request, plan_service_pb2.Plan, work)

    async def GetPlan(
        self, request: plan_service_pb2.GetPlanRequest, context: grpc.aio.ServicerContext
    ) -> plan_service_pb2.Plan:
        v = Violations()
        if bool(request.plan_id) == bool(request.external_plan_id):
            reason = FIELD_CONFLICT if request.plan_id else FIELD_REQUIRED
            v.add("plan_id", "set exactly one of plan_id and external_plan_id", reason=reason)
        check_id(request.plan_id, "plan_id", v, required=False)
        check_id(request.external_plan_id, "external_plan_id", v, required=False)
        v.raise_if_any()
        async with self._db.connection() as conn:
            row = await repo.get(conn, account_id(), plan_id=request.plan_id, external_plan_id=request.external_plan_id)
        return plan_pb(row)

    async def ListPlans(
        self, request: plan_service_pb2.ListPlansRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[plan_service_pb2.ListPlansResponse]:
        v = Violations()
        check_limit(request.limit, v)
        v.raise_if_any()
        account = account_id()
        scope, after = self._lists.resume(account, "ListPlans", request, BY_CREATED)
        async for response in self._lists.stream(
            scope,
            repo.list_query(account, after),
            keyset=BY_CREATED,
            build=plan_pb,
            respond=lambda items, token: plan_service_pb2.ListPlansResponse(plans=items, resume_token=token),
            limit=request.limit,
        ):
            yield response
