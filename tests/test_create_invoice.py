"""CreateInvoice and GetInvoice through the real server: amounts, defaults, copies, and every refusal."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from decimal import Decimal, localcontext
from typing import Any

import grpc
import pytest
from google.type import date_pb2
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from invoicing.v1 import common_pb2, invoice_pb2, invoice_service_pb2, price_pb2

from server.config import Settings
from tests.support.builders import (
    amount_off,
    create_customer,
    create_invoice,
    date,
    invoice_request,
    line,
    percentage_off,
    today_utc,
    usage_off,
)
from tests.support.calls import get_invoice
from tests.support.client import Api, StatusDetails, assert_field_reasons, expect_error
from tests.support.money import EXPONENTS, LINE_AMOUNTS, half_up

ERROR_DOMAIN = "invoicing.v1"


def expected_line_amount(quantity: str, unit_amount: str, currency: str) -> Decimal:
    """quantity × unit_amount computed exactly, rounded half-up once to the currency's minor unit."""
    with localcontext(prec=200):
        return half_up(Decimal(quantity) * Decimal(unit_amount), EXPONENTS[currency])


def exact_sum(values: list[str]) -> Decimal:
    """The exact sum of decimal strings."""
    with localcontext(prec=200):
        return sum((Decimal(v) for v in values), Decimal(0))


def has_scale(text: str, currency: str) -> bool:
    """True when a wire amount has exactly the currency's number of decimals."""
    places = EXPONENTS[currency]
    pattern = r"-?\d+" if places == 0 else rf"-?\d+\.\d{{{places}}}"
    return re.fullmatch(pattern, text) is not None


def assert_invalid(error: StatusDetails, field: str) -> None:
    """INVALID_ARGUMENT naming exactly this field."""
    assert error.code == grpc.StatusCode.INVALID_ARGUMENT, error
    assert error.domain == ERROR_DOMAIN
    assert field in error.field_violations, error.field_violations
    assert set(error.field_violations) == {field}, error.field_violations
    assert_field_reasons(error)


# --- happy paths ---------------------------------------------------------------------


async def test_create_invoice_prices_every_line_and_sums_the_totals(api: Api) -> None:
    """Each line is quantity × unit_amount rounded half-up once; subtotal, total and amount due are their sum."""
    customer = await create_customer(api, net_terms=15)
    invoice = await create_invoice(
        api,
        customer,
        line_items=[
            line("Seats", "3", "0.125"),
            line("API calls", "1000.5", "0.0125"),
            line("Support", "1", "99.99", start_date=date("2024-01-15"), end_date=date("2024-01-15")),
        ],
    )
    assert invoice.id
    assert invoice.status == invoice_pb2.INVOICE_STATUS_DRAFT
    assert invoice.invoice_source == invoice_pb2.INVOICE_SOURCE_ONE_OFF
    assert invoice.invoice_number == ""
    assert invoice.version == 1
    assert invoice.currency == "USD"
    assert invoice.customer.id == customer.id
    assert invoice.customer.external_customer_id == customer.external_customer_id
    assert invoice.invoice_date == date("2024-02-01")
    assert not invoice.HasField("due_date")
    assert not invoice.HasField("issued_at")
    assert invoice.HasField("created_at")

    assert [li.name for li in invoice.line_items] == ["Seats", "API calls", "Support"]
    assert [li.quantity for li in invoice.line_items] == ["3", "1000.5", "1"]
    assert [li.price.unit_config.unit_amount for li in invoice.line_items] == ["0.125", "0.0125", "99.99"]
    assert [li.subtotal for li in invoice.line_items] == ["0.38", "12.51", "99.99"]
    assert [li.adjusted_subtotal for li in invoice.line_items] == ["0.38", "12.51", "99.99"]
    assert [li.amount for li in invoice.line_items] == ["0.38", "12.51", "99.99"]
    assert [li.credits_applied for li in invoice.line_items] == ["0.00", "0.00", "0.00"]
    assert all(li.is_one_off and not li.adjustments for li in invoice.line_items)
    assert len({li.id for li in invoice.line_items}) == 3
    assert invoice.line_items[2].start_date == date("2024-01-15")
    assert invoice.line_items[0].end_date == date("2024-01-31")

    assert (invoice.subtotal, invoice.total, invoice.amount_due) == ("112.88", "112.88", "112.88")
    assert not invoice.discounts
    assert not invoice.HasField("discount")


