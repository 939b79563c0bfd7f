"""CustomerService end to end: customers, updates, the balance ledger and the List streams."""

from __future__ import annotations

import asyncio
import uuid
from decimal import Decimal
from typing import Any

import grpc
import pytest
from google.protobuf import timestamp_pb2
from invoicing.v1 import common_pb2, customer_pb2, customer_service_pb2

from tests.support.builders import create_customer, create_invoice, customer_request
from tests.support.calls import get_customer, ledger
from tests.support.checks import assert_customer_not_found, assert_ledger_chains, signed
from tests.support.client import Api, assert_field_reasons, expect_error

INCREMENT = customer_pb2.BALANCE_TRANSACTION_TYPE_INCREMENT
DECREMENT = customer_pb2.BALANCE_TRANSACTION_TYPE_DECREMENT
MANUAL_ADJUSTMENT = customer_pb2.BALANCE_TRANSACTION_ACTION_MANUAL_ADJUSTMENT
BATCH = 50  # records per stream message on the test server


# --- helpers -------------------------------------------------------------------


def de_vat(value: str = "DE123456789") -> common_pb2.CustomerTaxId:
    """A valid German EU VAT tax id."""
    return common_pb2.CustomerTaxId(
        country=common_pb2.TAX_ID_COUNTRY_DE, type=common_pb2.TAX_ID_TYPE_EU_VAT, value=value
    )


def berlin_address(line1: str = "Unter den Linden 1") -> common_pb2.Address:
    """A complete address in Germany."""
    return common_pb2.Address(
        line1=line1, line2="3. OG", city="Berlin", state="Berlin", postal_code="10117", country="DE"
    )


def full_customer_request(**overrides: Any) -> customer_service_pb2.CreateCustomerRequest:
    """A CreateCustomerRequest with every optional field set."""
    fields: dict[str, Any] = {
        "name": "Müller GmbH",
        "email": "ap@mueller.example",
        "currency": "EUR",
        "timezone": "Europe/Berlin",
        "billing_address": berlin_address(),
        "shipping_address": berlin_address("Friedrichstraße 43"),
        "tax_id": de_vat(),
        "auto_collection": True,
        "auto_issuance": False,
        "net_terms": 14,
        "metadata": {"tier": "gold", "region": "eu"},
    }
    fields.update(overrides)
    return customer_request(**fields)


def sort_key(customer: customer_pb2.Customer | customer_pb2.BalanceTransaction) -> tuple[int, int, str]:
    """The server's list order key: (created_at, id)."""
    return (customer.created_at.seconds, customer.created_at.nanos, customer.id)


async def list_customer_messages(api: Api, **fields: Any) -> list[customer_service_pb2.ListCustomersResponse]:
    """Every message of a ListCustomers stream."""
    request = customer_service_pb2.ListCustomersRequest(**fields)
    return [message async for message in api.customers.ListCustomers(request)]


async def list_customers(api: Api, **fields: Any) -> list[customer_pb2.Customer]:
    """Every customer a ListCustomers stream delivers, in order."""
    return [c for message in await list_customer_messages(api, **fields) for c in message.customers]


async def first_message(call: Any) -> Any:
    """Read the first message of a stream, then cancel the rest of it."""
    try:
        async for message in call:
            return message
    finally:
        call.cancel()
    raise AssertionError("the stream ended without a message")


async def adjust(
    api: Api, customer_id: str, amount: str, kind: Any = INCREMENT, **fields: Any
) -> customer_pb2.BalanceTransaction:
    """CreateBalanceTransaction on a customer."""
    result: customer_pb2.BalanceTransaction = await api.customers.CreateBalanceTransaction(
        customer_service_pb2.CreateBalanceTransactionRequest(
            customer_id=customer_id, amount=amount, type=kind, **fields
        )
    )
    return result


def without_updated_at(customer: customer_pb2.Customer) -> customer_pb2.Customer:
    """A copy of the customer without updated_at, to compare everything else."""
    copy = customer_pb2.Customer()
    copy.CopyFrom(customer)
    copy.ClearField("updated_at")
    return copy


async def create_many(api: Api, count: int) -> list[customer_pb2.Customer]:
    """Create count customers, a few at a time."""
    gate = asyncio.Semaphore(8)

    async def one(index: int) -> customer_pb2.Customer:
        async with gate:
            return await create_customer(api, name=f"Customer {index}")

    return list(await asyncio.gather(*(one(i) for i in range(count))))


# --- CreateCustomer ------------------------------------------------------------


async def test_create_customer_returns_every_field_it_was_given(api: Api) -> None:
    """Every field of the request comes back on the customer, and GetCustomer returns the same."""
    request = full_customer_request()
    created = await api.customers.CreateCustomer(request)

    assert created.id
    assert created.external_customer_id == request.external_customer_id
    assert created.name == "Müller GmbH"
    assert created.email == "ap@mueller.example"
    assert created.currency == "EUR"
    assert created.timezone == "Europe/Berlin"
    assert created.billing_address == berlin_address()
    assert created.shipping_address == berlin_address("Friedrichstraße 43")
    assert created.tax_id == de_vat()
    assert created.auto_collection is True
    assert created.HasField("auto_issuance")
    assert created.auto_issuance is False
    assert created.net_terms == 14
    assert dict(created.metadata) == {"tier": "gold", "region": "eu"}
    assert Decimal(created.balance) == 0
    assert created.created_at.seconds > 0
    assert created.updated_at.seconds > 0

    assert await get_customer(api, created.id) == created


async def test_create_customer_applies_defaults_for_absent_fields(api: Api) -> None:
    """Without timezone, net_terms, auto_issuance, addresses or tax id, the documented defaults apply."""
    created = await create_customer(api, timezone="", external_customer_id="")

    assert created.timezone == "UTC"
    assert created.net_terms == 30
    assert not created.HasField("auto_issuance")
    assert not created.HasField("billing_address")
    assert not created.HasField("shipping_address")
    assert not created.HasField("tax_id")
    assert created.auto_collection is False
    assert created.external_customer_id == ""
    assert dict(created.metadata) == {}
    assert Decimal(created.balance) == 0


async def test_create_customer_keeps_explicit_zero_net_terms_and_true_auto_issuance(api: Api) -> None:
    """net_terms 0 (due on issue) is a value, not "absent"; auto_issuance true is kept."""
    created = await create_customer(api, net_terms=0, auto_issuance=True)
    assert created.net_terms == 0
    assert created.HasField("auto_issuance")
    assert created.auto_issuance is True


async def test_create_customers_without_external_id_do_not_collide(api: Api) -> None:
    """An empty external id is "none", so several customers may have none."""
    first = await create_customer(api, external_customer_id="")
    second = await create_customer(api, external_customer_id="")
    assert first.id != second.id


LONG_KEY = "k" * 41

