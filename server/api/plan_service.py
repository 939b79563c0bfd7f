"""PlanService: plans and their prices."""

from __future__ import annotations

from collections.abc import AsyncGenerator

import grpc
from invoicing.v1 import plan_service_pb2, plan_service_pb2_grpc

from server.api import converters as conv
from server.api.requests import check_fields, field_violations
from server.api.servicer import Servicer
from server.api.streaming import BY_CREATED, Lister, listed
from server.context import account_id
from server.domain.plans import new_plan
from server.usecases.plans import create_plan, get_plan, list_plans
from server.usecases.unit import Transactions


class PlanServicer(Servicer, plan_service_pb2_grpc.PlanServiceServicer):
    """Implements PlanService."""

    def __init__(self, transactions: Transactions, lists: Lister) -> None:
        super().__init__(transactions)
        self._lists = lists

    async def CreatePlan(
        self, request: plan_service_pb2.CreatePlanRequest, context: grpc.aio.ServicerContext
    ) -> plan_service_pb2.Plan:
        v = field_violations(request, "request_id")
        prices = [conv.price_data(message) for message in request.prices]
        plan = new_plan(request.name, request.currency, prices, request.external_plan_id, dict(request.metadata), v)
        v.raise_if_any()
        return await self._mutation(request, plan_service_pb2.Plan, lambda tx: create_plan(tx, plan), conv.plan_pb)

    async def GetPlan(
        self, request: plan_service_pb2.GetPlanRequest, context: grpc.aio.ServicerContext
    ) -> plan_service_pb2.Plan:
        return conv.plan_pb(await get_plan(self._db, account_id(), conv.plan_ref(request)))

    def ListPlans(
        self, request: plan_service_pb2.ListPlansRequest, context: grpc.aio.ServicerContext
    ) -> AsyncGenerator[plan_service_pb2.ListPlansResponse, None]:
        check_fields(request, "limit")
        return self._lists.serve(
            request,
            BY_CREATED,
            lambda account, page: list_plans(self._db, account, page),
            build=conv.plan_pb,
            respond=listed(plan_service_pb2.ListPlansResponse),
        )