async def test_create_invoice_by_external_customer_id(api: Api) -> None:
    """external_customer_id finds the customer just as customer_id does."""
    customer = await create_customer(api, external_customer_id="acme-42")
    invoice = await create_invoice(api, customer, customer_id="", external_customer_id="acme-42")
    assert invoice.customer.id == customer.id
    assert invoice.customer.external_customer_id == "acme-42"
    assert invoice.total == "30.00"


async def test_net_terms_default_to_the_customers(api: Api) -> None:
    """Without net_terms or due_date the invoice takes the customer's net terms."""
    customer = await create_customer(api, net_terms=45)
    invoice = await create_invoice(api, customer)
    assert invoice.net_terms == 45
    assert not invoice.HasField("due_date")


async def test_explicit_net_terms_win_even_when_zero(api: Api) -> None:
    """An explicit net_terms of 0 (due on receipt) is not mistaken for "absent"."""
    customer = await create_customer(api, net_terms=45)
    assert (await create_invoice(api, customer, net_terms=0)).net_terms == 0
    assert (await create_invoice(api, customer, net_terms=7)).net_terms == 7


async def test_explicit_due_date_is_kept(api: Api) -> None:
    """A due date on or after the invoice date is stored as given."""
    customer = await create_customer(api)
    invoice = await create_invoice(api, customer, due_date=date("2024-03-15"))
    assert invoice.due_date == date("2024-03-15")
    same_day = await create_invoice(api, customer, due_date=date("2024-02-01"))
    assert same_day.due_date == date("2024-02-01")


async def test_memo_metadata_and_auto_collection_are_kept(api: Api) -> None:
    """Memo (multi-line, non-ASCII) and metadata come back unchanged; auto collection follows the request."""
    customer = await create_customer(api, auto_collection=True)
    memo = "Thanks for your business!\nPaiement à 30 jours — 感谢"
    metadata = {"po_number": "PO-1234", "region": "eu-west", "empty": ""}
    invoice = await create_invoice(api, customer, memo=memo, metadata=metadata, auto_collection=False)
    assert invoice.memo == memo
    assert dict(invoice.metadata) == metadata
    assert invoice.auto_collection.enabled is False
    defaulted = await create_invoice(api, customer)
    assert defaulted.auto_collection.enabled is True
    assert defaulted.memo == ""
    assert dict(defaulted.metadata) == {}


async def test_customer_addresses_and_tax_id_are_copied_onto_the_invoice(api: Api) -> None:
    """The invoice header carries the customer's billing and shipping addresses and tax id."""
    billing = common_pb2.Address(line1="1 Main St", city="Berlin", postal_code="10115", country="DE")
    shipping = common_pb2.Address(line1="2 Dock Rd", city="Hamburg", country="DE")
    tax_id = common_pb2.CustomerTaxId(
        country=common_pb2.TAX_ID_COUNTRY_DE, type=common_pb2.TAX_ID_TYPE_EU_VAT, value="DE123456789"
    )
    customer = await create_customer(
        api, currency="EUR", billing_address=billing, shipping_address=shipping, tax_id=tax_id
    )
    invoice = await create_invoice(api, customer)
    assert invoice.billing_address == billing
    assert invoice.shipping_address == shipping
    assert invoice.customer_tax_id == tax_id
    assert invoice.currency == "EUR"


async def test_customer_without_addresses_gives_an_invoice_without_them(api: Api) -> None:
    """Nothing to copy: the header fields stay unset."""
    customer = await create_customer(api)
    invoice = await create_invoice(api, customer)
    assert not invoice.HasField("billing_address")
    assert not invoice.HasField("customer_tax_id")


