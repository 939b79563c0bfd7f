"""CustomerService: reads requests into domain objects, runs them, answers with protos."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable
from decimal import Decimal
from typing import Any, TypeVar

import grpc
from google.protobuf.message import Message
from invoicing.v1 import customer_pb2, customer_service_pb2, customer_service_pb2_grpc

from server.api import converters as conv
from server.api.requests import customer_request, field_violations
from server.api.servicer import Servicer
from server.api.streaming import BY_CREATED, Created, Lister, listed
from server.context import account_id
from server.domain import money
from server.domain.credits import NewGrant
from server.domain.customers import (
    DEFAULT_NET_TERMS,
    DEFAULT_TIMEZONE,
    BalanceDirection,
    CustomerChanges,
    NewCustomer,
    check_currency,
)
from server.domain.validation import (
    MAX_DESCRIPTION_LENGTH,
    TimeRange,
    check_text,
)
from server.usecases.credits import Credits, list_blocks, list_ledger
from server.usecases.customers import (
    ManualAdjustment,
    adjust_balance,
    create_customer,
    customer_row,
    get_customer,
    list_balance_transactions,
    list_customers,
    update_customer,
)
from server.usecases.unit import Transactions

Record = TypeVar("Record", bound=Created)
Item = TypeVar("Item", bound=Message)
Response = TypeVar("Response", bound=Message)


def time_range(request: object) -> TimeRange:
    """The created_at_* bounds of a list request."""
    return TimeRange(
        gt=conv.optional_timestamp(request, "created_at_gt"),
        gte=conv.optional_timestamp(request, "created_at_gte"),
        lt=conv.optional_timestamp(request, "created_at_lt"),
        lte=conv.optional_timestamp(request, "created_at_lte"),
    )


class CustomerServicer(Servicer, customer_service_pb2_grpc.CustomerServiceServicer):
    """Implements CustomerService."""

    def __init__(self, transactions: Transactions, credits: Credits, lists: Lister) -> None:
        super().__init__(transactions)
        self._credits = credits
        self._lists = lists

    async def CreateCustomer(
        self, request: customer_service_pb2.CreateCustomerRequest, context: grpc.aio.ServicerContext
    ) -> customer_pb2.Customer:
        v = field_violations(request, "request_id")
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
        return await self._mutation(
            request, customer_pb2.Customer, lambda tx: create_customer(tx, customer), conv.customer_pb
        )

    async def GetCustomer(
        self, request: customer_service_pb2.GetCustomerRequest, context: grpc.aio.ServicerContext
    ) -> customer_pb2.Customer:
        return conv.customer_pb(await get_customer(self._db, account_id(), conv.customer_ref(request)))

    async def UpdateCustomer(
        self, request: customer_service_pb2.UpdateCustomerRequest, context: grpc.aio.ServicerContext
    ) -> customer_pb2.Customer:
        ref, v = customer_request(request, "request_id")
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
        return await self._mutation(
            request,
            customer_pb2.Customer,
            lambda tx: update_customer(tx, ref, changes),
            conv.customer_pb,
            customer_row(ref),
        )

    def ListCustomers(
        self, request: customer_service_pb2.ListCustomersRequest, context: grpc.aio.ServicerContext
    ) -> AsyncGenerator[customer_service_pb2.ListCustomersResponse, None]:
        v = field_violations(request, "limit")
        created = time_range(request)
        v.raise_if_any()
        return self._lists.serve(
            request,
            BY_CREATED,
            lambda account, page: list_customers(self._db, account, created, page),
            build=conv.customer_pb,
            respond=listed(customer_service_pb2.ListCustomersResponse),
        )

    async def CreateBalanceTransaction(
        self, request: customer_service_pb2.CreateBalanceTransactionRequest, context: grpc.aio.ServicerContext
    ) -> customer_pb2.BalanceTransaction:
        ref, v = customer_request(request, "request_id")
        check_text(request.description, "description", v, max_length=MAX_DESCRIPTION_LENGTH)
        amount = money.parse_decimal(request.amount, "amount", v, allow_zero=False)
        direction = conv.DIRECTIONS.get(request.type)
        if direction is None:
            v.add("type", "must be BALANCE_TRANSACTION_TYPE_INCREMENT or BALANCE_TRANSACTION_TYPE_DECREMENT")
        v.raise_if_any()
        assert amount is not None
        assert direction is not None
        adjustment = ManualAdjustment(ref, BalanceDirection(direction), amount, request.description)
        return await self._mutation(
            request,
            customer_pb2.BalanceTransaction,
            lambda tx: adjust_balance(tx, adjustment),
            conv.balance_transaction_pb,
            customer_row(ref),
        )

    def ListBalanceTransactions(
        self, request: customer_service_pb2.ListBalanceTransactionsRequest, context: grpc.aio.ServicerContext
    ) -> AsyncGenerator[customer_service_pb2.ListBalanceTransactionsResponse, None]:
        ref, v = customer_request(request, "limit")
        created = time_range(request)
        v.raise_if_any()
        return self._lists.serve(
            request,
            BY_CREATED,
            lambda account, page: list_balance_transactions(self._db, account, ref, created, page),
            build=conv.balance_transaction_pb,
            respond=listed(customer_service_pb2.ListBalanceTransactionsResponse),
        )

    async def GrantCredits(
        self, request: customer_service_pb2.GrantCreditsRequest, context: grpc.aio.ServicerContext
    ) -> customer_pb2.CreditBlock:
        ref, v = customer_request(request, "request_id")
        if not request.amount:
            v.add("amount", "is required")
        amount = money.parse_decimal(request.amount, "amount", v, allow_zero=False) if request.amount else None
        check_currency(request.currency, "currency", v)
        cost = None
        if request.per_unit_cost_basis:
            cost = money.parse_decimal(request.per_unit_cost_basis, "per_unit_cost_basis", v)
        grant = NewGrant(
            customer=ref,
            amount=amount or Decimal(0),
            currency=request.currency,
            effective_date=conv.optional_date(request, "effective_date", v),
            expiry_date=conv.optional_date(request, "expiry_date", v),
            per_unit_cost_basis=cost,
            description=request.description,
        )
        grant.validate(v, self._tx.clock().date())
        v.raise_if_any()
        return await self._mutation(
            request,
            customer_pb2.CreditBlock,
            lambda tx: self._credits.grant(tx, grant),
            conv.credit_block_pb,
            customer_row(ref),
        )

    def ListCreditBlocks(
        self, request: customer_service_pb2.ListCreditBlocksRequest, context: grpc.aio.ServicerContext
    ) -> AsyncGenerator[customer_service_pb2.ListCreditBlocksResponse, None]:
        return self._credits_stream(
            request, list_blocks, conv.credit_block_pb, listed(customer_service_pb2.ListCreditBlocksResponse)
        )

    def ListCreditLedger(
        self, request: customer_service_pb2.ListCreditLedgerRequest, context: grpc.aio.ServicerContext
    ) -> AsyncGenerator[customer_service_pb2.ListCreditLedgerResponse, None]:
        return self._credits_stream(
            request, list_ledger, conv.credit_ledger_entry_pb, listed(customer_service_pb2.ListCreditLedgerResponse)
        )

    def _credits_stream(
        self,
        request: Any,
        batches_of: Callable[..., AsyncGenerator[list[Record], None]],
        build: Callable[[Record], Item],
        respond: Callable[[list[Item], str], Response],
    ) -> AsyncGenerator[Response, None]:
        """A stream of a customer's credit records (blocks or ledger entries), newest first."""
        ref, v = customer_request(request, "limit")
        v.raise_if_any()
        return self._lists.serve(
            request,
            BY_CREATED,
            lambda account, page: batches_of(self._db, account, ref, page),
            build=build,
            respond=respond,
        )
