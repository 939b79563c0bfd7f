"""CustomerService: reads requests into domain objects, runs them, answers with protos."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import grpc
from invoicing.v1 import customer_pb2, customer_service_pb2, customer_service_pb2_grpc

from server.api import converters as conv
from server.api.mutations import run_mutation
from server.api.streaming import BY_CREATED, Lister
from server.context import account_id
from server.db import customers as repo
from server.db.pool import Database
from server.domain import money
from server.domain.customers import (
    DEFAULT_NET_TERMS,
    DEFAULT_TIMEZONE,
    BalanceAction,
    BalanceDirection,
    CustomerChanges,
    NewCustomer,
    move_balance,
)
from server.domain.errors import FIELD_CONFLICT, FIELD_REQUIRED, InvalidArgument, Violations
from server.domain.validation import MAX_DESCRIPTION_LENGTH, check_id, check_limit, check_request_id, check_text


def customer_key(customer_id: str, external_customer_id: str, violations: Violations) -> None:
    """Exactly one of customer_id and external_customer_id must be set."""
    if bool(customer_id) == bool(external_customer_id):
        reason = FIELD_CONFLICT if customer_id else FIELD_REQUIRED
        violations.add("customer_id", "set exactly one of customer_id and external_customer_id", reason=reason)
    check_id(customer_id, "customer_id", violations, required=False)
    check_id(external_customer_id, "external_customer_id", violations, required=False)


def time_range(request: object) -> repo.TimeRange:
    """The created_at_* bounds of a list request."""
    return repo.TimeRange(
        gt=conv.optional_timestamp(request, "created_at_gt"),
        gte=conv.optional_timestamp(request, "created_at_gte"),
        lt=conv.optional_timestamp(request, "created_at_lt"),
        lte=conv.optional_timestamp(request, "created_at_lte"),
    )


class CustomerServicer(customer_service_pb2_grpc.CustomerServiceServicer):
    """Implements CustomerService."""

    def __init__(self, db: Database, lists: Lister) -> None:
        self._db = db
        self._lists = lists

    async def CreateCustomer(
        self, request: customer_service_pb2.CreateCustomerRequest, context: grpc.aio.ServicerContext
    ) -> customer_pb2.Customer:
        v = Violations()
        check_request_id(request.request_id, v)
        customer = NewCustomer(
            name=request.name,
            email=request.email,
            external_customer_id=request.external_customer_id,
            currency=request.currency,
            timezone=request.timezone or DEFAULT_TIMEZONE,
            billing_address=conv.address_from(request.billing_address) if request.HasField("billing_address") else None,
            shipping_address=conv.address_from(request.shipping_address)
            if request.HasField("shipping_address")
            else None,
            tax_id=conv.tax_id_from(request.tax_id, "tax_id", v) if request.HasField("tax_id") else None,
            auto_collection=request.auto_collection,
            auto_issuance=request.auto_issuance if request.HasField("auto_issuance") else None,
            net_terms=request.net_terms if request.HasField("net_terms") else DEFAULT_NET_TERMS,
            metadata=dict(request.metadata),
        )
        v.raise_if_any()
        customer.validate()

        async def work(conn: asyncpg.Connection, account: str) -> customer_pb2.Customer:
            return conv.customer_pb(await repo.insert(conn, account, customer))

        return await run_mutation(self._db, "CreateCustomer", request, customer_pb2.Customer, work)

    async def GetCustomer(
        self, request: customer_service_pb2.GetCustomerRequest, context: grpc.aio.ServicerContext
    ) -> customer_pb2.Customer:
        v = Violations()
        customer_key(request.customer_id, request.external_customer_id, v)
        v.raise_if_any()
        async with self._db.connection() as conn:
            row = await repo.get(
                conn, account_id(), customer_id=request.customer_id, external_customer_id=request.external_customer_id
            )
        return conv.customer_pb(row)

    async def UpdateCustomer(
        self, request: customer_service_pb2.UpdateCustomerRequest, context: grpc.aio.ServicerContext
    ) -> customer_pb2.Customer:
        v = Violations()
        customer_key(request.customer_id, request.external_customer_id, v)
        check_request_id(request.request_id, v)
        changes = CustomerChanges(
            name=request.name if request.HasField("name") else None,
            email=request.email if request.HasField("email") else None,
            currency=request.currency if request.HasField("currency") else None,
            timezone=request.timezone if request.HasField("timezone") else None,
            billing_address=conv.address_from(request.billing_address) if request.HasField("billing_address") else None,
            shipping_address=conv.address_from(request.shipping_address)
            if request.HasField("shipping_address")
            else None,
            tax_id=conv.tax_id_from(request.tax_id, "tax_id", v) if request.HasField("tax_id") else None,
            auto_collection=request.auto_collection if request.HasField("auto_collection") else None,
            auto_issuance=request.auto_issuance if request.HasField("auto_issuance") else None,
            net_terms=request.net_terms if request.HasField("net_terms") else None,
            metadata=conv.metadata_patch_from(request.metadata) if request.HasField("metadata") else None,
        )
        v.raise_if_any()
        changes.validate()

        async def work(conn: asyncpg.Connection, account: str) -> customer_pb2.Customer:
            current = await repo.get(
                conn,
                account,
                customer_id=request.customer_id,
                external_customer_id=request.external_customer_id,
                lock="update",
            )
            if changes.currency is not None or changes.timezone is not None:
                changes.check_allowed(
                    current_currency=current["currency"],
                    current_timezone=current["timezone"],
                    has_invoices=await repo.has_invoices(conn, account, current["id"]),
                    balance=repo.balance_of(current),
                )
            metadata = changes.metadata.apply(current["metadata"]) if changes.metadata else current["metadata"]
            return conv.customer_pb(await repo.update(conn, account, current["id"], changes, metadata))

        return await run_mutation(self._db, "UpdateCustomer", request, customer_pb2.Customer, work)

    async def ListCustomers(
        self, request: customer_service_pb2.ListCustomersRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[customer_service_pb2.ListCustomersResponse]:
        v = Violations()
        check_limit(request.limit, v)
        created = time_range(request)
        v.raise_if_any()
        account = account_id()
        scope, after = self._lists.resume(account, "ListCustomers", request, BY_CREATED)
        async for response in self._lists.stream(
            scope,
            repo.list_query(account, created, after),
            keyset=BY_CREATED,
            build=conv.customer_pb,
            respond=lambda items, token: customer_service_pb2.ListCustomersResponse(
                customers=items, resume_token=token
            ),
            limit=request.limit,
        ):
            yield response

    async def CreateBalanceTransaction(
        self, request: customer_service_pb2.CreateBalanceTransactionRequest, context: grpc.aio.ServicerContext
    ) -> customer_pb2.BalanceTransaction:
        v = Violations()
        customer_key(request.customer_id, request.external_customer_id, v)
        check_request_id(request.request_id, v)
        check_text(request.description, "description", v, max_length=MAX_DESCRIPTION_LENGTH)
        amount = money.parse_decimal(request.amount, "amount", v, allow_zero=False)
        direction = conv.DIRECTIONS.get(request.type)
        if direction is None:
            v.add("type", "must be BALANCE_TRANSACTION_TYPE_INCREMENT or BALANCE_TRANSACTION_TYPE_DECREMENT")
        v.raise_if_any()
        assert amount is not None
        assert direction is not None

        async def work(conn: asyncpg.Connection, account: str) -> customer_pb2.BalanceTransaction:
            customer = await repo.get(
                conn,
                account,
                customer_id=request.customer_id,
                external_customer_id=request.external_customer_id,
                lock="update",
            )
            if not money.fits_currency(amount, customer["currency"]):
                raise InvalidArgument.one("amount", f"has more decimal places than {customer['currency']} allows")
            scaled = money.round_money(amount, customer["currency"])  # same value, the currency's scale
            move = move_balance(repo.balance_of(customer), BalanceDirection(direction), scaled)
            row = await repo.insert_balance_transaction(
                conn, account, customer["id"], BalanceAction.MANUAL_ADJUSTMENT, move, description=request.description
            )
            return conv.balance_transaction_pb(row)

        return await run_mutation(self._db, "CreateBalanceTransaction", request, customer_pb2.BalanceTransaction, work)

    async def ListBalanceTransactions(
        self, request: customer_service_pb2.ListBalanceTransactionsRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[customer_service_pb2.ListBalanceTransactionsResponse]:
        v = Violations()
        customer_key(request.customer_id, request.external_customer_id, v)
        check_limit(request.limit, v)
        created = time_range(request)
        v.raise_if_any()
        account = account_id()
        scope, after = self._lists.resume(account, "ListBalanceTransactions", request, BY_CREATED)
        async with self._db.connection() as conn:
            customer = await repo.get(
                conn, account, customer_id=request.customer_id, external_customer_id=request.external_customer_id
            )
        async for response in self._lists.stream(
            scope,
            repo.transactions_query(account, customer["id"], created, after),
            keyset=BY_CREATED,
            build=conv.balance_transaction_pb,
            respond=lambda items, token: customer_service_pb2.ListBalanceTransactionsResponse(
                balance_transactions=items, resume_token=token
            ),
            limit=request.limit,
        ):
            yield response
