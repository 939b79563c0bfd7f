"""AccountService: the calling account's seller profile."""

from __future__ import annotations

import grpc
from invoicing.v1 import account_service_pb2, account_service_pb2_grpc

from server.api import converters as conv
from server.api.requests import field_violations
from server.api.servicer import Servicer
from server.context import account_id
from server.usecases.accounts import get_account_profile, update_account_profile


class AccountServicer(Servicer, account_service_pb2_grpc.AccountServiceServicer):
    """Implements AccountService."""

    async def GetAccountProfile(
        self, request: account_service_pb2.GetAccountProfileRequest, context: grpc.aio.ServicerContext
    ) -> account_service_pb2.AccountProfile:
        return conv.account_profile_pb(await get_account_profile(self._db, account_id()))

    async def UpdateAccountProfile(
        self, request: account_service_pb2.UpdateAccountProfileRequest, context: grpc.aio.ServicerContext
    ) -> account_service_pb2.AccountProfile:
        v = field_violations(request, "request_id")
        changes = conv.profile_changes_from(request, v)
        changes.validate(v)
        v.raise_if_any()
        return await self._mutation(
            request,
            account_service_pb2.AccountProfile,
            lambda tx: update_account_profile(tx, changes),
            conv.account_profile_pb,
        )