INVALID_CREATES: list[tuple[str, dict[str, Any], str]] = [
    ("missing-name", {"name": ""}, "name"),
    ("blank-name", {"name": "   "}, "name"),
    ("name-256-chars", {"name": "n" * 256}, "name"),
    ("name-control-char", {"name": "Acme\x00Corp"}, "name"),
    ("missing-email", {"email": ""}, "email"),
    ("email-without-at", {"email": "billing.acme.example"}, "email"),
    ("email-without-domain-dot", {"email": "billing@acme"}, "email"),
    ("email-with-space", {"email": "bill ing@acme.example"}, "email"),
    ("currency-lower-case", {"currency": "usd"}, "currency"),
    ("currency-unknown", {"currency": "XXX"}, "currency"),
    ("currency-missing", {"currency": ""}, "currency"),
    ("timezone-unknown", {"timezone": "Mars/Olympus_Mons"}, "timezone"),
    ("timezone-path", {"timezone": "../../etc/passwd"}, "timezone"),
    ("net-terms-negative", {"net_terms": -1}, "net_terms"),
    ("net-terms-366", {"net_terms": 366}, "net_terms"),
    ("billing-country-3-letters", {"billing_address": common_pb2.Address(country="USA")}, "billing_address.country"),
    ("billing-country-lower", {"billing_address": common_pb2.Address(country="us")}, "billing_address.country"),
    ("shipping-country-digits", {"shipping_address": common_pb2.Address(country="U1")}, "shipping_address.country"),
    ("billing-line1-too-long", {"billing_address": common_pb2.Address(line1="x" * 256)}, "billing_address.line1"),
    (
        "tax-id-pair-not-supported",
        {
            "tax_id": common_pb2.CustomerTaxId(
                country=common_pb2.TAX_ID_COUNTRY_US, type=common_pb2.TAX_ID_TYPE_EU_VAT, value="123"
            )
        },
        "tax_id.type",
    ),
    (
        "tax-id-unknown-country-number",
        {"tax_id": common_pb2.CustomerTaxId(country=999, type=common_pb2.TAX_ID_TYPE_EU_VAT, value="DE1")},  # type: ignore[arg-type]
        "tax_id.country",
    ),
    (
        "tax-id-unknown-type-number",
        {"tax_id": common_pb2.CustomerTaxId(country=common_pb2.TAX_ID_COUNTRY_DE, type=999, value="DE1")},  # type: ignore[arg-type]
        "tax_id.type",
    ),
    (
        "tax-id-without-value",
        {"tax_id": common_pb2.CustomerTaxId(country=common_pb2.TAX_ID_COUNTRY_DE, type=common_pb2.TAX_ID_TYPE_EU_VAT)},
        "tax_id.value",
    ),
    ("metadata-51-entries", {"metadata": {f"key{i}": "v" for i in range(51)}}, "metadata"),
    ("metadata-key-41-chars", {"metadata": {LONG_KEY: "v"}}, f"metadata[{LONG_KEY[:40]!r}]"),
    ("metadata-empty-key", {"metadata": {"": "v"}}, "metadata['']"),
    ("metadata-value-501-chars", {"metadata": {"note": "v" * 501}}, "metadata['note']"),
    ("metadata-value-nul", {"metadata": {"note": "a\x00b"}}, "metadata['note']"),
    ("metadata-key-nul", {"metadata": {"k\x00": "v"}}, f"metadata[{'k' + chr(0)!r}]"),
    ("email-nul", {"email": "a\x00b@acme.example"}, "email"),
    ("external-id-nul", {"external_customer_id": "ext\x001"}, "external_customer_id"),
    ("external-id-65-chars", {"external_customer_id": "e" * 65}, "external_customer_id"),
    ("request-id-65-chars", {"request_id": "r" * 65}, "request_id"),
    ("request-id-with-space", {"request_id": "has space"}, "request_id"),
]


@pytest.mark.parametrize(("overrides", "field"), [pytest.param(o, f, id=name) for name, o, f in INVALID_CREATES])
async def test_create_customer_rejects_invalid_field(api: Api, overrides: dict[str, Any], field: str) -> None:
    """Each malformed field fails INVALID_ARGUMENT naming exactly that field, and nothing is created."""
    error = await expect_error(api.customers.CreateCustomer(customer_request(**overrides)))
    assert error.code == grpc.StatusCode.INVALID_ARGUMENT
    assert error.domain == "invoicing.v1"
    assert set(error.field_violations) == {field}
    assert_field_reasons(error)
    assert await list_customers(api) == []


async def test_create_customer_reports_every_bad_field_at_once(api: Api) -> None:
    """Several bad fields are all named in one error."""
    error = await expect_error(
        api.customers.CreateCustomer(customer_request(name="", email="nope", currency="usd", net_terms=400))
    )
    assert error.code == grpc.StatusCode.INVALID_ARGUMENT
    assert set(error.field_violations) == {"name", "email", "currency", "net_terms"}


async def test_create_customer_accepts_boundary_values(api: Api) -> None:
    """Limits are inclusive: 255-char name, 365 net terms, 50 metadata entries, 40-char keys, 64-char request id."""
    created = await create_customer(
        api,
        name="n" * 255,
        net_terms=365,
        metadata={f"{i:02d}" + "k" * 38: "v" * 500 for i in range(50)},
        request_id="r" * 64,
    )
    assert len(created.name) == 255
    assert created.net_terms == 365
    assert len(created.metadata) == 50


async def test_duplicate_external_customer_id_is_already_exists(api: Api) -> None:
    """A second customer with a taken external id fails ALREADY_EXISTS and is not created."""
    first = await create_customer(api, external_customer_id="acme-1")
    error = await expect_error(api.customers.CreateCustomer(customer_request(external_customer_id="acme-1")))
    assert error.code == grpc.StatusCode.ALREADY_EXISTS
    assert error.reason == "EXTERNAL_CUSTOMER_ID_TAKEN"
    assert [c.id for c in await list_customers(api)] == [first.id]


async def test_create_customer_replay_with_same_request_id_returns_original(api: Api) -> None:
    """The same request_id and body replays the first customer and creates nothing new."""
    request = customer_request(request_id=f"create-{uuid.uuid4().hex}")
    first = await api.customers.CreateCustomer(request)
    second = await api.customers.CreateCustomer(request)
    assert second == first
    assert [c.id for c in await list_customers(api)] == [first.id]


async def test_concurrent_identical_creates_make_one_customer(api: Api) -> None:
    """Identical requests racing with one request_id create one customer and all get it."""
    request = customer_request(request_id="race-1")
    results = await asyncio.gather(*(api.customers.CreateCustomer(request) for _ in range(8)))
    assert len({r.id for r in results}) == 1
    assert all(r == results[0] for r in results)
    assert len(await list_customers(api)) == 1