async def test_percentage_discount_is_taken_from_each_line(api: Api) -> None:
    """A 10% discount becomes an invoice-level adjustment per line; the discounted amount is rounded half-up:
    10.05 × 0.9 = 9.045 → 9.05 (1.00 off); 0.05 × 0.9 = 0.045 → 0.05 (nothing off: no adjustment)."""
    customer = await create_customer(api)
    discount = percentage_off("0.1", reason="launch promo")
    invoice = await create_invoice(
        api, customer, line_items=[line("A", "1", "10.05"), line("B", "1", "0.05")], discount=discount
    )
    assert [li.subtotal for li in invoice.line_items] == ["10.05", "0.05"]
    assert list(invoice.line_items[1].adjustments) == []
    for item, taken in zip(invoice.line_items[:1], ["-1.00"], strict=True):
        assert len(item.adjustments) == 1
        adjustment = item.adjustments[0]
        assert adjustment.adjustment_type == invoice_pb2.ADJUSTMENT_TYPE_PERCENTAGE_DISCOUNT
        assert adjustment.amount == taken
        assert adjustment.percentage_discount == "0.1"
        assert adjustment.is_invoice_level is True
        assert adjustment.reason == "launch promo"
        assert adjustment.id
    assert [li.adjusted_subtotal for li in invoice.line_items] == ["9.05", "0.05"]
    assert [li.amount for li in invoice.line_items] == ["9.05", "0.05"]
    assert (invoice.subtotal, invoice.total, invoice.amount_due) == ("10.10", "9.10", "9.10")
    assert Decimal(invoice.total) == exact_sum([li.amount for li in invoice.line_items])
    assert invoice.discount.discount_type == price_pb2.DISCOUNT_TYPE_PERCENTAGE
    assert invoice.discount.percentage_discount == "0.1"
    assert invoice.discount.reason == "launch promo"
    assert list(invoice.discounts) == [invoice.discount]


async def test_amount_discount_is_spread_over_the_lines(api: Api) -> None:
    """10.00 off three 10.00 lines: 3.34 + 3.33 + 3.33, and the total is still the sum of the lines."""
    customer = await create_customer(api)
    discount = amount_off("10.00")
    invoice = await create_invoice(
        api,
        customer,
        line_items=[line("A", "1", "10"), line("B", "2", "5"), line("C", "4", "2.5")],
        discount=discount,
    )
    adjustments = [li.adjustments[0] for li in invoice.line_items]
    assert [a.amount for a in adjustments] == ["-3.34", "-3.33", "-3.33"]
    assert all(a.adjustment_type == invoice_pb2.ADJUSTMENT_TYPE_AMOUNT_DISCOUNT for a in adjustments)
    assert all(a.amount_discount == "10.00" and a.is_invoice_level for a in adjustments)
    assert [li.amount for li in invoice.line_items] == ["6.66", "6.67", "6.67"]
    assert (invoice.subtotal, invoice.total, invoice.amount_due) == ("30.00", "20.00", "20.00")
    assert invoice.discount.amount_discount == "10.00"


async def test_amount_discount_larger_than_the_subtotal_zeroes_the_invoice(api: Api) -> None:
    """The discount is capped at the subtotal: the invoice total is 0, never negative."""
    customer = await create_customer(api, currency="JPY")
    discount = amount_off("100000")
    invoice = await create_invoice(
        api, customer, line_items=[line("A", "3", "333"), line("B", "1", "1")], discount=discount
    )
    assert [li.adjustments[0].amount for li in invoice.line_items] == ["-999", "-1"]
    assert (invoice.subtotal, invoice.total, invoice.amount_due) == ("1000", "0", "0")


async def test_get_invoice_returns_exactly_the_created_invoice(api: Api) -> None:
    """A read gives back the very message the create returned, field for field."""
    customer = await create_customer(api, billing_address=common_pb2.Address(city="Paris", country="FR"))
    discount = percentage_off("0.25")
    created = await create_invoice(
        api,
        customer,
        line_items=[line("A", "2", "19.99"), line("B", "0.5", "3.333")],
        discount=discount,
        memo="memo",
        metadata={"k": "v"},
        due_date=date("2024-02-20"),
    )
    fetched = await get_invoice(api, created.id)
    assert fetched == created
    assert fetched.SerializeToString(deterministic=True) == created.SerializeToString(deterministic=True)


