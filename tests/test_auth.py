"""Security and tenancy: API keys on every RPC, keys stored only as hashes, and accounts kept apart."""

from __future__ import annotations

import hashlib
import logging
import secrets
from collections.abc import Callable

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from invoicing.v1 import (
    customer_pb2,
    customer_service_pb2,
    invoice_service_pb2,
)

from server.keys import create_key, revoke_key
from tests.support.accounts import Account
from tests.support.builders import add_line_request, create_customer, create_invoice, date, invoice_request
from tests.support.calls import ALL_STATUSES
from tests.support.checks import assert_customer_not_found
from tests.support.client import Api, StatusDetails, expect_error, open_api
from tests.support.database import connection


def assert_unauthenticated(error: StatusDetails, reason: str) -> None:
    """The call failed UNAUTHENTICATED with this reason."""
    assert error.code == grpc.StatusCode.UNAUTHENTICATED
    assert error.reason == reason
    assert error.domain == "invoicing.v1"


async def get_customer_with(channel: grpc.aio.Channel, authorization: str | None) -> StatusDetails:
    """A GetCustomer sent with the given authorization header (None: no header); it must fail."""
    metadata = None if authorization is None else (("authorization", authorization),)
    return await expect_error(
        Api.on(channel).customers.GetCustomer(
            customer_service_pb2.GetCustomerRequest(customer_id="cus_any"), metadata=metadata
        )
    )


def fake_key() -> str:
    """A well-formed key that was never issued."""
    return "sk_" + secrets.token_urlsafe(32)


async def list_invoice_ids(api: Api, **fields: object) -> set[str]:
    """The ids of every invoice a ListInvoices stream delivers."""
    request = invoice_service_pb2.ListInvoicesRequest(**fields)  # type: ignore[arg-type]
    return {i.id async for message in api.invoices.ListInvoices(request) for i in message.invoices}


# --- credentials ---------------------------------------------------------------


async def test_missing_authorization_is_unauthenticated(anonymous_channel: grpc.aio.Channel) -> None:
    """A call without authorization metadata fails API_KEY_MISSING."""
    assert_unauthenticated(await get_customer_with(anonymous_channel, None), "API_KEY_MISSING")


async def test_every_service_requires_a_key(anonymous_channel: grpc.aio.Channel) -> None:
    """Unary RPCs of both services refuse anonymous callers, before validating the request."""
    anonymous = Api.on(anonymous_channel)
    customers, invoices = anonymous.customers, anonymous.invoices
    calls = [
        customers.CreateCustomer(customer_service_pb2.CreateCustomerRequest()),
        customers.UpdateCustomer(customer_service_pb2.UpdateCustomerRequest()),
        customers.CreateBalanceTransaction(customer_service_pb2.CreateBalanceTransactionRequest()),
        invoices.GetInvoice(invoice_service_pb2.GetInvoiceRequest(invoice_id="inv_any")),
        invoices.CreateInvoice(invoice_service_pb2.CreateInvoiceRequest()),
    ]
    for call in calls:
        assert_unauthenticated(await expect_error(call), "API_KEY_MISSING")


async def test_stream_rpcs_without_key_are_unauthenticated(anonymous_channel: grpc.aio.Channel) -> None:
    """Server-streaming RPCs refuse anonymous callers too."""
    anonymous = Api.on(anonymous_channel)
    customers, invoices = anonymous.customers, anonymous.invoices
    streams = [
        customers.ListCustomers(customer_service_pb2.ListCustomersRequest()),
        customers.ListBalanceTransactions(customer_service_pb2.ListBalanceTransactionsRequest(customer_id="cus_x")),
        invoices.ListInvoices(invoice_service_pb2.ListInvoicesRequest()),
    ]
    for stream in streams:
        assert_unauthenticated(await expect_error(stream), "API_KEY_MISSING")