async def test_create_customer_reused_request_id_with_other_body_is_already_exists(api: Api) -> None:
    """The same request_id with a different body fails IDEMPOTENCY_KEY_REUSED and creates nothing."""
    first = await create_customer(api, request_id="key-1", name="First")
    error = await expect_error(api.customers.CreateCustomer(customer_request(request_id="key-1", name="Second")))
    assert error.code == grpc.StatusCode.ALREADY_EXISTS
    assert error.reason == "IDEMPOTENCY_KEY_REUSED"
    assert [c.id for c in await list_customers(api)] == [first.id]


async def test_request_id_reused_on_another_method_is_already_exists(api: Api) -> None:
    """A request_id used by CreateCustomer cannot be reused by CreateBalanceTransaction."""
    customer = await create_customer(api, request_id="shared-key")
    error = await expect_error(
        api.customers.CreateBalanceTransaction(
            customer_service_pb2.CreateBalanceTransactionRequest(
                customer_id=customer.id, amount="1.00", type=INCREMENT, request_id="shared-key"
            )
        )
    )
    assert error.code == grpc.StatusCode.ALREADY_EXISTS
    assert error.reason == "IDEMPOTENCY_KEY_REUSED"
    assert Decimal((await get_customer(api, customer.id)).balance) == 0


# --- GetCustomer ---------------------------------------------------------------


async def test_get_customer_by_id_and_by_external_id(api: Api) -> None:
    """Both lookups return the same customer."""
    created = await create_customer(api, external_customer_id="ext-get-1")
    by_id = await api.customers.GetCustomer(customer_service_pb2.GetCustomerRequest(customer_id=created.id))
    by_external = await api.customers.GetCustomer(
        customer_service_pb2.GetCustomerRequest(external_customer_id="ext-get-1")
    )
    assert by_id == created
    assert by_external == created


@pytest.mark.parametrize(
    "fields",
    [
        pytest.param({}, id="neither"),
        pytest.param({"customer_id": "cus_x", "external_customer_id": "ext_x"}, id="both"),
    ],
)
async def test_get_customer_needs_exactly_one_id(api: Api, fields: dict[str, str]) -> None:
    """Neither or both ids fail INVALID_ARGUMENT on customer_id."""
    error = await expect_error(api.customers.GetCustomer(customer_service_pb2.GetCustomerRequest(**fields)))
    assert error.code == grpc.StatusCode.INVALID_ARGUMENT
    assert set(error.field_violations) == {"customer_id"}


async def test_get_customer_rejects_overlong_id(api: Api) -> None:
    """An id longer than any real one is INVALID_ARGUMENT, not a lookup."""
    error = await expect_error(api.customers.GetCustomer(customer_service_pb2.GetCustomerRequest(customer_id="c" * 65)))
    assert error.code == grpc.StatusCode.INVALID_ARGUMENT
    assert "customer_id" in error.field_violations


@pytest.mark.parametrize("field", ["customer_id", "external_customer_id"])
async def test_get_customer_rejects_control_characters_in_ids(api: Api, field: str) -> None:
    """An id with a NUL byte is INVALID_ARGUMENT on that field, never an internal error."""
    ids: dict[str, Any] = {field: "cus\x00x"}
    error = await expect_error(api.customers.GetCustomer(customer_service_pb2.GetCustomerRequest(**ids)))
    assert error.code == grpc.StatusCode.INVALID_ARGUMENT
    assert set(error.field_violations) == {field}


@pytest.mark.parametrize("field", ["customer_id", "external_customer_id"])
async def test_get_unknown_customer_is_not_found(api: Api, field: str) -> None:
    """An id nobody has fails NOT_FOUND with CUSTOMER_NOT_FOUND."""
    error = await expect_error(api.customers.GetCustomer(customer_service_pb2.GetCustomerRequest(**{field: "nobody"})))
    assert error.code == grpc.StatusCode.NOT_FOUND
    assert error.reason == "CUSTOMER_NOT_FOUND"


async def test_get_other_accounts_customer_is_not_found(api: Api, other_api: Api) -> None:
    """Another account's customer is invisible, by id and by external id."""
    theirs = await create_customer(other_api, external_customer_id="theirs-1")
    await assert_customer_not_found(api, theirs)


# --- UpdateCustomer ------------------------------------------------------------


async def test_update_changes_only_present_fields(api: Api) -> None:
    """An update of the name leaves every other field as it was."""
    created = await api.customers.CreateCustomer(full_customer_request())
    updated = await api.customers.UpdateCustomer(
        customer_service_pb2.UpdateCustomerRequest(customer_id=created.id, name="Müller AG")
    )
    expected = without_updated_at(created)
    expected.name = "Müller AG"
    assert without_updated_at(updated) == expected
    assert updated.updated_at.ToDatetime() > created.updated_at.ToDatetime()
    assert await get_customer(api, created.id) == updated


async def test_update_sets_falsy_values_that_are_present(api: Api) -> None:
    """Present false and zero values are applied (presence, not truthiness, decides)."""
    created = await api.customers.CreateCustomer(full_customer_request(auto_issuance=True))
    updated = await api.customers.UpdateCustomer(
        customer_service_pb2.UpdateCustomerRequest(
            customer_id=created.id,
            email="new@mueller.example",
            auto_collection=False,
            auto_issuance=False,
            net_terms=0,
        )
    )
    assert updated.email == "new@mueller.example"
    assert updated.auto_collection is False
    assert updated.HasField("auto_issuance")
    assert updated.auto_issuance is False
    assert updated.net_terms == 0
    assert updated.name == created.name
    assert updated.tax_id == created.tax_id
    assert dict(updated.metadata) == dict(created.metadata)


async def test_update_by_external_id(api: Api) -> None:
    """The customer can be named by its external id, which stays unchanged."""
    created = await create_customer(api, external_customer_id="ext-upd-1")
    updated = await api.customers.UpdateCustomer(
        customer_service_pb2.UpdateCustomerRequest(external_customer_id="ext-upd-1", name="Renamed")
    )
    assert updated.id == created.id
    assert updated.external_customer_id == "ext-upd-1"
    assert updated.name == "Renamed"


async def test_update_replaces_an_address_and_tax_id(api: Api) -> None:
    """A new address or tax id replaces the old one as a whole."""
    created = await api.customers.CreateCustomer(full_customer_request())
    new_address = common_pb2.Address(line1="1 Main St", city="Springfield", country="US")
    new_tax_id = common_pb2.CustomerTaxId(
        country=common_pb2.TAX_ID_COUNTRY_FR, type=common_pb2.TAX_ID_TYPE_EU_VAT, value="FR12345678901"
    )
    updated = await api.customers.UpdateCustomer(
        customer_service_pb2.UpdateCustomerRequest(
            customer_id=created.id, billing_address=new_address, tax_id=new_tax_id
        )
    )
    assert updated.billing_address == new_address
    assert updated.tax_id == new_tax_id
    assert updated.shipping_address == created.shipping_address