@pytest.mark.parametrize(("currency", "quantity", "unit_amount", "expected"), LINE_AMOUNTS)
async def test_line_amount_is_rounded_half_up_to_the_currency_minor_unit(
    api: Api, currency: str, quantity: str, unit_amount: str, expected: str
) -> None:
    """Half-up at the currency's exponent, exact for values floats get wrong and for 17-digit values."""
    customer = await create_customer(api, currency=currency)
    invoice = await create_invoice(api, customer, line_items=[line("X", quantity, unit_amount)])
    assert invoice.line_items[0].amount == expected
    assert invoice.total == expected
    assert invoice.line_items[0].quantity == quantity
    assert invoice.line_items[0].price.unit_config.unit_amount == unit_amount


async def test_many_small_lines_sum_without_float_drift(api: Api) -> None:
    """Thirty lines of 0.1 × 0.2 make 0.60 exactly (floats would give 0.6000000000000001)."""
    customer = await create_customer(api)
    invoice = await create_invoice(api, customer, line_items=[line(f"L{i}", "0.1", "0.2") for i in range(30)])
    assert {li.amount for li in invoice.line_items} == {"0.02"}
    assert invoice.total == "0.60"


async def test_an_invoice_may_have_500_lines(api: Api) -> None:
    """The upper bound itself is accepted, in order."""
    customer = await create_customer(api)
    invoice = await create_invoice(api, customer, line_items=[line(f"L{i}", "1", "0.01") for i in range(500)])
    assert len(invoice.line_items) == 500
    assert invoice.line_items[499].name == "L499"
    assert invoice.total == "5.00"


async def test_invoice_date_up_to_a_year_ahead_is_accepted(api: Api) -> None:
    """A future invoice date within a year is fine."""
    customer = await create_customer(api)
    day = today_utc() + dt.timedelta(days=300)
    invoice = await create_invoice(api, customer, invoice_date=date(day))
    assert invoice.invoice_date == date(day)


# --- property: amounts through the server ---------------------------------------------------


TRICKY = ["0.1", "0.2", "0.3", "0.125", "1.005", "2.675", "1.115", "0.0005", "0.333333333333", "99999999999999999"]


@st.composite
def wire_decimal(draw: st.DrawFn) -> str:
    """A non-negative decimal string within the wire limits, often one that floats get wrong."""
    if draw(st.booleans()):
        return draw(st.sampled_from(TRICKY))
    places = draw(st.integers(0, 12))
    digits = draw(st.sampled_from([0, 1, 2, 4, 9, 17]))
    width = digits + places
    coefficient = draw(st.integers(0, 10**width - 1)) if width else 0
    text = str(coefficient).rjust(places + 1, "0")
    return f"{text[:-places]}.{text[-places:]}" if places else text


@st.composite
def invoice_lines(draw: st.DrawFn) -> tuple[str, list[tuple[str, str]]]:
    """A currency and 1 to 6 (quantity, unit_amount) pairs."""
    currency = draw(st.sampled_from(sorted(EXPONENTS)))
    pairs = draw(st.lists(st.tuples(wire_decimal(), wire_decimal()), min_size=1, max_size=6))
    return currency, pairs


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    database=None,
)
@given(case=invoice_lines())
@example(case=("USD", [("0.1", "0.2")] * 12 + [("3", "0.1")]))
@example(case=("USD", [("1", "12345678901234567.124999999999"), ("12345678901234567", "0.000000000001")]))
@example(case=("KWD", [("17.000000000001", "99999999999999999.999999999999"), ("0.0005", "1")]))
@example(case=("JPY", [("0.5", "1"), ("1.5", "1"), ("2.5", "1")]))
async def test_created_amounts_are_exact_for_random_decimals(api: Api, case: tuple[str, list[tuple[str, str]]]) -> None:
    """Every line amount is round_half_up(q × u) computed here; total and amount due are their exact sum."""
    currency, pairs = case
    customer = await create_customer(api, currency=currency)
    invoice = await create_invoice(api, customer, line_items=[line(f"L{i}", q, u) for i, (q, u) in enumerate(pairs)])
    amounts = [li.amount for li in invoice.line_items]
    assert [Decimal(a) for a in amounts] == [expected_line_amount(q, u, currency) for q, u in pairs]
    assert all(has_scale(a, currency) for a in amounts), amounts
    assert [li.quantity for li in invoice.line_items] == [q for q, _ in pairs]
    assert [li.price.unit_config.unit_amount for li in invoice.line_items] == [u for _, u in pairs]
    assert Decimal(invoice.total) == exact_sum(amounts)
    assert Decimal(invoice.subtotal) == exact_sum([li.subtotal for li in invoice.line_items])
    assert invoice.amount_due == invoice.total
    assert has_scale(invoice.total, currency)


