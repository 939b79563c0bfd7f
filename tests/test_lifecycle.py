"""The invoice lifecycle RPCs one by one: line items, updates, issue, payment, void.

Each test goes through the real server and database. Wherever a customer's
balance moves, the balance is checked against the signed sum of its ledger.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
import zoneinfo
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any

import grpc
import pytest
from google.protobuf.message import Message
from invoicing.v1 import customer_pb2, invoice_pb2, invoice_service_pb2

from server.app import RunningServer
from server.domain.invoices import InvoiceStatus
from tests.support.builders import (
    add_line_request,
    amount_off,
    create_customer,
    create_invoice,
    date,
    line,
    mark_paid_request,
    metadata_request,
    percentage_off,
    today_utc,
)
from tests.support.calls import adjust_balance, get_invoice, issue, ledger, mark_paid, void
from tests.support.checks import assert_balance_matches_ledger, assert_totals_are_sum_of_lines, sequence_of
from tests.support.client import Api, expect_error
from tests.support.clock import Clock
from tests.support.states import invoice_in_status, status_of, subscription_draft

NUMBER_FORMAT = re.compile(r"[A-Z0-9]{1,12}-\d{5}")


def _without(invoice: invoice_pb2.Invoice, *fields: str) -> invoice_pb2.Invoice:
    """A copy of the invoice without `fields` and without what every change moves.

    That is the version, updated_at, and invoice_pdf (the document's locator names the version).
    """
    copy = invoice_pb2.Invoice()
    copy.CopyFrom(invoice)
    for name in (*fields, "version", "updated_at", "invoice_pdf"):
        copy.ClearField(name)
    return copy


def _discount_taken(invoice: invoice_pb2.Invoice) -> Decimal:
    """How much the invoice-level discount took, summed over the lines' adjustments."""
    return -sum((Decimal(a.amount) for li in invoice.line_items for a in li.adjustments), Decimal(0))


async def _refused_unchanged(
    api: Api, invoice_id: str, call: Awaitable[Any], code: grpc.StatusCode, reason: str
) -> Any:
    """Run a call that must fail with code and reason, and check the invoice did not change; return the details."""
    before = await get_invoice(api, invoice_id)
    error = await expect_error(call)
    assert error.code == code, error
    assert error.reason == reason, error
    assert await get_invoice(api, invoice_id) == before
    return error


async def _invalid_unchanged(api: Api, invoice_id: str, call: Awaitable[Any], field: str, reason: str) -> None:
    """Run a call that must fail INVALID_ARGUMENT naming exactly `field` with `reason`, and check the invoice did
    not change."""
    error = await _refused_unchanged(api, invoice_id, call, grpc.StatusCode.INVALID_ARGUMENT, reason)
    assert list(error.field_violations) == [field]
    assert error.violation_reasons == {field: reason}


# --- CreateInvoiceLineItem -------------------------------------------------------


async def test_add_line_recomputes_totals_as_the_sum_of_line_amounts(api: Api) -> None:
    """A new line is stored with its amount, and subtotal, total and amount_due are recomputed."""
    customer = await create_customer(api)
    draft = await create_invoice(api, customer)
    added = await api.invoices.CreateInvoiceLineItem(add_line_request(draft.id, "12.34", quantity="2", name="Setup"))
    assert added.id
    assert added.amount == "12.34"
    assert added.subtotal == "12.34"
    assert Decimal(added.quantity) == 2
    assert added.name == "Setup"
    assert added.is_one_off
    assert Decimal(added.price.unit_config.unit_amount) == Decimal("6.17")
    after = await get_invoice(api, draft.id)
    assert [li.id for li in after.line_items] == [draft.line_items[0].id, added.id]
    assert after.line_items[-1] == added
    assert after.total == after.subtotal == after.amount_due == "42.34"
    assert after.version == draft.version + 1
    assert_totals_are_sum_of_lines(after)


@pytest.mark.parametrize(
    ("currency", "amount"), [("USD", "1.234"), ("JPY", "100.5"), ("KWD", "1.2345")], ids=["USD", "JPY", "KWD"]
)
async def test_add_line_with_more_decimals_than_the_currency_allows_is_invalid_argument(
    api: Api, currency: str, amount: str
) -> None:
    """The amount must fit the currency's minor unit; nothing is added."""
    customer = await create_customer(api, currency=currency)
    draft = await create_invoice(api, customer, line_items=[line(unit_amount="10")])
    await _invalid_unchanged(
        api,
        draft.id,
        api.invoices.CreateInvoiceLineItem(add_line_request(draft.id, amount)),
        "amount",
        "FIELD_OUT_OF_RANGE",
    )


@pytest.mark.parametrize(
    ("overrides", "field", "reason"),
    [
        ({"quantity": "0"}, "quantity", "FIELD_OUT_OF_RANGE"),
        ({"quantity": "-1"}, "quantity", "FIELD_OUT_OF_RANGE"),
        ({"quantity": ""}, "quantity", "FIELD_INVALID"),
        ({"amount": "-5.00"}, "amount", "FIELD_OUT_OF_RANGE"),
        ({"amount": "abc"}, "amount", "FIELD_INVALID"),
        ({"name": ""}, "name", "FIELD_REQUIRED"),
        ({"start_date": date("2024-01-10"), "end_date": date("2024-01-09")}, "end_date", "FIELD_OUT_OF_RANGE"),
    ],
    ids=["zero-quantity", "negative-quantity", "missing-quantity", "negative-amount", "bad-amount", "no-name", "end"],
)
async def test_add_line_with_a_bad_field_is_invalid_argument_naming_it(
    api: Api, overrides: dict[str, Any], field: str, reason: str
) -> None:
    """Each malformed field is reported by its path and reason, and the invoice keeps its lines."""
    customer = await create_customer(api)
    draft = await create_invoice(api, customer)
    await _invalid_unchanged(
        api, draft.id, api.invoices.CreateInvoiceLineItem(add_line_request(draft.id, **overrides)), field, reason
    )


async def test_add_line_without_service_period_is_invalid_argument(api: Api) -> None:
    """start_date and end_date are required."""
    customer = await create_customer(api)
    draft = await create_invoice(api, customer)
    request = add_line_request(draft.id)
    request.ClearField("start_date")
    request.ClearField("end_date")
    error = await _refused_unchanged(
        api,
        draft.id,
        api.invoices.CreateInvoiceLineItem(request),
        grpc.StatusCode.INVALID_ARGUMENT,
        "FIELD_REQUIRED",
    )
    assert set(error.field_violations) == {"start_date", "end_date"}


async def test_add_line_to_an_unknown_invoice_is_not_found(api: Api) -> None:
    """NOT_FOUND with reason INVOICE_NOT_FOUND."""
    error = await expect_error(api.invoices.CreateInvoiceLineItem(add_line_request("inv_doesnotexist")))
    assert error.code == grpc.StatusCode.NOT_FOUND
    assert error.reason == "INVOICE_NOT_FOUND"


async def test_adding_lines_spreads_an_amount_discount_over_all_lines_again(api: Api) -> None:
    """An amount discount is split by largest remainder over every line, and the total stays the sum of lines."""
    customer = await create_customer(api)
    draft = await create_invoice(api, customer, discount=amount_off("50.00"))
    # One 30.00 line: the 50.00 discount is capped at the subtotal.
    assert draft.subtotal == "30.00"
    assert draft.total == "0.00"
    assert _discount_taken(draft) == Decimal("30.00")
    await api.invoices.CreateInvoiceLineItem(add_line_request(draft.id, "40.00"))
    after = await get_invoice(api, draft.id)
    # 50.00 over 30.00 and 40.00: 21.428... and 28.571... cents-floored to 21.42 and 28.57, the last cent
    # to the larger remainder (the first line).
    assert [li.amount for li in after.line_items] == ["8.57", "11.43"]
    assert [[a.amount for a in li.adjustments] for li in after.line_items] == [["-21.43"], ["-28.57"]]
    assert all(
        a.adjustment_type == invoice_pb2.ADJUSTMENT_TYPE_AMOUNT_DISCOUNT and a.is_invoice_level
        for li in after.line_items
        for a in li.adjustments
    )
    assert after.subtotal == "70.00"
    assert after.total == after.amount_due == "20.00"
    assert _discount_taken(after) == Decimal("50.00")
    assert_totals_are_sum_of_lines(after)


async def test_amount_discount_never_exceeds_the_subtotal_as_lines_come_and_go(api: Api) -> None:
    """Whatever the lines, the discount taken is min(discount, subtotal) and no line goes below zero."""
    customer = await create_customer(api)
    draft = await create_invoice(api, customer, discount=amount_off("45.00"))
    small = await api.invoices.CreateInvoiceLineItem(add_line_request(draft.id, "0.01"))
    big = await api.invoices.CreateInvoiceLineItem(add_line_request(draft.id, "100.00"))
    steps = [await get_invoice(api, draft.id)]
    await api.invoices.DeleteInvoiceLineItem(
        invoice_service_pb2.DeleteInvoiceLineItemRequest(invoice_id=draft.id, line_item_id=big.id)
    )
    steps.append(await get_invoice(api, draft.id))
    await api.invoices.DeleteInvoiceLineItem(
        invoice_service_pb2.DeleteInvoiceLineItemRequest(invoice_id=draft.id, line_item_id=small.id)
    )
    steps.append(await get_invoice(api, draft.id))
    assert [(s.subtotal, s.total) for s in steps] == [("130.01", "85.01"), ("30.01", "0.00"), ("30.00", "0.00")]
    for invoice in steps:
        assert _discount_taken(invoice) == min(Decimal("45.00"), Decimal(invoice.subtotal))
        assert all(Decimal(li.amount) >= 0 for li in invoice.line_items)
        assert_totals_are_sum_of_lines(invoice)


async def test_percentage_discount_applies_to_an_added_line(api: Api) -> None:
    """A 10% discount takes 10% of the new line too: 12.35 × 0.9 = 11.115 → 11.12 (the discounted amount is
    rounded half-up), so 1.23 off; the first line 30.00 → 27.00."""
    customer = await create_customer(api)
    draft = await create_invoice(
        api,
        customer,
        discount=percentage_off("0.1"),
    )
    added = await api.invoices.CreateInvoiceLineItem(add_line_request(draft.id, "12.35"))
    assert [a.amount for a in added.adjustments] == ["-1.23"]
    assert added.amount == "11.12"
    after = await get_invoice(api, draft.id)
    assert after.subtotal == "42.35"
    assert after.total == "38.12"
    assert_totals_are_sum_of_lines(after)


# --- DeleteInvoiceLineItem -------------------------------------------------------


async def test_delete_line_recomputes_totals(api: Api) -> None:
    """The line goes, the totals are the sum of the lines left, the version grows by one."""
    customer = await create_customer(api)
    draft = await create_invoice(api, customer, line_items=[line(unit_amount="10.00"), line(unit_amount="2.50")])
    assert draft.total == "37.50"
    deleted = await api.invoices.DeleteInvoiceLineItem(
        invoice_service_pb2.DeleteInvoiceLineItemRequest(invoice_id=draft.id, line_item_id=draft.line_items[0].id)
    )
    assert [li.id for li in deleted.line_items] == [draft.line_items[1].id]
    assert deleted.total == deleted.subtotal == deleted.amount_due == "7.50"
    assert deleted.version == draft.version + 1
    assert deleted == await get_invoice(api, draft.id)
    assert_totals_are_sum_of_lines(deleted)


async def test_delete_unknown_line_is_not_found(api: Api) -> None:
    """An unknown line id, or the line of another invoice, is NOT_FOUND with LINE_ITEM_NOT_FOUND."""
    customer = await create_customer(api)
    draft = await create_invoice(api, customer)
    other = await create_invoice(api, customer)
    for line_id in ("ili_doesnotexist", other.line_items[0].id):
        error = await _refused_unchanged(
            api,
            draft.id,
            api.invoices.DeleteInvoiceLineItem(
                invoice_service_pb2.DeleteInvoiceLineItemRequest(invoice_id=draft.id, line_item_id=line_id)
            ),
            grpc.StatusCode.NOT_FOUND,
            "LINE_ITEM_NOT_FOUND",
        )
        assert error.metadata["id"] == line_id
    assert await get_invoice(api, other.id) == other


async def test_delete_line_item_requires_a_line_id(api: Api) -> None:
    """An empty line_item_id is INVALID_ARGUMENT on that field."""
    customer = await create_customer(api)
    draft = await create_invoice(api, customer)
    await _invalid_unchanged(
        api,
        draft.id,
        api.invoices.DeleteInvoiceLineItem(invoice_service_pb2.DeleteInvoiceLineItemRequest(invoice_id=draft.id)),
        "line_item_id",
        "FIELD_REQUIRED",
    )


# --- UpdateInvoice ---------------------------------------------------------------


@pytest.mark.parametrize("status", list(InvoiceStatus), ids=[s.value for s in InvoiceStatus])
async def test_metadata_can_be_set_removed_and_cleared_in_every_status(
    api: Api, migrated_dsn: str, status: InvoiceStatus
) -> None:
    """Set, remove and clear-then-set each change only the metadata and bump the version by one."""
    customer = await create_customer(api)
    start = await invoice_in_status(api, migrated_dsn, customer, status, metadata={"keep": "1", "drop": "2"})
    steps: list[tuple[dict[str, Any], dict[str, str]]] = [
        ({"set": {"new": "3", "keep": "1b"}}, {"keep": "1b", "drop": "2", "new": "3"}),
        ({"remove_keys": ["drop", "absent"]}, {"keep": "1b", "new": "3"}),
        ({"clear": True, "set": {"only": "4"}}, {"only": "4"}),
        ({"clear": True}, {}),
    ]
    previous = start
    for change, expected in steps:
        updated = await api.invoices.UpdateInvoice(metadata_request(start.id, **change))
        assert dict(updated.metadata) == expected
        assert updated.version == previous.version + 1
        assert status_of(updated) is status
        assert _without(updated, "metadata") == _without(previous, "metadata")
        assert updated == await get_invoice(api, start.id)
        previous = updated


async def test_metadata_update_cannot_grow_past_fifty_entries(api: Api) -> None:
    """The 50-entry limit holds for the merged result: adding to a full map fails, replacing a key does not."""
    customer = await create_customer(api)
    draft = await create_invoice(api, customer, metadata={f"k{i}": "v" for i in range(50)})
    await _invalid_unchanged(
        api,
        draft.id,
        api.invoices.UpdateInvoice(metadata_request(draft.id, set={"extra": "1"})),
        "metadata.set",
        "FIELD_TOO_LONG",
    )
    swapped = await api.invoices.UpdateInvoice(metadata_request(draft.id, remove_keys=["k0"], set={"extra": "1"}))
    assert len(swapped.metadata) == 50
    assert "extra" in swapped.metadata


@pytest.mark.parametrize(
    ("fields", "changed"),
    [
        ({"net_terms": 45}, {"net_terms": 45}),
        ({"due_date": date("2024-03-15")}, {"due_date": date("2024-03-15")}),
        ({"invoice_date": date("2024-02-10")}, {"invoice_date": date("2024-02-10")}),
    ],
    ids=["net_terms", "due_date", "invoice_date"],
)
async def test_draft_terms_change_only_the_named_field(
    api: Api, fields: dict[str, Any], changed: dict[str, Any]
) -> None:
    """On a draft, net_terms, due_date and invoice_date each change alone, version + 1."""
    customer = await create_customer(api)
    draft = await create_invoice(api, customer, net_terms=30)
    updated = await api.invoices.UpdateInvoice(invoice_service_pb2.UpdateInvoiceRequest(invoice_id=draft.id, **fields))
    for name, value in changed.items():
        assert getattr(updated, name) == value
    assert updated.version == draft.version + 1
    assert _without(updated, *changed) == _without(draft, *changed)


@pytest.mark.parametrize("enabled", [True, False])
async def test_draft_auto_collection_changes_only_auto_collection(api: Api, enabled: bool) -> None:
    """auto_collection can be switched either way on a draft; nothing else moves."""
    customer = await create_customer(api)
    draft = await create_invoice(api, customer, auto_collection=not enabled)
    assert draft.auto_collection.enabled is not enabled
    updated = await api.invoices.UpdateInvoice(
        invoice_service_pb2.UpdateInvoiceRequest(invoice_id=draft.id, auto_collection=enabled)
    )
    assert updated.auto_collection.enabled is enabled
    assert updated.version == draft.version + 1
    assert _without(updated, "auto_collection") == _without(draft, "auto_collection")


async def test_net_terms_replace_a_fixed_due_date_on_a_draft(api: Api) -> None:
    """Setting net_terms drops the fixed due date, which issue then computes from the terms."""
    customer = await create_customer(api)
    draft = await create_invoice(api, customer, due_date=date("2024-03-01"))
    updated = await api.invoices.UpdateInvoice(
        invoice_service_pb2.UpdateInvoiceRequest(invoice_id=draft.id, net_terms=7)
    )
    assert updated.net_terms == 7
    assert not updated.HasField("due_date")
    issued = await issue(api, draft.id)
    issued_day = issued.issued_at.ToDatetime(dt.UTC).date()
    assert issued.due_date == date(issued_day + dt.timedelta(days=7))


@pytest.mark.parametrize(
    "fields",
    [
        {"net_terms": 10},
        {"due_date": date("2024-04-01")},
        {"auto_collection": True},
        {"invoice_date": date("2024-02-05")},
    ],
    ids=["net_terms", "due_date", "auto_collection", "invoice_date"],
)
@pytest.mark.parametrize("status", [InvoiceStatus.ISSUED, InvoiceStatus.PAID, InvoiceStatus.VOID, InvoiceStatus.SYNCED])
async def test_terms_cannot_change_after_draft(
    api: Api, migrated_dsn: str, status: InvoiceStatus, fields: dict[str, Any]
) -> None:
    """Draft-only fields on any other status: FAILED_PRECONDITION INVOICE_NOT_DRAFT, nothing changes."""
    customer = await create_customer(api)
    invoice = await invoice_in_status(api, migrated_dsn, customer, status)
    await _refused_unchanged(
        api,
        invoice.id,
        api.invoices.UpdateInvoice(invoice_service_pb2.UpdateInvoiceRequest(invoice_id=invoice.id, **fields)),
        grpc.StatusCode.FAILED_PRECONDITION,
        "INVOICE_NOT_DRAFT",
    )


async def test_metadata_with_terms_on_an_issued_invoice_is_refused_as_a_whole(api: Api, migrated_dsn: str) -> None:
    """A request mixing metadata (allowed) and net_terms (not allowed) changes neither."""
    customer = await create_customer(api)
    issued = await invoice_in_status(api, migrated_dsn, customer, InvoiceStatus.ISSUED)
    request = metadata_request(issued.id, set={"a": "b"})
    request.net_terms = 5
    await _refused_unchanged(
        api,
        issued.id,
        api.invoices.UpdateInvoice(request),
        grpc.StatusCode.FAILED_PRECONDITION,
        "INVOICE_NOT_DRAFT",
    )


async def test_invoice_date_of_a_subscription_draft_cannot_change(
    clocked_api: Api, clocked_server: RunningServer, clock: Clock
) -> None:
    """invoice_date is for one-off drafts only: FAILED_PRECONDITION INVOICE_NOT_ONE_OFF."""
    api = clocked_api
    customer = await create_customer(api)
    _, draft = await subscription_draft(api, clocked_server, clock, customer)
    await _refused_unchanged(
        api,
        draft.id,
        api.invoices.UpdateInvoice(
            invoice_service_pb2.UpdateInvoiceRequest(invoice_id=draft.id, invoice_date=date("2024-02-03"))
        ),
        grpc.StatusCode.FAILED_PRECONDITION,
        "INVOICE_NOT_ONE_OFF",
    )
    terms = await api.invoices.UpdateInvoice(invoice_service_pb2.UpdateInvoiceRequest(invoice_id=draft.id, net_terms=3))
    assert terms.net_terms == 3


@pytest.mark.parametrize(
    ("fields", "field", "reason"),
    [
        pytest.param({}, "invoice_id", "FIELD_INVALID", id="names-no-field"),
        pytest.param(
            {"net_terms": 10, "due_date": date("2024-03-01")},
            "due_date",
            "FIELD_CONFLICT",
            id="net-terms-with-due-date",
        ),
        pytest.param(
            {"invoice_date": date(today_utc() + dt.timedelta(days=400))},
            "invoice_date",
            "FIELD_OUT_OF_RANGE",
            id="over-a-year-ahead",
        ),
    ],
)
async def test_malformed_update_is_invalid_argument_naming_the_field(
    api: Api, fields: dict[str, Any], field: str, reason: str
) -> None:
    """An update naming no field, net_terms with due_date, or an invoice date more than a year ahead (the limit of
    CreateInvoice): INVALID_ARGUMENT on that one field with its reason, and nothing changes."""
    customer = await create_customer(api)
    draft = await create_invoice(api, customer)
    await _invalid_unchanged(
        api,
        draft.id,
        api.invoices.UpdateInvoice(invoice_service_pb2.UpdateInvoiceRequest(invoice_id=draft.id, **fields)),
        field,
        reason,
    )


async def test_invoice_date_within_a_year_ahead_is_accepted(api: Api) -> None:
    """UpdateInvoice accepts an invoice date 300 days ahead, as CreateInvoice does."""
    customer = await create_customer(api)
    draft = await create_invoice(api, customer)
    near = today_utc() + dt.timedelta(days=300)
    updated = await api.invoices.UpdateInvoice(
        invoice_service_pb2.UpdateInvoiceRequest(invoice_id=draft.id, invoice_date=date(near))
    )
    assert updated.invoice_date == date(near)


async def test_due_date_before_the_invoice_date_is_refused(api: Api) -> None:
    """A due date before the (stored or new) invoice date fails DUE_DATE_BEFORE_INVOICE_DATE."""
    customer = await create_customer(api)
    draft = await create_invoice(api, customer, invoice_date=date("2024-02-01"))
    for fields in (
        {"due_date": date("2024-01-31")},
        {"due_date": date("2024-02-05"), "invoice_date": date("2024-02-06")},
    ):
        error = await _refused_unchanged(
            api,
            draft.id,
            api.invoices.UpdateInvoice(invoice_service_pb2.UpdateInvoiceRequest(invoice_id=draft.id, **fields)),
            grpc.StatusCode.FAILED_PRECONDITION,
            "DUE_DATE_BEFORE_INVOICE_DATE",
        )
        assert error.precondition_types == ["DUE_DATE_BEFORE_INVOICE_DATE"]


async def test_version_grows_by_one_per_change(api: Api) -> None:
    """Every accepted change adds exactly one to the version; refused ones add nothing."""
    customer = await create_customer(api)
    draft = await create_invoice(api, customer)
    assert draft.version == 1
    await api.invoices.UpdateInvoice(metadata_request(draft.id, set={"a": "1"}))
    await api.invoices.UpdateInvoice(invoice_service_pb2.UpdateInvoiceRequest(invoice_id=draft.id, net_terms=3))
    added = await api.invoices.CreateInvoiceLineItem(add_line_request(draft.id))
    await expect_error(api.invoices.MarkInvoicePaid(mark_paid_request(draft.id)))
    await api.invoices.DeleteInvoiceLineItem(
        invoice_service_pb2.DeleteInvoiceLineItemRequest(invoice_id=draft.id, line_item_id=added.id)
    )
    issued = await issue(api, draft.id)
    assert issued.version == 6
    assert (await mark_paid(api, draft.id)).version == 7


# --- IssueInvoice ----------------------------------------------------------------


async def test_issue_numbers_are_gapless_per_account_across_customers(api: Api, other_api: Api) -> None:
    """Five issues over three customers get 00001..00005 with one prefix; drafts and refusals use no number."""
    customers = [await create_customer(api) for _ in range(3)]
    numbers: list[str] = []
    for index in range(5):
        customer = customers[index % 3]
        await create_invoice(api, customer)  # a draft that is never issued
        draft = await create_invoice(api, customer)
        issued = await issue(api, draft.id)
        numbers.append(issued.invoice_number)
        # A refused second issue consumes nothing.
        refused = await expect_error(
            api.invoices.IssueInvoice(invoice_service_pb2.IssueInvoiceRequest(invoice_id=draft.id))
        )
        assert refused.reason == "INVOICE_NOT_DRAFT"
    assert all(NUMBER_FORMAT.fullmatch(n) for n in numbers), numbers
    assert len({n.rpartition("-")[0] for n in numbers}) == 1
    assert [sequence_of(n) for n in numbers] == [1, 2, 3, 4, 5]
    # Another account has its own sequence and prefix.
    other_customer = await create_customer(other_api)
    other = await issue(other_api, (await create_invoice(other_api, other_customer)).id)
    assert sequence_of(other.invoice_number) == 1
    assert other.invoice_number.rpartition("-")[0] != numbers[0].rpartition("-")[0]


async def test_issue_sets_issued_at_and_due_date_from_net_terms_in_the_customer_timezone(api: Api) -> None:
    """due_date = the issue day in the customer's timezone + net_terms (UTC+14 and UTC-11 differ by a day or two)."""
    due_dates: dict[str, dt.date] = {}
    for timezone in ("Pacific/Kiritimati", "Pacific/Pago_Pago"):
        customer = await create_customer(api, timezone=timezone)
        draft = await create_invoice(api, customer, net_terms=10)
        assert not draft.HasField("issued_at")
        assert not draft.HasField("due_date")
        assert not draft.invoice_number
        issued = await issue(api, draft.id)
        assert status_of(issued) is InvoiceStatus.ISSUED
        assert issued.HasField("issued_at")
        assert issued.issued_at.ToDatetime() >= draft.created_at.ToDatetime()
        assert not issued.HasField("paid_at")
        assert not issued.HasField("voided_at")
        local_day = issued.issued_at.ToDatetime(dt.UTC).astimezone(zoneinfo.ZoneInfo(timezone)).date()
        expected = local_day + dt.timedelta(days=10)
        assert issued.due_date == date(expected)
        due_dates[timezone] = expected
    assert due_dates["Pacific/Kiritimati"] > due_dates["Pacific/Pago_Pago"]


async def test_issue_keeps_a_fixed_due_date(api: Api) -> None:
    """A draft with a fixed due date keeps it at issue."""
    customer = await create_customer(api)
    draft = await create_invoice(api, customer, due_date=date("2024-03-15"))
    issued = await issue(api, draft.id)
    assert issued.due_date == date("2024-03-15")


@pytest.mark.parametrize("days_ago", [0, 3], ids=["today", "past"])
async def test_will_auto_issue_with_a_current_date_issues_at_creation(api: Api, days_ago: int) -> None:
    """Created with will_auto_issue and a date not in the future: issued at once, through the same path."""
    customer = await create_customer(api)
    first = await issue(api, (await create_invoice(api, customer)).id)
    await adjust_balance(api, customer.id, "5.00")
    created = await create_invoice(
        api, customer, will_auto_issue=True, invoice_date=date(today_utc() - dt.timedelta(days=days_ago))
    )
    assert status_of(created) is InvoiceStatus.ISSUED
    assert sequence_of(created.invoice_number) == sequence_of(first.invoice_number) + 1
    assert created.invoice_number.rpartition("-")[0] == first.invoice_number.rpartition("-")[0]
    assert created.HasField("issued_at")
    assert created.HasField("due_date")
    assert created.amount_due == "25.00"  # the customer's credit was applied, as IssueInvoice does
    assert [t.action for t in created.customer_balance_transactions] == [
        customer_pb2.BALANCE_TRANSACTION_ACTION_APPLIED_TO_INVOICE
    ]
    assert created == await get_invoice(api, created.id)
    assert await assert_balance_matches_ledger(api, customer.id) == 0


async def test_will_auto_issue_with_a_future_date_stays_draft(api: Api) -> None:
    """A future invoice date keeps the invoice a draft without a number."""
    customer = await create_customer(api)
    created = await create_invoice(
        api, customer, will_auto_issue=True, invoice_date=date(today_utc() + dt.timedelta(days=10))
    )
    assert status_of(created) is InvoiceStatus.DRAFT
    assert not created.invoice_number
    assert not created.HasField("issued_at")
    assert created.will_auto_issue
    issued = await issue(api, (await create_invoice(api, customer)).id)
    assert sequence_of(issued.invoice_number) == 1


async def test_credit_larger_than_the_total_pays_the_invoice_at_issue_and_the_rest_rolls_over(api: Api) -> None:
    """Credit 50.00 on a 30.00 invoice: amount_due 0, PAID with paid_at, 20.00 left for the next invoice."""
    customer = await create_customer(api)
    await adjust_balance(api, customer.id, "50.00")
    first = await create_invoice(api, customer)
    paid = await issue(api, first.id)
    assert status_of(paid) is InvoiceStatus.PAID
    assert paid.amount_due == "0.00"
    assert paid.total == "30.00"
    assert paid.HasField("paid_at")
    assert paid.HasField("issued_at")
    assert paid.invoice_number
    assert [
        (t.action, t.type, t.amount, t.starting_balance, t.ending_balance, t.invoice.id)
        for t in paid.customer_balance_transactions
    ] == [
        (
            customer_pb2.BALANCE_TRANSACTION_ACTION_APPLIED_TO_INVOICE,
            customer_pb2.BALANCE_TRANSACTION_TYPE_DECREMENT,
            "30.00",
            "50.00",
            "20.00",
            first.id,
        )
    ]
    assert await assert_balance_matches_ledger(api, customer.id) == Decimal("20.00")
    second = await issue(api, (await create_invoice(api, customer)).id)
    assert status_of(second) is InvoiceStatus.ISSUED
    assert second.amount_due == "10.00"
    assert [t.amount for t in second.customer_balance_transactions] == ["20.00"]
    assert await assert_balance_matches_ledger(api, customer.id) == 0


async def test_credit_smaller_than_the_total_lowers_amount_due(api: Api) -> None:
    """Credit 10.00 on 30.00: amount_due 20.00, balance 0, one applied_to_invoice row linked to the invoice."""
    customer = await create_customer(api)
    await adjust_balance(api, customer.id, "10.00")
    draft = await create_invoice(api, customer)
    issued = await issue(api, draft.id)
    assert status_of(issued) is InvoiceStatus.ISSUED
    assert issued.amount_due == "20.00"
    assert issued.total == "30.00"
    assert not issued.HasField("paid_at")
    assert await assert_balance_matches_ledger(api, customer.id) == 0
    rows = [t for t in await ledger(api, customer.id) if t.invoice.id == draft.id]
    assert list(issued.customer_balance_transactions) == rows
    assert [(t.action, t.type, t.amount) for t in rows] == [
        (
            customer_pb2.BALANCE_TRANSACTION_ACTION_APPLIED_TO_INVOICE,
            customer_pb2.BALANCE_TRANSACTION_TYPE_DECREMENT,
            "10.00",
        )
    ]


async def test_zero_balance_leaves_amount_due_equal_to_the_total(api: Api) -> None:
    """No balance: amount_due = total and no ledger row."""
    customer = await create_customer(api)
    issued = await issue(api, (await create_invoice(api, customer)).id)
    assert issued.amount_due == issued.total == "30.00"
    assert list(issued.customer_balance_transactions) == []
    assert await ledger(api, customer.id) == []
    assert await assert_balance_matches_ledger(api, customer.id) == 0


async def test_negative_balance_raises_amount_due_and_resets_the_balance(api: Api) -> None:
    """Owed 15.00 on a 30.00 invoice: amount_due 45.00, balance back to 0 through an increment row."""
    customer = await create_customer(api)
    await adjust_balance(api, customer.id, "-15.00")
    assert await assert_balance_matches_ledger(api, customer.id) == Decimal("-15.00")
    draft = await create_invoice(api, customer)
    issued = await issue(api, draft.id)
    assert status_of(issued) is InvoiceStatus.ISSUED
    assert issued.total == "30.00"
    assert issued.amount_due == "45.00"
    assert [
        (t.action, t.type, t.amount, t.starting_balance, t.ending_balance, t.invoice.id)
        for t in issued.customer_balance_transactions
    ] == [
        (
            customer_pb2.BALANCE_TRANSACTION_ACTION_APPLIED_TO_INVOICE,
            customer_pb2.BALANCE_TRANSACTION_TYPE_INCREMENT,
            "15.00",
            "-15.00",
            "0.00",
            draft.id,
        )
    ]
    assert await assert_balance_matches_ledger(api, customer.id) == 0


async def test_an_empty_draft_is_paid_at_issue(api: Api) -> None:
    """A draft whose only line was deleted totals 0 and becomes PAID when issued."""
    customer = await create_customer(api)
    draft = await create_invoice(api, customer)
    await api.invoices.DeleteInvoiceLineItem(
        invoice_service_pb2.DeleteInvoiceLineItemRequest(invoice_id=draft.id, line_item_id=draft.line_items[0].id)
    )
    paid = await issue(api, draft.id)
    assert status_of(paid) is InvoiceStatus.PAID
    assert paid.total == paid.amount_due == "0.00"
    assert paid.HasField("paid_at")
    assert sequence_of(paid.invoice_number) == 1


# --- MarkInvoicePaid -------------------------------------------------------------


async def test_mark_paid_requires_a_payment_received_date(api: Api, migrated_dsn: str) -> None:
    """No payment_received_date: INVALID_ARGUMENT on that field."""
    customer = await create_customer(api)
    issued = await invoice_in_status(api, migrated_dsn, customer, InvoiceStatus.ISSUED)
    request = mark_paid_request(issued.id)
    request.ClearField("payment_received_date")
    error = await _refused_unchanged(
        api, issued.id, api.invoices.MarkInvoicePaid(request), grpc.StatusCode.INVALID_ARGUMENT, "FIELD_REQUIRED"
    )
    assert list(error.field_violations) == ["payment_received_date"]


async def test_mark_paid_refuses_a_future_received_date(api: Api, migrated_dsn: str) -> None:
    """A payment cannot be received days from now."""
    customer = await create_customer(api)
    issued = await invoice_in_status(api, migrated_dsn, customer, InvoiceStatus.ISSUED)
    error = await _refused_unchanged(
        api,
        issued.id,
        api.invoices.MarkInvoicePaid(
            mark_paid_request(issued.id, payment_received_date=date(today_utc() + dt.timedelta(days=5)))
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
        "FIELD_OUT_OF_RANGE",
    )
    assert list(error.field_violations) == ["payment_received_date"]


async def test_mark_paid_refuses_the_first_day_of_the_calendar(api: Api, migrated_dsn: str) -> None:
    """0001-01-01 would be stored as -infinity, which is no date: INVALID_ARGUMENT naming the field."""
    customer = await create_customer(api)
    issued = await invoice_in_status(api, migrated_dsn, customer, InvoiceStatus.ISSUED)
    await _invalid_unchanged(
        api,
        issued.id,
        api.invoices.MarkInvoicePaid(mark_paid_request(issued.id, payment_received_date=date("0001-01-01"))),
        "payment_received_date",
        "FIELD_OUT_OF_RANGE",
    )


@pytest.mark.parametrize(("field", "length"), [("external_id", 256), ("notes", 2001)])
async def test_mark_paid_refuses_overlong_external_id_and_notes(
    api: Api, migrated_dsn: str, field: str, length: int
) -> None:
    """external_id (255) and notes (2000) are bounded: INVALID_ARGUMENT naming the field."""
    customer = await create_customer(api)
    issued = await invoice_in_status(api, migrated_dsn, customer, InvoiceStatus.ISSUED)
    await _invalid_unchanged(
        api,
        issued.id,
        api.invoices.MarkInvoicePaid(mark_paid_request(issued.id, **{field: "x" * length})),
        field,
        "FIELD_TOO_LONG",
    )
    paid = await mark_paid(api, issued.id, **{field: "x" * (length - 1)})
    assert getattr(paid.payments[0], field) == "x" * (length - 1)


async def test_mark_paid_records_a_payment_for_the_amount_due(api: Api) -> None:
    """The payment carries amount_due (after credit), the date, external id and notes, and GetInvoice shows it."""
    customer = await create_customer(api)
    await adjust_balance(api, customer.id, "4.50")
    issued = await issue(api, (await create_invoice(api, customer)).id)
    assert issued.amount_due == "25.50"
    received = today_utc() - dt.timedelta(days=2)
    paid = await mark_paid(
        api, issued.id, payment_received_date=date(received), external_id="wire-42", notes="Paid by wire"
    )
    assert status_of(paid) is InvoiceStatus.PAID
    assert paid.HasField("paid_at")
    assert paid.version == issued.version + 1
    assert paid.amount_due == "25.50"
    [payment] = paid.payments
    assert payment.id
    assert payment.amount == "25.50"
    assert payment.payment_received_date == date(received)
    assert payment.external_id == "wire-42"
    assert payment.notes == "Paid by wire"
    assert payment.HasField("created_at")
    assert await get_invoice(api, issued.id) == paid
    assert _without(paid, "status", "paid_at", "payments") == _without(issued, "status", "paid_at", "payments")
    assert await assert_balance_matches_ledger(api, customer.id) == 0


async def test_duplicate_payment_external_id_is_already_exists_and_changes_nothing(api: Api, other_api: Api) -> None:
    """An external id already used in the account (any customer): ALREADY_EXISTS; other accounts may reuse it."""
    first_customer = await create_customer(api)
    second_customer = await create_customer(api)
    first = await issue(api, (await create_invoice(api, first_customer)).id)
    second = await issue(api, (await create_invoice(api, second_customer)).id)
    await mark_paid(api, first.id, external_id="pay-1")
    error = await _refused_unchanged(
        api,
        second.id,
        api.invoices.MarkInvoicePaid(mark_paid_request(second.id, external_id="pay-1")),
        grpc.StatusCode.ALREADY_EXISTS,
        "PAYMENT_EXTERNAL_ID_TAKEN",
    )
    assert "pay-1" in error.message
    assert status_of(await get_invoice(api, second.id)) is InvoiceStatus.ISSUED
    elsewhere = await create_customer(other_api)
    theirs = await issue(other_api, (await create_invoice(other_api, elsewhere)).id)
    assert [p.external_id for p in (await mark_paid(other_api, theirs.id, external_id="pay-1")).payments] == ["pay-1"]


async def test_payments_without_an_external_id_do_not_collide(api: Api) -> None:
    """Two payments without an external id are both recorded."""
    customer = await create_customer(api)
    for _ in range(2):
        issued = await issue(api, (await create_invoice(api, customer)).id)
        paid = await mark_paid(api, issued.id)
        assert [p.external_id for p in paid.payments] == [""]


# --- VoidInvoice -----------------------------------------------------------------


async def test_void_returns_a_used_credit_exactly(api: Api) -> None:
    """Credit 10.00 used at issue goes back at void, on top of whatever the balance is by then."""
    customer = await create_customer(api)
    await adjust_balance(api, customer.id, "10.00")
    issued = await issue(api, (await create_invoice(api, customer)).id)
    assert issued.amount_due == "20.00"
    assert await assert_balance_matches_ledger(api, customer.id) == 0
    await adjust_balance(api, customer.id, "5.00")
    voided = await void(api, issued.id)
    assert status_of(voided) is InvoiceStatus.VOID
    assert voided.HasField("voided_at")
    assert voided.version == issued.version + 1
    assert [
        (t.action, t.type, t.amount, t.starting_balance, t.ending_balance) for t in voided.customer_balance_transactions
    ] == [
        (
            customer_pb2.BALANCE_TRANSACTION_ACTION_APPLIED_TO_INVOICE,
            customer_pb2.BALANCE_TRANSACTION_TYPE_DECREMENT,
            "10.00",
            "10.00",
            "0.00",
        ),
        (
            customer_pb2.BALANCE_TRANSACTION_ACTION_RETURN_FROM_VOIDING,
            customer_pb2.BALANCE_TRANSACTION_TYPE_INCREMENT,
            "10.00",
            "5.00",
            "15.00",
        ),
    ]
    assert all(t.invoice.id == issued.id for t in voided.customer_balance_transactions)
    assert await assert_balance_matches_ledger(api, customer.id) == Decimal("15.00")


async def test_void_returns_an_owed_balance_exactly(api: Api) -> None:
    """Owed 15.00 added to the invoice at issue becomes owed again at void."""
    customer = await create_customer(api)
    await adjust_balance(api, customer.id, "-15.00")
    issued = await issue(api, (await create_invoice(api, customer)).id)
    assert issued.amount_due == "45.00"
    assert await assert_balance_matches_ledger(api, customer.id) == 0
    voided = await void(api, issued.id)
    assert [(t.action, t.type, t.amount) for t in voided.customer_balance_transactions] == [
        (
            customer_pb2.BALANCE_TRANSACTION_ACTION_APPLIED_TO_INVOICE,
            customer_pb2.BALANCE_TRANSACTION_TYPE_INCREMENT,
            "15.00",
        ),
        (
            customer_pb2.BALANCE_TRANSACTION_ACTION_RETURN_FROM_VOIDING,
            customer_pb2.BALANCE_TRANSACTION_TYPE_DECREMENT,
            "15.00",
        ),
    ]
    assert await assert_balance_matches_ledger(api, customer.id) == Decimal("-15.00")


async def test_void_without_balance_used_moves_nothing(api: Api) -> None:
    """An invoice issued with a zero balance voids without ledger rows; voided_at is set."""
    customer = await create_customer(api)
    issued = await issue(api, (await create_invoice(api, customer)).id)
    voided = await void(api, issued.id)
    assert voided.HasField("voided_at")
    assert not voided.HasField("paid_at")
    assert list(voided.customer_balance_transactions) == []
    assert _without(voided, "status", "voided_at") == _without(issued, "status", "voided_at")
    assert await assert_balance_matches_ledger(api, customer.id) == 0


async def test_an_invoice_paid_by_credit_at_issue_cannot_be_voided(api: Api) -> None:
    """Paid at issue means paid: void fails INVOICE_NOT_ISSUED and the credit stays used."""
    customer = await create_customer(api)
    await adjust_balance(api, customer.id, "40.00")
    paid = await issue(api, (await create_invoice(api, customer)).id)
    assert status_of(paid) is InvoiceStatus.PAID
    await _refused_unchanged(
        api,
        paid.id,
        api.invoices.VoidInvoice(invoice_service_pb2.VoidInvoiceRequest(invoice_id=paid.id)),
        grpc.StatusCode.FAILED_PRECONDITION,
        "INVOICE_NOT_ISSUED",
    )
    assert await assert_balance_matches_ledger(api, customer.id) == Decimal("10.00")


# --- expected_version, idempotency and tenancy, for every lifecycle RPC ---------

Call = Callable[[Api, invoice_pb2.Invoice], Awaitable[Message]]
RequestFor = Callable[[invoice_pb2.Invoice], Message]


def _requests() -> dict[str, tuple[InvoiceStatus, RequestFor]]:
    """Each lifecycle RPC, the status its invoice must be in, and a valid request for an invoice."""
    return {
        "UpdateInvoice": (InvoiceStatus.DRAFT, lambda inv: metadata_request(inv.id, set={"k": "v"})),
        "CreateInvoiceLineItem": (InvoiceStatus.DRAFT, lambda inv: add_line_request(inv.id, "3.00")),
        "DeleteInvoiceLineItem": (
            InvoiceStatus.DRAFT,
            lambda inv: invoice_service_pb2.DeleteInvoiceLineItemRequest(
                invoice_id=inv.id, line_item_id=inv.line_items[0].id
            ),
        ),
        "IssueInvoice": (InvoiceStatus.DRAFT, lambda inv: invoice_service_pb2.IssueInvoiceRequest(invoice_id=inv.id)),
        "MarkInvoicePaid": (InvoiceStatus.ISSUED, lambda inv: mark_paid_request(inv.id, external_id=f"x-{inv.id}")),
        "VoidInvoice": (InvoiceStatus.ISSUED, lambda inv: invoice_service_pb2.VoidInvoiceRequest(invoice_id=inv.id)),
    }


RPCS = list(_requests())


def _call(api: Api, method: str, request: Message) -> Awaitable[Any]:
    stub: Callable[[Message], Awaitable[Any]] = getattr(api.invoices, method)
    return stub(request)


async def _prepared(api: Api, dsn: str, method: str) -> tuple[customer_pb2.Customer, invoice_pb2.Invoice, RequestFor]:
    """A customer with a 10.00 credit and an invoice in the status the RPC needs, plus its request builder."""
    status, build = _requests()[method]
    customer = await create_customer(api)
    await adjust_balance(api, customer.id, "10.00")
    invoice = await invoice_in_status(api, dsn, customer, status)
    return customer, invoice, build


@pytest.mark.parametrize("method", RPCS)
async def test_expected_version_mismatch_is_aborted_and_a_match_succeeds(
    api: Api, migrated_dsn: str, method: str
) -> None:
    """A stale expected_version: ABORTED VERSION_MISMATCH reporting the current version, nothing changes."""
    customer, invoice, build = await _prepared(api, migrated_dsn, method)
    for stale in (invoice.version - 1, invoice.version + 1):
        request = build(invoice)
        request.expected_version = stale  # type: ignore[attr-defined]
        error = await _refused_unchanged(
            api, invoice.id, _call(api, method, request), grpc.StatusCode.ABORTED, "VERSION_MISMATCH"
        )
        assert error.metadata["current_version"] == str(invoice.version)
        assert error.metadata["expected_version"] == str(stale)
    balance = await assert_balance_matches_ledger(api, customer.id)
    assert balance == (0 if invoice.status != invoice_pb2.INVOICE_STATUS_DRAFT else Decimal("10.00"))
    request = build(invoice)
    request.expected_version = invoice.version  # type: ignore[attr-defined]
    await _call(api, method, request)
    assert (await get_invoice(api, invoice.id)).version == invoice.version + 1
    await assert_balance_matches_ledger(api, customer.id)


@pytest.mark.parametrize("method", RPCS)
async def test_same_request_id_replays_the_original_response_and_changes_nothing_more(
    api: Api, migrated_dsn: str, method: str
) -> None:
    """A retry gets byte-identical bytes, even after later changes; the invoice and the ledger do not move again."""
    customer, invoice, build = await _prepared(api, migrated_dsn, method)
    request = build(invoice)
    request.request_id = f"req-{uuid.uuid4().hex}"  # type: ignore[attr-defined]
    first = await _call(api, method, request)
    after_first = await get_invoice(api, invoice.id)
    ledger_after_first = await ledger(api, customer.id)
    assert after_first.version == invoice.version + 1
    replay = await _call(api, method, request)
    assert replay.SerializeToString() == first.SerializeToString()
    assert await get_invoice(api, invoice.id) == after_first
    assert await ledger(api, customer.id) == ledger_after_first
    # A later change does not alter what the retry returns.
    changed = await api.invoices.UpdateInvoice(metadata_request(invoice.id, set={"later": "yes"}))
    again = await _call(api, method, request)
    assert again.SerializeToString() == first.SerializeToString()
    assert await get_invoice(api, invoice.id) == changed
    await assert_balance_matches_ledger(api, customer.id)


@pytest.mark.parametrize("method", RPCS)
async def test_same_request_id_with_a_different_request_is_already_exists(
    api: Api, migrated_dsn: str, method: str
) -> None:
    """Reusing a request_id for another invoice: ALREADY_EXISTS IDEMPOTENCY_KEY_REUSED, the other invoice unchanged."""
    customer, invoice, build = await _prepared(api, migrated_dsn, method)
    status, _ = _requests()[method]
    other = await invoice_in_status(api, migrated_dsn, customer, status)
    key = f"req-{uuid.uuid4().hex}"
    request = build(invoice)
    request.request_id = key  # type: ignore[attr-defined]
    await _call(api, method, request)
    reused = build(other)
    reused.request_id = key  # type: ignore[attr-defined]
    error = await _refused_unchanged(
        api, other.id, _call(api, method, reused), grpc.StatusCode.ALREADY_EXISTS, "IDEMPOTENCY_KEY_REUSED"
    )
    assert error.metadata["request_id"] == key
    await assert_balance_matches_ledger(api, customer.id)


async def test_a_request_id_used_by_one_rpc_cannot_be_used_by_another(api: Api) -> None:
    """The key binds the method too: IssueInvoice's key on VoidInvoice is refused."""
    customer = await create_customer(api)
    draft = await create_invoice(api, customer)
    key = f"req-{uuid.uuid4().hex}"
    issued = await issue(api, draft.id, request_id=key)
    error = await _refused_unchanged(
        api,
        draft.id,
        api.invoices.VoidInvoice(invoice_service_pb2.VoidInvoiceRequest(invoice_id=draft.id, request_id=key)),
        grpc.StatusCode.ALREADY_EXISTS,
        "IDEMPOTENCY_KEY_REUSED",
    )
    assert error.metadata["method"] == "IssueInvoice"
    assert status_of(await get_invoice(api, draft.id)) is InvoiceStatus.ISSUED
    assert issued.invoice_number


@pytest.mark.parametrize("method", [*RPCS, "GetInvoice"])
async def test_another_accounts_invoice_is_not_found(api: Api, other_api: Api, migrated_dsn: str, method: str) -> None:
    """Every lifecycle RPC on an invoice of another account: NOT_FOUND INVOICE_NOT_FOUND, and it stays as it was."""
    if method == "GetInvoice":
        customer = await create_customer(api)
        invoice = await create_invoice(api, customer)
        request: Message = invoice_service_pb2.GetInvoiceRequest(invoice_id=invoice.id)
    else:
        customer, invoice, build = await _prepared(api, migrated_dsn, method)
        request = build(invoice)
    error = await _refused_unchanged(
        api, invoice.id, _call(other_api, method, request), grpc.StatusCode.NOT_FOUND, "INVOICE_NOT_FOUND"
    )
    assert error.metadata["id"] == invoice.id
    await assert_balance_matches_ledger(api, customer.id)