async def test_update_with_empty_address_or_tax_id_removes_it(api: Api) -> None:
    """An Address or CustomerTaxId sent with every field empty removes it; the other address stays."""
    created = await api.customers.CreateCustomer(full_customer_request())
    updated = await api.customers.UpdateCustomer(
        customer_service_pb2.UpdateCustomerRequest(
            customer_id=created.id, billing_address=common_pb2.Address(), tax_id=common_pb2.CustomerTaxId()
        )
    )
    assert not updated.HasField("billing_address")
    assert not updated.HasField("tax_id")
    assert updated.shipping_address == created.shipping_address
    fetched = await get_customer(api, created.id)
    assert not fetched.HasField("billing_address")
    assert not fetched.HasField("tax_id")


async def test_update_metadata_set_remove_and_clear(api: Api) -> None:
    """clear applies first, then remove_keys, then set; an absent change leaves metadata alone."""
    created = await create_customer(api, metadata={"a": "1", "b": "2", "c": "3"})

    async def change(**fields: Any) -> dict[str, str]:
        updated = await api.customers.UpdateCustomer(
            customer_service_pb2.UpdateCustomerRequest(
                customer_id=created.id, metadata=common_pb2.MetadataChange(**fields)
            )
        )
        return dict(updated.metadata)

    assert await change(set={"a": "10", "d": "4"}, remove_keys=["b", "missing"]) == {"a": "10", "c": "3", "d": "4"}
    assert await change(clear=True, set={"x": "1"}) == {"x": "1"}
    assert await change(set={"y": "2"}) == {"x": "1", "y": "2"}
    assert await change(clear=True, remove_keys=["x"]) == {}
    assert await change(set={"z": "3"}) == {"z": "3"}

    untouched = await api.customers.UpdateCustomer(
        customer_service_pb2.UpdateCustomerRequest(customer_id=created.id, name="Still has metadata")
    )
    assert dict(untouched.metadata) == {"z": "3"}


async def test_update_metadata_key_removed_and_set_is_invalid(api: Api) -> None:
    """A key both removed and set fails on metadata.remove_keys and changes nothing."""
    created = await create_customer(api, metadata={"a": "1"})
    error = await expect_error(
        api.customers.UpdateCustomer(
            customer_service_pb2.UpdateCustomerRequest(
                customer_id=created.id,
                name="Changed",
                metadata=common_pb2.MetadataChange(set={"a": "2"}, remove_keys=["a"]),
            )
        )
    )
    assert error.code == grpc.StatusCode.INVALID_ARGUMENT
    assert set(error.field_violations) == {"metadata.remove_keys"}
    fetched = await get_customer(api, created.id)
    assert fetched.name == created.name
    assert dict(fetched.metadata) == {"a": "1"}


async def test_update_metadata_set_respects_entry_limits(api: Api) -> None:
    """metadata.set follows the same bounds as creation."""
    created = await create_customer(api)
    error = await expect_error(
        api.customers.UpdateCustomer(
            customer_service_pb2.UpdateCustomerRequest(
                customer_id=created.id,
                metadata=common_pb2.MetadataChange(set={f"k{i}": "v" for i in range(51)}),
            )
        )
    )
    assert error.code == grpc.StatusCode.INVALID_ARGUMENT
    assert set(error.field_violations) == {"metadata.set"}


INVALID_UPDATES: list[tuple[str, dict[str, Any], str]] = [
    ("empty-name", {"name": ""}, "name"),
    ("name-256-chars", {"name": "n" * 256}, "name"),
    ("bad-email", {"email": "nope"}, "email"),
    ("empty-email", {"email": ""}, "email"),
    ("currency-lower-case", {"currency": "usd"}, "currency"),
    ("currency-unknown", {"currency": "XXX"}, "currency"),
    ("timezone-unknown", {"timezone": "Nowhere/City"}, "timezone"),
    ("net-terms-366", {"net_terms": 366}, "net_terms"),
    ("billing-country", {"billing_address": common_pb2.Address(country="Germany")}, "billing_address.country"),
    (
        "tax-id-pair",
        {
            "tax_id": common_pb2.CustomerTaxId(
                country=common_pb2.TAX_ID_COUNTRY_US, type=common_pb2.TAX_ID_TYPE_EU_VAT, value="1"
            )
        },
        "tax_id.type",
    ),
    ("request-id-65-chars", {"request_id": "r" * 65}, "request_id"),
]


@pytest.mark.parametrize(("overrides", "field"), [pytest.param(o, f, id=name) for name, o, f in INVALID_UPDATES])
async def test_update_rejects_invalid_field(api: Api, overrides: dict[str, Any], field: str) -> None:
    """A malformed present field fails INVALID_ARGUMENT naming it, and the customer is unchanged."""
    created = await create_customer(api)
    error = await expect_error(
        api.customers.UpdateCustomer(customer_service_pb2.UpdateCustomerRequest(customer_id=created.id, **overrides))
    )
    assert error.code == grpc.StatusCode.INVALID_ARGUMENT
    assert set(error.field_violations) == {field}
    assert await get_customer(api, created.id) == created


async def test_update_needs_exactly_one_id(api: Api) -> None:
    """An update naming no customer fails INVALID_ARGUMENT on customer_id."""
    error = await expect_error(api.customers.UpdateCustomer(customer_service_pb2.UpdateCustomerRequest(name="x")))
    assert error.code == grpc.StatusCode.INVALID_ARGUMENT
    assert set(error.field_violations) == {"customer_id"}


async def test_update_currency_and_timezone_allowed_without_invoices(api: Api) -> None:
    """Before any invoice exists, currency and timezone can change."""
    created = await create_customer(api, currency="USD", timezone="UTC")
    updated = await api.customers.UpdateCustomer(
        customer_service_pb2.UpdateCustomerRequest(customer_id=created.id, currency="EUR", timezone="America/New_York")
    )
    assert updated.currency == "EUR"
    assert updated.timezone == "America/New_York"


@pytest.mark.parametrize(
    ("fields", "subject"),
    [
        pytest.param({"currency": "EUR"}, "currency", id="currency"),
        pytest.param({"timezone": "Asia/Tokyo"}, "timezone", id="timezone"),
    ],
)
async def test_update_currency_or_timezone_refused_once_invoices_exist(
    api: Api, fields: dict[str, Any], subject: str
) -> None:
    """Once the customer has an invoice, changing currency or timezone fails CUSTOMER_HAS_INVOICES."""
    created = await create_customer(api, currency="USD", timezone="UTC")
    await create_invoice(api, created)
    error = await expect_error(
        api.customers.UpdateCustomer(
            customer_service_pb2.UpdateCustomerRequest(customer_id=created.id, name="Changed", **fields)
        )
    )
    assert error.code == grpc.StatusCode.FAILED_PRECONDITION
    assert error.reason == "CUSTOMER_HAS_INVOICES"
    assert error.precondition_types == ["CUSTOMER_HAS_INVOICES"]
    assert subject in error.message
    fetched = await get_customer(api, created.id)
    assert fetched.currency == "USD"
    assert fetched.timezone == "UTC"
    assert fetched.name == created.name