# --- refusals: INVALID_ARGUMENT with the field path ------------------------------------------------


def _no_line_dates(item: invoice_service_pb2.NewInvoiceLineItem) -> invoice_service_pb2.NewInvoiceLineItem:
    item.ClearField("start_date")
    return item


INVALID_CASES: list[tuple[str, dict[str, Any], str]] = [
    ("both customer ids", {"external_customer_id": "ext-1"}, "customer_id"),
    ("no customer id", {"customer_id": ""}, "customer_id"),
    ("unknown currency", {"currency": "XYZ"}, "currency"),
    ("lower-case currency", {"currency": "usd"}, "currency"),
    ("missing currency", {"currency": ""}, "currency"),
    ("missing invoice_date", {"invoice_date": None}, "invoice_date"),
    ("month 13", {"invoice_date": date_pb2.Date(year=2024, month=13, day=1)}, "invoice_date"),
    ("February 30", {"invoice_date": date_pb2.Date(year=2024, month=2, day=30)}, "invoice_date"),
    ("no line items", {"line_items": []}, "line_items"),
    ("501 line items", {"line_items": [line(f"L{i}") for i in range(501)]}, "line_items"),
    ("quantity abc", {"line_items": [line(quantity="abc")]}, "line_items[0].quantity"),
    ("quantity with exponent", {"line_items": [line(quantity="1e3")]}, "line_items[0].quantity"),
    ("negative quantity", {"line_items": [line(quantity="-1")]}, "line_items[0].quantity"),
    ("empty quantity", {"line_items": [line(quantity="")]}, "line_items[0].quantity"),
    ("quantity NaN", {"line_items": [line(), line(quantity="NaN")]}, "line_items[1].quantity"),
    ("unit_amount Infinity", {"line_items": [line(unit_amount="Infinity")]}, "line_items[0].unit_amount"),
    ("unit_amount with comma", {"line_items": [line(unit_amount="10,00")]}, "line_items[0].unit_amount"),
    ("negative unit_amount", {"line_items": [line(unit_amount="-10.00")]}, "line_items[0].unit_amount"),
    ("unit_amount 13 decimals", {"line_items": [line(unit_amount="0.0000000000001")]}, "line_items[0].unit_amount"),
    ("unit_amount 19 digits", {"line_items": [line(unit_amount="1234567890123456789")]}, "line_items[0].unit_amount"),
    (
        "end before start",
        {"line_items": [line(start_date=date("2024-01-31"), end_date=date("2024-01-01"))]},
        "line_items[0].end_date",
    ),
    ("missing start_date", {"line_items": [_no_line_dates(line())]}, "line_items[0].start_date"),
    (
        "invalid line end_date",
        {"line_items": [line(end_date=date_pb2.Date(year=2024, month=2, day=31))]},
        "line_items[0].end_date",
    ),
    # The first and last days of the calendar would be stored as -infinity and infinity.
    ("line starting 0001-01-01", {"line_items": [line(start_date=date("0001-01-01"))]}, "line_items[0].start_date"),
    ("line ending 9999-12-31", {"line_items": [line(end_date=date("9999-12-31"))]}, "line_items[0].end_date"),
    ("invoice_date 0001-01-01", {"invoice_date": date("0001-01-01")}, "invoice_date"),
    ("empty line name", {"line_items": [line(name="")]}, "line_items[0].name"),
    ("blank line name", {"line_items": [line(), line(), line(name="   ")]}, "line_items[2].name"),
    ("line name too long", {"line_items": [line(name="x" * 256)]}, "line_items[0].name"),
    ("net_terms and due_date", {"net_terms": 30, "due_date": date("2024-03-01")}, "due_date"),
    ("due_date before invoice_date", {"due_date": date("2024-01-31")}, "due_date"),
    ("net_terms 400", {"net_terms": 400}, "net_terms"),
    ("negative net_terms", {"net_terms": -1}, "net_terms"),
    ("memo of 4001 characters", {"memo": "m" * 4001}, "memo"),
    ("memo with a control character", {"memo": "bell\x07"}, "memo"),
    ("51 metadata entries", {"metadata": {f"k{i}": "v" for i in range(51)}}, "metadata"),
    ("request_id of 65 characters", {"request_id": "r" * 65}, "request_id"),
    (
        "discount type unspecified",
        {"discount": price_pb2.Discount(percentage_discount="0.1")},
        "discount.discount_type",
    ),
    (
        "usage discount",
        {"discount": usage_off("5")},
        "discount.discount_type",
    ),
    (
        "percentage 1.5",
        {"discount": percentage_off("1.5")},
        "discount.percentage_discount",
    ),
    (
        "percentage 0",
        {"discount": percentage_off("0")},
        "discount.percentage_discount",
    ),
    (
        "percentage negative",
        {"discount": percentage_off("-0.1")},
        "discount.percentage_discount",
    ),
    (
        "percentage empty",
        {"discount": percentage_off()},
        "discount.percentage_discount",
    ),
    (
        "amount discount with 3 decimals in USD",
        {"discount": amount_off("1.005")},
        "discount.amount_discount",
    ),
    (
        "amount discount zero",
        {"discount": amount_off("0.00")},
        "discount.amount_discount",
    ),
]