@pytest.mark.parametrize(
    "make_header",
    [
        pytest.param(lambda key: key, id="no-scheme"),
        pytest.param(lambda key: f"Basic {key}", id="basic-scheme"),
        pytest.param(lambda key: f"Token {key}", id="token-scheme"),
        pytest.param(lambda key: f"Bearer{key}", id="no-space"),
        pytest.param(lambda key: "Bearer", id="scheme-only"),
        pytest.param(lambda key: f"Bearer {key[3:]}", id="key-without-prefix"),
        pytest.param(lambda key: f"Bearer pk_{key[3:]}", id="wrong-key-prefix"),
        pytest.param(lambda key: f"Bearer {key}{'x' * 200}", id="key-too-long"),
    ],
)
async def test_malformed_authorization_is_unauthenticated(
    anonymous_channel: grpc.aio.Channel, account: Account, make_header: Callable[[str], str]
) -> None:
    """A header that is not `Bearer sk_...` fails API_KEY_MALFORMED, even around a real key."""
    header = make_header(account.key)
    assert_unauthenticated(await get_customer_with(anonymous_channel, header), "API_KEY_MALFORMED")


async def test_unknown_key_is_unauthenticated(anonymous_channel: grpc.aio.Channel) -> None:
    """A well-formed key that was never issued fails API_KEY_INVALID."""
    assert_unauthenticated(await get_customer_with(anonymous_channel, f"Bearer {fake_key()}"), "API_KEY_INVALID")


async def test_stream_with_unknown_key_is_unauthenticated(target: str) -> None:
    """A stream with an unknown key fails API_KEY_INVALID."""
    async with open_api(target, fake_key()) as stranger:
        error = await expect_error(stranger.customers.ListCustomers(customer_service_pb2.ListCustomersRequest()))
    assert_unauthenticated(error, "API_KEY_INVALID")


async def test_scheme_is_case_insensitive(anonymous_channel: grpc.aio.Channel, account: Account) -> None:
    """`bearer` in lower case is the same scheme (RFC 6750): the call reaches the service."""
    error = await get_customer_with(anonymous_channel, f"bearer {account.key}")
    assert error.code == grpc.StatusCode.NOT_FOUND
    assert error.reason == "CUSTOMER_NOT_FOUND"


async def test_valid_key_reaches_the_service(api: Api) -> None:
    """With the account's key, unary and stream calls succeed."""
    customer = await create_customer(api)
    fetched = await api.customers.GetCustomer(customer_service_pb2.GetCustomerRequest(customer_id=customer.id))
    assert fetched == customer
    messages = [m async for m in api.customers.ListCustomers(customer_service_pb2.ListCustomersRequest())]
    assert [c.id for m in messages for c in m.customers] == [customer.id]


async def test_revoked_key_is_unauthenticated(api: Api, account: Account, migrated_dsn: str) -> None:
    """Once revoked, a key that worked fails API_KEY_REVOKED on unary and stream calls."""
    customer = await create_customer(api)
    assert await revoke_key(migrated_dsn, account.key_id)

    error = await expect_error(
        api.customers.GetCustomer(customer_service_pb2.GetCustomerRequest(customer_id=customer.id))
    )
    assert_unauthenticated(error, "API_KEY_REVOKED")
    error = await expect_error(api.customers.ListCustomers(customer_service_pb2.ListCustomersRequest()))
    assert_unauthenticated(error, "API_KEY_REVOKED")
    error = await expect_error(api.customers.CreateCustomer(customer_service_pb2.CreateCustomerRequest()))
    assert_unauthenticated(error, "API_KEY_REVOKED")

    assert not await revoke_key(migrated_dsn, account.key_id)


async def test_revoking_one_key_leaves_the_accounts_other_keys_working(
    api: Api, account: Account, migrated_dsn: str, target: str
) -> None:
    """Revocation is per key: a second key of the same account still sees the account's data."""
    customer = await create_customer(api)
    _, second_key = await create_key(migrated_dsn, account.name)
    await revoke_key(migrated_dsn, account.key_id)
    async with open_api(target, second_key) as second:
        fetched = await second.customers.GetCustomer(customer_service_pb2.GetCustomerRequest(customer_id=customer.id))
    assert fetched == customer


# --- health and reflection -----------------------------------------------------


@pytest.mark.parametrize("service", ["", "invoicing.v1.InvoiceService", "invoicing.v1.CustomerService"])
async def test_health_check_needs_no_key(anonymous_channel: grpc.aio.Channel, service: str) -> None:
    """The standard health service answers SERVING without credentials."""
    stub = health_pb2_grpc.HealthStub(anonymous_channel)
    response = await stub.Check(health_pb2.HealthCheckRequest(service=service))
    assert response.status == health_pb2.HealthCheckResponse.SERVING