async def test_update_with_invoices_allows_other_fields_and_unchanged_currency(api: Api) -> None:
    """With invoices, other fields still change, and restating the same currency and timezone is fine."""
    created = await create_customer(api, currency="USD", timezone="UTC")
    await create_invoice(api, created)
    updated = await api.customers.UpdateCustomer(
        customer_service_pb2.UpdateCustomerRequest(
            customer_id=created.id, currency="USD", timezone="UTC", name="Renamed", net_terms=45
        )
    )
    assert updated.name == "Renamed"
    assert updated.net_terms == 45
    assert updated.currency == "USD"


async def test_update_other_accounts_customer_is_not_found(api: Api, other_api: Api) -> None:
    """An update of another account's customer fails NOT_FOUND and changes nothing."""
    theirs = await create_customer(other_api, external_customer_id="theirs-upd")
    for request in (
        customer_service_pb2.UpdateCustomerRequest(customer_id=theirs.id, name="Hijacked"),
        customer_service_pb2.UpdateCustomerRequest(external_customer_id="theirs-upd", name="Hijacked"),
    ):
        error = await expect_error(api.customers.UpdateCustomer(request))
        assert error.code == grpc.StatusCode.NOT_FOUND
        assert error.reason == "CUSTOMER_NOT_FOUND"
    assert await get_customer(other_api, theirs.id) == theirs


async def test_update_replay_returns_original_response_and_changes_nothing(api: Api) -> None:
    """A retried update returns its first response and does not reapply over later changes."""
    created = await create_customer(api)
    request = customer_service_pb2.UpdateCustomerRequest(customer_id=created.id, name="First", request_id="upd-1")
    first = await api.customers.UpdateCustomer(request)
    await api.customers.UpdateCustomer(customer_service_pb2.UpdateCustomerRequest(customer_id=created.id, name="Later"))
    replay = await api.customers.UpdateCustomer(request)
    assert replay == first
    assert (await get_customer(api, created.id)).name == "Later"

    error = await expect_error(
        api.customers.UpdateCustomer(
            customer_service_pb2.UpdateCustomerRequest(customer_id=created.id, name="Other", request_id="upd-1")
        )
    )
    assert error.code == grpc.StatusCode.ALREADY_EXISTS
    assert error.reason == "IDEMPOTENCY_KEY_REUSED"


# --- CreateBalanceTransaction --------------------------------------------------


async def test_increment_and_decrement_write_ledger_rows(api: Api) -> None:
    """Each adjustment is a MANUAL_ADJUSTMENT row whose balances chain from the previous one."""
    customer = await create_customer(api)
    credit = await adjust(api, customer.id, "100.00", INCREMENT, description="goodwill credit")
    assert credit.id
    assert credit.customer_id == customer.id
    assert credit.action == MANUAL_ADJUSTMENT
    assert credit.type == INCREMENT
    assert Decimal(credit.amount) == Decimal("100.00")
    assert Decimal(credit.starting_balance) == 0
    assert Decimal(credit.ending_balance) == Decimal("100.00")
    assert credit.description == "goodwill credit"
    assert not credit.HasField("invoice")
    assert not credit.HasField("credit_note")
    assert credit.created_at.seconds > 0

    debit = await adjust(api, customer.id, "30.50", DECREMENT)
    assert debit.action == MANUAL_ADJUSTMENT
    assert debit.type == DECREMENT
    assert Decimal(debit.amount) == Decimal("30.50")
    assert Decimal(debit.starting_balance) == Decimal("100.00")
    assert Decimal(debit.ending_balance) == Decimal("69.50")

    assert Decimal((await get_customer(api, customer.id)).balance) == Decimal("69.50")


async def test_decrement_below_zero_makes_balance_negative(api: Api) -> None:
    """A decrement larger than the credit leaves an amount the customer owes."""
    customer = await create_customer(api)
    await adjust(api, customer.id, "10.00", INCREMENT)
    row = await adjust(api, customer.id, "25.25", DECREMENT)
    assert Decimal(row.ending_balance) == Decimal("-15.25")
    assert Decimal((await get_customer(api, customer.id)).balance) == Decimal("-15.25")


async def test_balance_equals_sum_of_signed_transactions(api: Api) -> None:
    """After a sequence of adjustments the balance equals the signed sum of the ledger."""
    customer = await create_customer(api)
    steps = [
        ("12.34", INCREMENT),
        ("0.01", INCREMENT),
        ("5.00", DECREMENT),
        ("100", INCREMENT),
        ("99.99", DECREMENT),
        ("0.66", DECREMENT),
    ]
    for amount, kind in steps:
        await adjust(api, customer.id, amount, kind)
    expected = sum((Decimal(a) if k == INCREMENT else -Decimal(a) for a, k in steps), Decimal(0))
    rows = await ledger(api, customer.id)
    assert len(rows) == len(steps)
    assert sum((signed(t) for t in rows), Decimal(0)) == expected
    assert Decimal((await get_customer(api, customer.id)).balance) == expected == Decimal("6.70")


async def test_balance_transaction_by_external_customer_id(api: Api) -> None:
    """The customer can be named by external id."""
    customer = await create_customer(api, external_customer_id="ext-bal-1")
    row = await api.customers.CreateBalanceTransaction(
        customer_service_pb2.CreateBalanceTransactionRequest(
            external_customer_id="ext-bal-1", amount="7.00", type=INCREMENT
        )
    )
    assert row.customer_id == customer.id
    assert Decimal((await get_customer(api, customer.id)).balance) == Decimal("7.00")


@pytest.mark.parametrize(
    ("currency", "amount"),
    [
        pytest.param("USD", "1.001", id="usd-3-decimals"),
        pytest.param("JPY", "1.5", id="jpy-1-decimal"),
        pytest.param("KWD", "1.0001", id="kwd-4-decimals"),
    ],
)
async def test_amount_more_precise_than_currency_is_invalid(api: Api, currency: str, amount: str) -> None:
    """An amount finer than the currency's minor unit fails on amount and writes nothing."""
    customer = await create_customer(api, currency=currency)
    error = await expect_error(
        api.customers.CreateBalanceTransaction(
            customer_service_pb2.CreateBalanceTransactionRequest(
                customer_id=customer.id, amount=amount, type=INCREMENT, request_id="precise-1"
            )
        )
    )
    assert error.code == grpc.StatusCode.INVALID_ARGUMENT
    assert set(error.field_violations) == {"amount"}
    assert await ledger(api, customer_id=customer.id) == []
    assert Decimal((await get_customer(api, customer.id)).balance) == 0