@pytest.mark.parametrize(("overrides", "field"), [c[1:] for c in INVALID_CASES], ids=[c[0] for c in INVALID_CASES])
async def test_create_invoice_rejects_bad_input_naming_the_field(
    api: Api, overrides: dict[str, Any], field: str
) -> None:
    """Each malformed request fails INVALID_ARGUMENT with one violation on the exact field path."""
    customer = await create_customer(api)
    request = invoice_request(customer, **{k: v for k, v in overrides.items() if v is not None})
    for name in [k for k, v in overrides.items() if v is None]:
        request.ClearField(name)
    assert_invalid(await expect_error(api.invoices.CreateInvoice(request)), field)


async def test_the_widest_dates_are_stored_as_given(api: Api) -> None:
    """0001-01-02 and 9999-12-30, the widest dates accepted, read back exactly."""
    customer = await create_customer(api)
    created = await create_invoice(
        api,
        customer,
        invoice_date=date("0001-01-02"),
        line_items=[line(start_date=date("0001-01-02"), end_date=date("9999-12-30"))],
    )
    fetched = await api.invoices.GetInvoice(invoice_service_pb2.GetInvoiceRequest(invoice_id=created.id))
    assert fetched == created
    assert fetched.invoice_date == date("0001-01-02")
    assert fetched.line_items[0].start_date == date("0001-01-02")
    assert fetched.line_items[0].end_date == date("9999-12-30")


async def test_invoice_date_more_than_a_year_ahead_is_refused(api: Api) -> None:
    """More than 366 days in the future fails on invoice_date."""
    customer = await create_customer(api)
    day = today_utc() + dt.timedelta(days=400)
    error = await expect_error(api.invoices.CreateInvoice(invoice_request(customer, invoice_date=date(day))))
    assert_invalid(error, "invoice_date")


async def test_every_bad_field_is_reported_at_once(api: Api) -> None:
    """One call names all its problems, each on its own path."""
    customer = await create_customer(api)
    request = invoice_request(
        customer,
        currency="XYZ",
        line_items=[line(quantity="abc"), line(unit_amount="-1"), line(name="")],
        net_terms=400,
        memo="m" * 4001,
    )
    error = await expect_error(api.invoices.CreateInvoice(request))
    assert error.code == grpc.StatusCode.INVALID_ARGUMENT
    assert set(error.field_violations) == {
        "currency",
        "line_items[0].quantity",
        "line_items[1].unit_amount",
        "line_items[2].name",
        "net_terms",
        "memo",
    }