async def test_reflection_needs_no_key(anonymous_channel: grpc.aio.Channel) -> None:
    """Server reflection lists the services without credentials."""
    stub = reflection_pb2_grpc.ServerReflectionStub(anonymous_channel)
    call = stub.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(list_services="")]))
    names: set[str] = set()
    async for response in call:
        names |= {s.name for s in response.list_services_response.service}
    assert {"invoicing.v1.InvoiceService", "invoicing.v1.CustomerService", "grpc.health.v1.Health"} <= names


# --- key storage ---------------------------------------------------------------


async def test_keys_are_stored_only_as_sha256(account: Account, migrated_dsn: str) -> None:
    """The api_keys row holds the key's SHA-256 and nothing from which the key can be read."""
    secret_part = account.key.removeprefix("sk_")
    digest = hashlib.sha256(account.key.encode()).digest()
    async with connection(migrated_dsn) as conn:
        row = await conn.fetchrow("SELECT key_hash, t::text AS whole FROM api_keys t WHERE id = $1", account.key_id)
        tables = await conn.fetch(
            "SELECT table_name FROM information_schema.tables "
            "WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'"
        )
        leaks = {}
        for table in tables:
            name = table["table_name"]
            leaks[name] = await conn.fetchval(
                f'SELECT count(*) FROM "{name}" t WHERE strpos(t::text, $1) > 0', secret_part
            )
    assert row is not None
    assert bytes(row["key_hash"]) == digest
    assert hashlib.sha256(account.key.encode()).hexdigest() in row["whole"]
    assert secret_part not in row["whole"]
    assert "api_keys" in leaks
    assert {name: count for name, count in leaks.items() if count} == {}


async def test_keys_never_appear_in_logs(
    api: Api, account: Account, anonymous_channel: grpc.aio.Channel, caplog: pytest.LogCaptureFixture
) -> None:
    """Neither a valid key nor a rejected one is written to the server's logs."""
    caplog.set_level(logging.DEBUG)
    await create_customer(api)
    await expect_error(api.customers.GetCustomer(customer_service_pb2.GetCustomerRequest(customer_id="cus_none")))
    rejected = fake_key()
    await get_customer_with(anonymous_channel, f"Bearer {rejected}")
    await get_customer_with(anonymous_channel, f"Basic {rejected}")
    logged = caplog.text + "".join(str(record.__dict__) for record in caplog.records)
    assert account.key.removeprefix("sk_") not in logged
    assert rejected.removeprefix("sk_") not in logged


# --- tenancy -------------------------------------------------------------------


async def test_other_accounts_customer_and_invoice_are_not_found(api: Api, other_api: Api) -> None:
    """Another account's customer and invoice answer NOT_FOUND, exactly like unknown ids."""
    customer = await create_customer(api, external_customer_id="tenant-a-1")
    invoice = await create_invoice(api, customer)

    error = await expect_error(
        other_api.invoices.GetInvoice(invoice_service_pb2.GetInvoiceRequest(invoice_id=invoice.id))
    )
    assert error.code == grpc.StatusCode.NOT_FOUND
    assert error.reason == "INVOICE_NOT_FOUND"
    unknown = await expect_error(
        other_api.invoices.GetInvoice(invoice_service_pb2.GetInvoiceRequest(invoice_id="inv_x"))
    )
    assert (unknown.code, unknown.reason) == (error.code, error.reason)

    await assert_customer_not_found(other_api, customer)


async def test_other_account_cannot_invoice_or_credit_my_customer(api: Api, other_api: Api) -> None:
    """Mutations naming another account's customer fail NOT_FOUND and leave it untouched."""
    customer = await create_customer(api)
    error = await expect_error(other_api.invoices.CreateInvoice(invoice_request(customer)))
    assert error.code == grpc.StatusCode.NOT_FOUND
    assert error.reason == "CUSTOMER_NOT_FOUND"
    assert await list_invoice_ids(api, status=ALL_STATUSES) == set()
    assert await list_invoice_ids(other_api, status=ALL_STATUSES) == set()

    error = await expect_error(
        other_api.customers.CreateBalanceTransaction(
            customer_service_pb2.CreateBalanceTransactionRequest(
                customer_id=customer.id, amount="10.00", type=customer_pb2.BALANCE_TRANSACTION_TYPE_INCREMENT
            )
        )
    )
    assert error.code == grpc.StatusCode.NOT_FOUND
    assert error.reason == "CUSTOMER_NOT_FOUND"
    fetched = await api.customers.GetCustomer(customer_service_pb2.GetCustomerRequest(customer_id=customer.id))
    assert fetched == customer