@pytest.mark.parametrize(
    ("currency", "amount"),
    [
        pytest.param("USD", "1.5", id="usd-1-decimal"),
        pytest.param("JPY", "1500", id="jpy-integer"),
        pytest.param("KWD", "1.005", id="kwd-3-decimals"),
    ],
)
async def test_amount_within_currency_precision_is_accepted(api: Api, currency: str, amount: str) -> None:
    """Amounts at or coarser than the minor unit are accepted exactly."""
    customer = await create_customer(api, currency=currency)
    row = await adjust(api, customer.id, amount)
    assert Decimal(row.amount) == Decimal(amount)
    assert Decimal((await get_customer(api, customer.id)).balance) == Decimal(amount)


@pytest.mark.parametrize(
    "amount",
    ["0", "0.00", "-5", "-0.01", "", "abc", "1e3", " 1", "1,50", "NaN", "Infinity", "+1", "1.", ".5"],
)
async def test_amount_must_be_a_positive_decimal(api: Api, amount: str) -> None:
    """Zero, negative and non-decimal amounts fail INVALID_ARGUMENT on amount."""
    customer = await create_customer(api)
    error = await expect_error(
        api.customers.CreateBalanceTransaction(
            customer_service_pb2.CreateBalanceTransactionRequest(customer_id=customer.id, amount=amount, type=INCREMENT)
        )
    )
    assert error.code == grpc.StatusCode.INVALID_ARGUMENT
    assert set(error.field_violations) == {"amount"}
    assert Decimal((await get_customer(api, customer.id)).balance) == 0


@pytest.mark.parametrize("kind", [customer_pb2.BALANCE_TRANSACTION_TYPE_UNSPECIFIED, 99])
async def test_balance_transaction_type_is_required(api: Api, kind: int) -> None:
    """An unspecified or unknown type fails INVALID_ARGUMENT on type."""
    customer = await create_customer(api)
    error = await expect_error(
        api.customers.CreateBalanceTransaction(
            customer_service_pb2.CreateBalanceTransactionRequest(customer_id=customer.id, amount="1.00", type=kind)  # type: ignore[arg-type]
        )
    )
    assert error.code == grpc.StatusCode.INVALID_ARGUMENT
    assert set(error.field_violations) == {"type"}


async def test_balance_transaction_description_is_bounded(api: Api) -> None:
    """A description over 1000 characters fails on description."""
    customer = await create_customer(api)
    error = await expect_error(
        api.customers.CreateBalanceTransaction(
            customer_service_pb2.CreateBalanceTransactionRequest(
                customer_id=customer.id, amount="1.00", type=INCREMENT, description="d" * 1001
            )
        )
    )
    assert error.code == grpc.StatusCode.INVALID_ARGUMENT
    assert set(error.field_violations) == {"description"}


async def test_balance_transaction_needs_a_customer(api: Api) -> None:
    """No customer id fails on customer_id; an unknown one is NOT_FOUND."""
    error = await expect_error(
        api.customers.CreateBalanceTransaction(
            customer_service_pb2.CreateBalanceTransactionRequest(amount="1.00", type=INCREMENT)
        )
    )
    assert error.code == grpc.StatusCode.INVALID_ARGUMENT
    assert set(error.field_violations) == {"customer_id"}

    error = await expect_error(
        api.customers.CreateBalanceTransaction(
            customer_service_pb2.CreateBalanceTransactionRequest(
                customer_id="cus_nobody", amount="1.00", type=INCREMENT
            )
        )
    )
    assert error.code == grpc.StatusCode.NOT_FOUND
    assert error.reason == "CUSTOMER_NOT_FOUND"


async def test_balance_transaction_on_other_accounts_customer_is_not_found(api: Api, other_api: Api) -> None:
    """Another account's customer cannot be credited, and its balance does not move."""
    theirs = await create_customer(other_api)
    error = await expect_error(
        api.customers.CreateBalanceTransaction(
            customer_service_pb2.CreateBalanceTransactionRequest(customer_id=theirs.id, amount="50.00", type=INCREMENT)
        )
    )
    assert error.code == grpc.StatusCode.NOT_FOUND
    assert error.reason == "CUSTOMER_NOT_FOUND"
    assert Decimal((await get_customer(other_api, theirs.id)).balance) == 0


async def test_balance_transaction_replay_applies_once(api: Api) -> None:
    """Retrying with the same request_id returns the same row and moves the balance once."""
    customer = await create_customer(api)
    request = customer_service_pb2.CreateBalanceTransactionRequest(
        customer_id=customer.id, amount="25.00", type=INCREMENT, request_id="credit-1"
    )
    first = await api.customers.CreateBalanceTransaction(request)
    again = await asyncio.gather(*(api.customers.CreateBalanceTransaction(request) for _ in range(5)))
    assert all(row == first for row in again)
    assert [t.id for t in await ledger(api, customer_id=customer.id)] == [first.id]
    assert Decimal((await get_customer(api, customer.id)).balance) == Decimal("25.00")


async def test_concurrent_adjustments_lose_no_update(api: Api) -> None:
    """30 concurrent adjustments: balance equals the ledger sum and every row chains from the previous."""
    customer = await create_customer(api)
    amounts = [(f"{i}.{i:02d}", INCREMENT if i % 4 else DECREMENT) for i in range(1, 31)]
    rows = await asyncio.gather(*(adjust(api, customer.id, amount, kind) for amount, kind in amounts))
    expected = sum((signed(r) for r in rows), Decimal(0))
    assert expected == sum((Decimal(a) if k == INCREMENT else -Decimal(a) for a, k in amounts), Decimal(0))

    listed = await ledger(api, customer.id)
    assert {t.id for t in listed} == {r.id for r in rows}
    assert_ledger_chains(listed)
    assert Decimal(listed[0].ending_balance) == expected
    assert Decimal((await get_customer(api, customer.id)).balance) == expected


# --- ListCustomers -------------------------------------------------------------


async def test_list_customers_streams_newest_first_in_batches(api: Api) -> None:
    """More customers than one batch arrive in several messages, newest first, each exactly once."""
    created = await create_many(api, 2 * BATCH + 20)
    messages = await list_customer_messages(api)
    assert [len(m.customers) for m in messages] == [BATCH, BATCH, 20]
    assert all(m.resume_token for m in messages)
    listed = [c for m in messages for c in m.customers]
    assert [c.id for c in listed] == [c.id for c in sorted(created, key=sort_key, reverse=True)]
    by_id = {c.id: c for c in created}
    assert all(c == by_id[c.id] for c in listed)


async def test_list_customers_newest_first_for_sequential_creates(api: Api) -> None:
    """Customers created one after another list in reverse creation order."""
    created = [await create_customer(api, name=f"C{i}") for i in range(5)]
    assert [c.id for c in await list_customers(api)] == [c.id for c in reversed(created)]