async def test_refused_requests_create_nothing(api: Api) -> None:
    """After a refusal, the customer still has no invoice."""
    customer = await create_customer(api)
    await expect_error(api.invoices.CreateInvoice(invoice_request(customer, line_items=[line(quantity="x")])))
    await expect_error(api.invoices.CreateInvoice(invoice_request(customer, currency="EUR")))
    drafts = api.invoices.ListInvoices(
        invoice_service_pb2.ListInvoicesRequest(customer_id=customer.id, status=[invoice_pb2.INVOICE_STATUS_DRAFT])
    )
    assert [inv async for batch in drafts for inv in batch.invoices] == []


# --- refusals: state and existence ------------------------------------------------------------


async def test_currency_different_from_the_customers_fails_precondition(api: Api) -> None:
    """A USD invoice for a EUR customer: FAILED_PRECONDITION CURRENCY_MISMATCH."""
    customer = await create_customer(api, currency="EUR")
    error = await expect_error(api.invoices.CreateInvoice(invoice_request(customer, currency="USD")))
    assert error.code == grpc.StatusCode.FAILED_PRECONDITION
    assert error.reason == "CURRENCY_MISMATCH"
    assert error.domain == ERROR_DOMAIN
    assert error.precondition_types == ["CURRENCY_MISMATCH"]
    assert error.metadata.get("customer_currency") == "EUR"


@pytest.mark.parametrize("key", ["customer_id", "external_customer_id"])
async def test_unknown_customer_is_not_found(api: Api, key: str) -> None:
    """An id that names no customer: NOT_FOUND CUSTOMER_NOT_FOUND."""
    customer = await create_customer(api)
    request = invoice_request(customer, customer_id="")
    setattr(request, key, "cus_does_not_exist")
    error = await expect_error(api.invoices.CreateInvoice(request))
    assert error.code == grpc.StatusCode.NOT_FOUND
    assert error.reason == "CUSTOMER_NOT_FOUND"


@pytest.mark.parametrize("key", ["customer_id", "external_customer_id"])
async def test_another_accounts_customer_is_not_found(api: Api, other_api: Api, key: str) -> None:
    """A customer of another account is invisible: NOT_FOUND, and nothing is created for it."""
    theirs = await create_customer(other_api)
    request = invoice_request(theirs, customer_id="")
    setattr(request, key, getattr(theirs, "id" if key == "customer_id" else "external_customer_id"))
    error = await expect_error(api.invoices.CreateInvoice(request))
    assert error.code == grpc.StatusCode.NOT_FOUND
    assert error.reason == "CUSTOMER_NOT_FOUND"
    drafts = other_api.invoices.ListInvoices(
        invoice_service_pb2.ListInvoicesRequest(customer_id=theirs.id, status=[invoice_pb2.INVOICE_STATUS_DRAFT])
    )
    assert [inv async for batch in drafts for inv in batch.invoices] == []


async def test_get_unknown_invoice_is_not_found(api: Api) -> None:
    """GetInvoice of an id that does not exist: NOT_FOUND INVOICE_NOT_FOUND."""
    error = await expect_error(api.invoices.GetInvoice(invoice_service_pb2.GetInvoiceRequest(invoice_id="inv_nope")))
    assert error.code == grpc.StatusCode.NOT_FOUND
    assert error.reason == "INVOICE_NOT_FOUND"
    assert error.domain == ERROR_DOMAIN


async def test_get_another_accounts_invoice_is_not_found(api: Api, other_api: Api) -> None:
    """Another account's invoice answers exactly like an unknown one."""
    theirs = await create_invoice(other_api, await create_customer(other_api))
    error = await expect_error(api.invoices.GetInvoice(invoice_service_pb2.GetInvoiceRequest(invoice_id=theirs.id)))
    assert error.code == grpc.StatusCode.NOT_FOUND
    assert error.reason == "INVOICE_NOT_FOUND"
    assert (await get_invoice(other_api, theirs.id)) == theirs