async def test_other_account_cannot_change_my_invoice(api: Api, other_api: Api) -> None:
    """Every invoice mutation naming another account's invoice fails NOT_FOUND and leaves it as it was."""
    customer = await create_customer(api)
    invoice = await create_invoice(api, customer)
    line_id = invoice.line_items[0].id
    calls = [
        other_api.invoices.UpdateInvoice(invoice_service_pb2.UpdateInvoiceRequest(invoice_id=invoice.id, net_terms=5)),
        other_api.invoices.CreateInvoiceLineItem(add_line_request(invoice.id, "5.00", name="Injected")),
        other_api.invoices.DeleteInvoiceLineItem(
            invoice_service_pb2.DeleteInvoiceLineItemRequest(invoice_id=invoice.id, line_item_id=line_id)
        ),
        other_api.invoices.IssueInvoice(invoice_service_pb2.IssueInvoiceRequest(invoice_id=invoice.id)),
        other_api.invoices.MarkInvoicePaid(
            invoice_service_pb2.MarkInvoicePaidRequest(invoice_id=invoice.id, payment_received_date=date("2024-02-05"))
        ),
        other_api.invoices.VoidInvoice(invoice_service_pb2.VoidInvoiceRequest(invoice_id=invoice.id)),
    ]
    for call in calls:
        error = await expect_error(call)
        assert error.code == grpc.StatusCode.NOT_FOUND
        assert error.reason == "INVOICE_NOT_FOUND"
    assert await api.invoices.GetInvoice(invoice_service_pb2.GetInvoiceRequest(invoice_id=invoice.id)) == invoice


async def test_list_invoices_never_shows_other_accounts(api: Api, other_api: Api) -> None:
    """ListInvoices over every status shows each account only its own invoices, whatever the filter."""
    mine_customer = await create_customer(api, external_customer_id="shared-ext")
    theirs_customer = await create_customer(other_api, external_customer_id="shared-ext")
    mine = {(await create_invoice(api, mine_customer)).id for _ in range(3)}
    theirs = {(await create_invoice(other_api, theirs_customer)).id for _ in range(2)}
    issued = await create_invoice(api, mine_customer)
    await api.invoices.IssueInvoice(invoice_service_pb2.IssueInvoiceRequest(invoice_id=issued.id))
    voided = await create_invoice(other_api, theirs_customer)
    await other_api.invoices.IssueInvoice(invoice_service_pb2.IssueInvoiceRequest(invoice_id=voided.id))
    await other_api.invoices.VoidInvoice(invoice_service_pb2.VoidInvoiceRequest(invoice_id=voided.id))
    mine.add(issued.id)
    theirs.add(voided.id)

    assert await list_invoice_ids(api, status=ALL_STATUSES) == mine
    assert await list_invoice_ids(other_api, status=ALL_STATUSES) == theirs
    assert await list_invoice_ids(other_api, status=ALL_STATUSES, customer_id=mine_customer.id) == set()
    assert await list_invoice_ids(other_api, status=ALL_STATUSES, external_customer_id="shared-ext") == theirs
    assert await list_invoice_ids(api, status=ALL_STATUSES, external_customer_id="shared-ext") == mine
    assert await list_invoice_ids(api) == {issued.id}
    assert await list_invoice_ids(other_api) == set()


async def test_external_ids_and_request_ids_are_per_account(api: Api, other_api: Api) -> None:
    """Two accounts may use the same external id and the same request_id without seeing each other."""
    mine = await create_customer(api, external_customer_id="same-ext", request_id="same-key", name="Mine")
    theirs = await create_customer(other_api, external_customer_id="same-ext", request_id="same-key", name="Theirs")
    assert mine.id != theirs.id

    request = customer_service_pb2.GetCustomerRequest(external_customer_id="same-ext")
    assert (await api.customers.GetCustomer(request)).name == "Mine"
    assert (await other_api.customers.GetCustomer(request)).name == "Theirs"