async def test_list_customers_stream_reads_one_snapshot(api: Api) -> None:
    """Changes committed while a stream runs are not seen by it: new customers and later edits stay out."""
    created = await create_many(api, BATCH + 10)
    expected = sorted(created, key=sort_key, reverse=True)
    oldest = expected[-1]
    call = api.customers.ListCustomers(customer_service_pb2.ListCustomersRequest())
    seen: list[customer_pb2.Customer] = []
    late: customer_pb2.Customer | None = None
    async for message in call:
        seen += message.customers
        if late is None:
            late = await create_customer(api, name="Created mid-stream")
            await api.customers.UpdateCustomer(
                customer_service_pb2.UpdateCustomerRequest(customer_id=oldest.id, name="Renamed mid-stream")
            )
    assert late is not None
    assert [c.id for c in seen] == [c.id for c in expected]
    assert seen[-1] == oldest
    after = await list_customers(api)
    assert after[0].id == late.id
    assert after[-1].name == "Renamed mid-stream"


async def test_list_customers_limit_caps_the_whole_stream(api: Api) -> None:
    """limit bounds the records of the whole stream, across batches."""
    created = await create_many(api, BATCH + 30)
    newest = [c.id for c in sorted(created, key=sort_key, reverse=True)]
    messages = await list_customer_messages(api, limit=BATCH + 10)
    assert [c.id for m in messages for c in m.customers] == newest[: BATCH + 10]
    assert [c.id for c in await list_customers(api, limit=3)] == newest[:3]


async def test_list_customers_resumes_without_gap_or_duplicate(api: Api) -> None:
    """Resuming with a message's token continues right after that message."""
    await create_many(api, 2 * BATCH + 5)
    full = [c.id for c in await list_customers(api)]

    first = await first_message(api.customers.ListCustomers(customer_service_pb2.ListCustomersRequest()))
    rest = await list_customer_messages(api, resume_token=first.resume_token)
    resumed = [c.id for c in first.customers] + [c.id for m in rest for c in m.customers]
    assert resumed == full

    second_token = rest[0].resume_token
    tail = [c.id for c in await list_customers(api, resume_token=second_token)]
    assert tail == full[2 * BATCH :]

    last_token = rest[-1].resume_token
    assert await list_customers(api, resume_token=last_token) == []


async def test_list_customers_resume_with_limit(api: Api) -> None:
    """A resumed stream honours its own limit."""
    created = await create_many(api, BATCH + 10)
    newest = [c.id for c in sorted(created, key=sort_key, reverse=True)]
    first = await first_message(api.customers.ListCustomers(customer_service_pb2.ListCustomersRequest(limit=5)))
    assert [c.id for c in first.customers] == newest[:5]
    resumed = await list_customers(api, resume_token=first.resume_token, limit=4)
    assert [c.id for c in resumed] == newest[5:9]


async def test_list_customers_rejects_tampered_token(api: Api) -> None:
    """A token with one character changed fails RESUME_TOKEN_INVALID on resume_token."""
    await create_many(api, 3)
    token = (await list_customer_messages(api))[0].resume_token
    middle = len(token) // 2
    tampered = token[:middle] + ("A" if token[middle] != "A" else "B") + token[middle + 1 :]
    for bad in (tampered, "not-a-token", token[:-4], "x" * 600):
        error = await expect_error(
            api.customers.ListCustomers(customer_service_pb2.ListCustomersRequest(resume_token=bad))
        )
        assert error.code == grpc.StatusCode.INVALID_ARGUMENT
        assert error.reason == "RESUME_TOKEN_INVALID"
        assert set(error.field_violations) == {"resume_token"}


async def test_list_customers_token_rejected_with_other_filters(api: Api) -> None:
    """A token is bound to its filters: reused with a created_at filter it is rejected."""
    created = await create_many(api, 3)
    token = (await list_customer_messages(api))[0].resume_token
    error = await expect_error(
        api.customers.ListCustomers(
            customer_service_pb2.ListCustomersRequest(resume_token=token, created_at_gte=created[0].created_at)
        )
    )
    assert error.code == grpc.StatusCode.INVALID_ARGUMENT
    assert error.reason == "RESUME_TOKEN_INVALID"
    assert set(error.field_violations) == {"resume_token"}


async def test_list_customers_token_not_usable_by_other_account_or_rpc(api: Api, other_api: Api) -> None:
    """A token from one account does not open in another, nor in another List RPC."""
    customer = await create_customer(api)
    await create_customer(other_api)
    token = (await list_customer_messages(api))[0].resume_token
    error = await expect_error(
        other_api.customers.ListCustomers(customer_service_pb2.ListCustomersRequest(resume_token=token))
    )
    assert error.code == grpc.StatusCode.INVALID_ARGUMENT
    assert error.reason == "RESUME_TOKEN_INVALID"
    error = await expect_error(
        api.customers.ListBalanceTransactions(
            customer_service_pb2.ListBalanceTransactionsRequest(customer_id=customer.id, resume_token=token)
        )
    )
    assert error.code == grpc.StatusCode.INVALID_ARGUMENT
    assert error.reason == "RESUME_TOKEN_INVALID"


async def test_list_customers_negative_limit_is_invalid(api: Api) -> None:
    """A negative limit fails on limit."""
    error = await expect_error(api.customers.ListCustomers(customer_service_pb2.ListCustomersRequest(limit=-1)))
    assert error.code == grpc.StatusCode.INVALID_ARGUMENT
    assert set(error.field_violations) == {"limit"}


async def test_list_customers_created_at_filters(api: Api) -> None:
    """created_at_gt/gte/lt/lte bound the list exactly at a customer's own timestamp."""
    old, middle, new = [await create_customer(api, name=n) for n in ("old", "middle", "new")]
    at: timestamp_pb2.Timestamp = middle.created_at

    async def ids(**fields: Any) -> list[str]:
        return [c.id for c in await list_customers(api, **fields)]

    assert await ids(created_at_gt=at) == [new.id]
    assert await ids(created_at_gte=at) == [new.id, middle.id]
    assert await ids(created_at_lt=at) == [old.id]
    assert await ids(created_at_lte=at) == [middle.id, old.id]
    assert await ids(created_at_gte=at, created_at_lte=at) == [middle.id]
    assert await ids(created_at_gt=new.created_at) == []


OUT_OF_RANGE_TIMESTAMPS = [
    pytest.param(timestamp_pb2.Timestamp(seconds=10**12), id="after-year-9999"),
    pytest.param(timestamp_pb2.Timestamp(seconds=-(10**12)), id="before-year-1"),
    pytest.param(timestamp_pb2.Timestamp(seconds=0, nanos=-5), id="negative-nanos"),
]