@pytest.mark.parametrize(("invoice_id", "field"), [("", "invoice_id"), ("i" * 65, "invoice_id")])
async def test_get_invoice_with_a_malformed_id_is_invalid(api: Api, invoice_id: str, field: str) -> None:
    """An empty or oversized id fails INVALID_ARGUMENT on invoice_id."""
    error = await expect_error(api.invoices.GetInvoice(invoice_service_pb2.GetInvoiceRequest(invoice_id=invoice_id)))
    assert_invalid(error, field)


@pytest.mark.parametrize("where", ["memo", "line name"])
async def test_a_request_over_the_message_size_limit_is_resource_exhausted(
    api: Api, settings: Settings, where: str
) -> None:
    """gRPC itself refuses a message larger than the server's limit, before any handler runs."""
    customer = await create_customer(api)
    huge = "x" * (settings.max_message_bytes + 1024)
    request = (
        invoice_request(customer, memo=huge)
        if where == "memo"
        else invoice_request(customer, line_items=[line(name=huge)])
    )
    assert request.ByteSize() > settings.max_message_bytes
    error = await expect_error(api.invoices.CreateInvoice(request))
    assert error.code == grpc.StatusCode.RESOURCE_EXHAUSTED
    drafts = api.invoices.ListInvoices(
        invoice_service_pb2.ListInvoicesRequest(customer_id=customer.id, status=[invoice_pb2.INVOICE_STATUS_DRAFT])
    )
    assert [inv async for batch in drafts for inv in batch.invoices] == []


# --- the lifecycle RPCs and invoices they cannot see ----------------------------------------

Rpc = Callable[[Api, str], Any]

LIFECYCLE_RPCS: list[tuple[str, Rpc]] = [
    (
        "UpdateInvoice",
        lambda a, i: a.invoices.UpdateInvoice(
            invoice_service_pb2.UpdateInvoiceRequest(invoice_id=i, metadata=common_pb2.MetadataChange(set={"k": "v"}))
        ),
    ),
    (
        "CreateInvoiceLineItem",
        lambda a, i: a.invoices.CreateInvoiceLineItem(
            invoice_service_pb2.CreateInvoiceLineItemRequest(
                invoice_id=i,
                amount="5.00",
                quantity="1",
                name="Fee",
                start_date=date("2024-01-01"),
                end_date=date("2024-01-31"),
            )
        ),
    ),
    (
        "DeleteInvoiceLineItem",
        lambda a, i: a.invoices.DeleteInvoiceLineItem(
            invoice_service_pb2.DeleteInvoiceLineItemRequest(invoice_id=i, line_item_id="ili_unknown")
        ),
    ),
    ("IssueInvoice", lambda a, i: a.invoices.IssueInvoice(invoice_service_pb2.IssueInvoiceRequest(invoice_id=i))),
    (
        "MarkInvoicePaid",
        lambda a, i: a.invoices.MarkInvoicePaid(
            invoice_service_pb2.MarkInvoicePaidRequest(invoice_id=i, payment_received_date=date("2024-02-05"))
        ),
    ),
    ("VoidInvoice", lambda a, i: a.invoices.VoidInvoice(invoice_service_pb2.VoidInvoiceRequest(invoice_id=i))),
]


@pytest.mark.parametrize("whose", ["unknown", "another account's"])
@pytest.mark.parametrize("call", [c[1] for c in LIFECYCLE_RPCS], ids=[c[0] for c in LIFECYCLE_RPCS])
async def test_lifecycle_rpcs_cannot_reach_unknown_or_foreign_invoices(
    api: Api, other_api: Api, call: Rpc, whose: str
) -> None:
    """Every invoice mutation answers NOT_FOUND INVOICE_NOT_FOUND and leaves another account's invoice as it was."""
    theirs = await create_invoice(other_api, await create_customer(other_api))
    invoice_id = "inv_does_not_exist" if whose == "unknown" else theirs.id
    error = await expect_error(call(api, invoice_id))
    assert error.code == grpc.StatusCode.NOT_FOUND, error
    assert error.reason == "INVOICE_NOT_FOUND"
    assert (await get_invoice(other_api, theirs.id)) == theirs