@pytest.mark.parametrize("field", ["created_at_gt", "created_at_gte", "created_at_lt", "created_at_lte"])
@pytest.mark.parametrize("bound", OUT_OF_RANGE_TIMESTAMPS)
async def test_list_filters_reject_invalid_timestamps(api: Api, field: str, bound: timestamp_pb2.Timestamp) -> None:
    """A Timestamp outside its valid range fails INVALID_ARGUMENT on that filter, in both List RPCs."""
    customer = await create_customer(api)
    filters: dict[str, Any] = {field: bound}
    error = await expect_error(api.customers.ListCustomers(customer_service_pb2.ListCustomersRequest(**filters)))
    assert error.code == grpc.StatusCode.INVALID_ARGUMENT
    assert set(error.field_violations) == {field}
    error = await expect_error(
        api.customers.ListBalanceTransactions(
            customer_service_pb2.ListBalanceTransactionsRequest(customer_id=customer.id, **filters)
        )
    )
    assert error.code == grpc.StatusCode.INVALID_ARGUMENT
    assert set(error.field_violations) == {field}


async def test_list_filters_accept_timestamp_range_limits(api: Api) -> None:
    """The first and last valid Timestamps are accepted as bounds."""
    customer = await create_customer(api)
    first = timestamp_pb2.Timestamp(seconds=-62_135_596_800)
    last = timestamp_pb2.Timestamp(seconds=253_402_300_799, nanos=999_999_999)
    assert [c.id for c in await list_customers(api, created_at_gt=first, created_at_lt=last)] == [customer.id]
    assert await list_customers(api, created_at_gt=last) == []


async def test_list_customers_never_shows_other_accounts(api: Api, other_api: Api) -> None:
    """Each account lists exactly its own customers."""
    mine = {c.id for c in await create_many(api, 4)}
    theirs = {c.id for c in await create_many(other_api, 3)}
    assert {c.id for c in await list_customers(api)} == mine
    assert {c.id for c in await list_customers(other_api)} == theirs


async def test_list_customers_shows_current_balance(api: Api) -> None:
    """Listed customers carry their balance like GetCustomer does."""
    customer = await create_customer(api)
    await adjust(api, customer.id, "12.00")
    [listed] = await list_customers(api)
    assert Decimal(listed.balance) == Decimal("12.00")


# --- ListBalanceTransactions ---------------------------------------------------


async def test_list_balance_transactions_newest_first_by_id_and_external_id(api: Api) -> None:
    """The ledger lists newest first, the same whether the customer is named by id or external id."""
    customer = await create_customer(api, external_customer_id="ext-ledger-1")
    rows = [await adjust(api, customer.id, f"{i}.00") for i in range(1, 6)]
    by_id = await ledger(api, customer_id=customer.id)
    by_external = await ledger(api, external_customer_id="ext-ledger-1")
    assert [t.id for t in by_id] == [r.id for r in reversed(rows)]
    assert by_external == by_id
    assert by_id == list(reversed(rows))


async def test_list_balance_transactions_only_that_customers(api: Api) -> None:
    """Another customer's adjustments are not in the list."""
    first = await create_customer(api)
    second = await create_customer(api)
    mine = await adjust(api, first.id, "1.00")
    await adjust(api, second.id, "2.00")
    assert [t.id for t in await ledger(api, customer_id=first.id)] == [mine.id]


async def test_list_balance_transactions_limit(api: Api) -> None:
    """limit returns the newest rows only."""
    customer = await create_customer(api)
    rows = [await adjust(api, customer.id, f"{i}.00") for i in range(1, 6)]
    listed = await ledger(api, customer_id=customer.id, limit=2)
    assert [t.id for t in listed] == [rows[4].id, rows[3].id]


async def test_list_balance_transactions_batches_and_resume(api: Api) -> None:
    """A long ledger streams in batches and resumes right after a message."""
    customer = await create_customer(api)
    gate = asyncio.Semaphore(8)

    async def one(index: int) -> customer_pb2.BalanceTransaction:
        async with gate:
            return await adjust(api, customer.id, f"{index}.00")

    rows = await asyncio.gather(*(one(i) for i in range(1, BATCH + 13)))
    request = customer_service_pb2.ListBalanceTransactionsRequest(customer_id=customer.id)
    messages = [m async for m in api.customers.ListBalanceTransactions(request)]
    assert [len(m.balance_transactions) for m in messages] == [BATCH, 12]
    listed = [t for m in messages for t in m.balance_transactions]
    assert [t.id for t in listed] == [r.id for r in sorted(rows, key=sort_key, reverse=True)]
    assert_ledger_chains(listed)

    resumed = await ledger(api, customer_id=customer.id, resume_token=messages[0].resume_token)
    assert [t.id for t in resumed] == [t.id for t in listed[BATCH:]]


async def test_list_balance_transactions_created_at_filters(api: Api) -> None:
    """created_at bounds select rows by their recording instant."""
    customer = await create_customer(api)
    old, middle, new = [await adjust(api, customer.id, a) for a in ("1.00", "2.00", "3.00")]
    at = middle.created_at
    gt = await ledger(api, customer_id=customer.id, created_at_gt=at)
    lte = await ledger(api, customer_id=customer.id, created_at_lte=at)
    assert [t.id for t in gt] == [new.id]
    assert [t.id for t in lte] == [middle.id, old.id]


async def test_list_balance_transactions_empty_for_new_customer(api: Api) -> None:
    """A customer without adjustments has an empty ledger."""
    customer = await create_customer(api)
    assert await ledger(api, customer_id=customer.id) == []


@pytest.mark.parametrize("field", ["customer_id", "external_customer_id"])
async def test_list_balance_transactions_unknown_customer_is_not_found(api: Api, field: str) -> None:
    """An unknown customer fails NOT_FOUND."""
    ids: dict[str, Any] = {field: "nobody"}
    request = customer_service_pb2.ListBalanceTransactionsRequest(**ids)
    error = await expect_error(api.customers.ListBalanceTransactions(request))
    assert error.code == grpc.StatusCode.NOT_FOUND
    assert error.reason == "CUSTOMER_NOT_FOUND"


async def test_list_balance_transactions_of_other_account_is_not_found(api: Api, other_api: Api) -> None:
    """Another account's ledger is invisible."""
    theirs = await create_customer(other_api)
    await adjust(other_api, theirs.id, "5.00")
    request = customer_service_pb2.ListBalanceTransactionsRequest(customer_id=theirs.id)
    error = await expect_error(api.customers.ListBalanceTransactions(request))
    assert error.code == grpc.StatusCode.NOT_FOUND
    assert error.reason == "CUSTOMER_NOT_FOUND"


async def test_list_balance_transactions_needs_exactly_one_id(api: Api) -> None:
    """Neither id fails INVALID_ARGUMENT on customer_id."""
    error = await expect_error(
        api.customers.ListBalanceTransactions(customer_service_pb2.ListBalanceTransactionsRequest())
    )
    assert error.code == grpc.StatusCode.INVALID_ARGUMENT
    assert set(error.field_violations) == {"customer_id"}
