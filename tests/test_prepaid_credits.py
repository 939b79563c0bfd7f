"""Prepaid credits end to end: grants, drawdown by usage lines in Orb's order, expiry by the runner, the ledger,
worked by hand in USD and JPY.

The plan: Platform 20.00 a month in advance and Calls 0.10 each in arrears with an amount discount of 1.00 (in
JPY 2000, 10 and 100). Credits pay the in-arrears line after its adjustments; the in-advance fee never draws.
"""

from __future__ import annotations

import asyncio
import uuid
from decimal import Decimal
from typing import Any

import grpc
import pytest
from invoicing.v1 import customer_pb2, customer_service_pb2, invoice_pb2

from server.app import RunningServer
from tests.support.builders import (
    add_line_request,
    amount_off,
    at,
    billed_per_call,
    create_customer,
    create_plan,
    date,
    event,
    fixed_fee,
    subscribe,
    usage_price,
)
from tests.support.calls import (
    get_customer,
    get_invoice,
    ingest_ok,
    invoices_of,
    issue,
    previewed_and_generated,
    void,
)
from tests.support.checks import assert_totals_are_sum_of_lines
from tests.support.client import Api, expect_error
from tests.support.clock import Clock, run_billing

D = Decimal
INCREMENT = customer_pb2.CREDIT_LEDGER_ENTRY_TYPE_INCREMENT
DECREMENT = customer_pb2.CREDIT_LEDGER_ENTRY_TYPE_DECREMENT
EXPIRY = customer_pb2.CREDIT_LEDGER_ENTRY_TYPE_CREDIT_BLOCK_EXPIRY
RETURNED = customer_pb2.CREDIT_LEDGER_ENTRY_TYPE_RETURN_FROM_VOIDING
VALUES = {
    "USD": {"fee": "20.00", "call": "0.10", "off": "1.00", "a": "5.00", "b": "30.00", "c": "10.00", "d": "100.00"},
    "JPY": {"fee": "2000", "call": "10", "off": "100", "a": "500", "b": "3000", "c": "1000", "d": "10000"},
}


async def grant(api: Api, customer: customer_pb2.Customer, amount: str, **fields: Any) -> customer_pb2.CreditBlock:
    """GrantCredits in the customer's currency."""
    block: customer_pb2.CreditBlock = await api.customers.GrantCredits(
        customer_service_pb2.GrantCreditsRequest(
            customer_id=customer.id, amount=amount, currency=customer.currency, **fields
        )
    )
    return block


async def ledger(api: Api, customer_id: str) -> list[customer_pb2.CreditLedgerEntry]:
    """The customer's credits ledger, newest first."""
    request = customer_service_pb2.ListCreditLedgerRequest(customer_id=customer_id)
    return [e async for batch in api.customers.ListCreditLedger(request) for e in batch.entries]


async def blocks(api: Api, customer_id: str) -> dict[str, customer_pb2.CreditBlock]:
    """The customer's credit blocks by id."""
    request = customer_service_pb2.ListCreditBlocksRequest(customer_id=customer_id)
    return {b.id: b async for batch in api.customers.ListCreditBlocks(request) for b in batch.credit_blocks}


async def assert_credits_match_ledger(api: Api, customer_id: str) -> Decimal:
    """The credit balance is the signed sum of the ledger, the ledger chains from zero, each block's remainder is
    the sum of its entries; return the balance."""
    entries = await ledger(api, customer_id)
    signed = [D(e.amount) if e.entry_type in (INCREMENT, RETURNED) else -D(e.amount) for e in entries]
    previous = D(0)
    for entry, change in zip(reversed(entries), reversed(signed), strict=True):
        assert (D(entry.starting_balance), D(entry.ending_balance)) == (previous, previous + change), entry
        previous = D(entry.ending_balance)
    balance = D((await get_customer(api, customer_id)).credit_balance)
    assert balance == sum(signed, D(0)) == previous
    per_block: dict[str, Decimal] = {}
    for entry, change in zip(entries, signed, strict=True):
        per_block[entry.credit_block.id] = per_block.get(entry.credit_block.id, D(0)) + change
    assert {i: D(b.remaining) for i, b in (await blocks(api, customer_id)).items()} == per_block
    return balance


def credit_rows(invoice: invoice_pb2.Invoice) -> list[tuple[str, str, str, str, str]]:
    """(name, subtotal, adjusted subtotal, credits applied, amount) of each line."""
    return [(li.name, li.subtotal, li.adjusted_subtotal, li.credits_applied, li.amount) for li in invoice.line_items]


async def calls(api: Api, clock: Clock, customer: customer_pb2.Customer, when: str, count: int) -> None:
    clock.set(at(when))
    await ingest_ok(api, [event(customer.id, at(when)) for _ in range(count)])


@pytest.mark.parametrize(
    ("currency", "june", "july"),
    [
        (
            "USD",
            # 150 calls × 0.10 = 15.00, less 1.00 = 14.00; A (expires Jul 1, cost basis 0) pays 5.00 and C (Jul 1,
            # 0.20) 9.00 before B (no expiry): nothing left to pay.
            [("Calls", "15.00", "14.00", "14.00", "0.00"), ("Platform", "20.00", "20.00", "0.00", "20.00")],
            # 400 calls: 40.00 less 1.00 = 39.00; only B is left (30.00), and D starts after July: 9.00 due.
            [("Calls", "40.00", "39.00", "30.00", "9.00"), ("Platform", "20.00", "20.00", "0.00", "20.00")],
        ),
        (
            "JPY",
            # 150 × 10 = 1500, less 100 = 1400: A 500 and C 900.
            [("Calls", "1500", "1400", "1400", "0"), ("Platform", "2000", "2000", "0", "2000")],
            # 4000 less 100 = 3900; B pays 3000: 900 due.
            [("Calls", "4000", "3900", "3000", "900"), ("Platform", "2000", "2000", "0", "2000")],
        ),
    ],
)
async def test_credits_pay_usage_soonest_expiry_first_then_expire(
    clocked_api: Api,
    clocked_server: RunningServer,
    clock: Clock,
    currency: str,
    june: list[tuple[str, ...]],
    july: list[tuple[str, ...]],
) -> None:
    v = VALUES[currency]
    clock.set(at("2027-05-20T10:00"))
    customer = await create_customer(clocked_api, currency=currency, auto_issuance=False)
    discount = amount_off(v["off"])
    plan = await create_plan(
        clocked_api,
        usage_price("Calls", v["call"], discounts=[discount]),
        fixed_fee("Platform", v["fee"]),
        currency=currency,
    )
    a = await grant(
        clocked_api, customer, v["a"], effective_date=date("2027-06-01"), expiry_date=date("2027-07-01"),
        per_unit_cost_basis="0",
    )  # fmt: skip
    b = await grant(clocked_api, customer, v["b"], per_unit_cost_basis="0.50", description="Bought")
    c = await grant(
        clocked_api, customer, v["c"], effective_date=date("2027-06-01"), expiry_date=date("2027-07-01"),
        per_unit_cost_basis="0.20",
    )  # fmt: skip
    await grant(clocked_api, customer, v["d"], effective_date=date("2027-08-01"))
    assert (b.effective_date, b.remaining, b.per_unit_cost_basis) == (date("2027-05-20"), v["b"], "0.50")
    total_granted = D(v["a"]) + D(v["b"]) + D(v["c"]) + D(v["d"])
    assert await assert_credits_match_ledger(clocked_api, customer.id) == total_granted

    sub = await subscribe(clocked_api, customer, plan, "2027-06-01")
    await run_billing(clocked_server, clock, at("2027-06-01T00:05"))
    [first] = await invoices_of(clocked_api, subscription_id=sub.id)
    await issue(clocked_api, first.id)  # June's fee: credits never pay in-advance fees
    assert first.line_items[0].credits_applied == ("0.00" if currency == "USD" else "0")
    await calls(clocked_api, clock, customer, "2027-06-10T09:00", 150)

    preview, draft = await previewed_and_generated(
        clocked_api, clocked_server, clock, sub.id, at("2027-06-30T23:00"), at("2027-07-01T00:05")
    )
    assert credit_rows(preview) == credit_rows(draft) == june
    assert_totals_are_sum_of_lines(draft)
    # C's expiry date has come, but the draft can still draw from it: nothing expires, nothing is drawn yet.
    assert await assert_credits_match_ledger(clocked_api, customer.id) == total_granted

    clock.set(at("2027-07-01T12:10"))
    issued = await issue(clocked_api, draft.id)
    assert credit_rows(issued) == june
    drawn = [
        (e.entry_type, e.credit_block.id, e.amount, e.line_item_id)
        for e in (await ledger(clocked_api, customer.id))[:2]
    ]
    calls_line = issued.line_items[0].id
    assert sorted(drawn) == sorted(
        [(DECREMENT, a.id, v["a"], calls_line), (DECREMENT, c.id, str(D(v["c"]) - D(v["c"]) / 10), calls_line)]
    )
    await run_billing(clocked_server, clock, at("2027-07-01T12:15"))  # now C's last tenth expires
    expiry = (await ledger(clocked_api, customer.id))[0]
    assert (expiry.entry_type, expiry.credit_block.id, expiry.amount) == (EXPIRY, c.id, str(D(v["c"]) / 10))
    assert await assert_credits_match_ledger(clocked_api, customer.id) == D(v["b"]) + D(v["d"])

    await calls(clocked_api, clock, customer, "2027-07-15T09:00", 400)
    preview, august = await previewed_and_generated(
        clocked_api, clocked_server, clock, sub.id, at("2027-07-31T23:00"), at("2027-08-01T00:05")
    )
    assert credit_rows(preview) == credit_rows(august) == july
    clock.set(at("2027-08-01T12:10"))
    august = await issue(clocked_api, august.id)
    assert august.amount_due == str(D(july[0][4]) + D(july[1][4]))
    assert await assert_credits_match_ledger(clocked_api, customer.id) == D(v["d"])  # B spent, D untouched

    voided = await void(clocked_api, august.id)  # B gets back what August drew
    returned = (await ledger(clocked_api, customer.id))[0]
    assert (returned.entry_type, returned.credit_block.id, returned.amount, returned.invoice.id) == (
        RETURNED,
        b.id,
        v["b"],
        voided.id,
    )
    assert await assert_credits_match_ledger(clocked_api, customer.id) == D(v["b"]) + D(v["d"])


async def test_a_grant_re_prices_the_subscription_drafts_at_once(
    clocked_api: Api, clocked_server: RunningServer, clock: Clock
) -> None:
    clock.set(at("2027-09-01T00:05"))
    customer, sub = await billed_per_call(clocked_api, "2027-09-01", "0.10")
    await calls(clocked_api, clock, customer, "2027-09-03T09:00", 40)
    await run_billing(clocked_server, clock, at("2027-10-01T00:05"))
    [draft] = await invoices_of(clocked_api, subscription_id=sub.id)
    assert (draft.total, draft.line_items[0].credits_applied) == ("4.00", "0.00")

    clock.set(at("2027-10-01T01:00"))
    await grant(clocked_api, customer, "2.50", effective_date=date("2027-09-15"))  # overlaps September's days
    after = await get_invoice(clocked_api, draft.id)
    assert after.version == draft.version + 1
    assert (after.line_items[0].credits_applied, after.line_items[0].amount, after.total) == ("2.50", "1.50", "1.50")
    # Nothing is drawn until the draft is issued.
    assert await assert_credits_match_ledger(clocked_api, customer.id) == D("2.50")
    # A one-off line added by hand leaves the subscription line as its pricing left it.
    added = await clocked_api.invoices.CreateInvoiceLineItem(add_line_request(draft.id, "5.00"))
    after = await get_invoice(clocked_api, draft.id)
    assert [(li.credits_applied, li.amount) for li in after.line_items] == [("2.50", "1.50"), ("0.00", "5.00")]
    assert (after.total, added.amount) == ("6.50", "5.00")
    assert_totals_are_sum_of_lines(after)


async def test_concurrent_issues_never_draw_more_than_a_block_holds(
    clocked_api: Api, clocked_server: RunningServer, clock: Clock
) -> None:
    """Two subscriptions' drafts each show the whole block; issued at once, they draw it once between them."""
    clock.set(at("2027-09-01T00:05"))
    customer = await create_customer(clocked_api, auto_issuance=False)
    plan = await create_plan(clocked_api, usage_price("Calls", "1.00"))
    subscriptions = [await subscribe(clocked_api, customer, plan, "2027-09-01") for _ in range(2)]
    await calls(clocked_api, clock, customer, "2027-09-03T09:00", 6)  # 6.00 on each subscription
    await grant(clocked_api, customer, "10.00")
    await run_billing(clocked_server, clock, at("2027-10-01T00:05"))
    drafts = [(await invoices_of(clocked_api, subscription_id=s.id))[0] for s in subscriptions]
    assert [d.line_items[0].credits_applied for d in drafts] == ["6.00", "6.00"]  # each would take 6.00
    clock.set(at("2027-10-01T12:10"))
    issued = await asyncio.gather(*(issue(clocked_api, d.id) for d in drafts))
    assert sorted(i.line_items[0].credits_applied for i in issued) == ["4.00", "6.00"]
    assert sorted(i.amount_due for i in issued) == ["0.00", "2.00"]
    assert await assert_credits_match_ledger(clocked_api, customer.id) == D("0.00")


async def test_grants_are_checked_and_idempotent(clocked_api: Api, clock: Clock, other_api: Api) -> None:
    customer = await create_customer(clocked_api)
    key = uuid.uuid4().hex
    first = await grant(clocked_api, customer, "5.00", request_id=key)
    assert await grant(clocked_api, customer, "5.00", request_id=key) == first
    reused = await expect_error(grant(clocked_api, customer, "6.00", request_id=key))
    assert reused.reason == "IDEMPOTENCY_KEY_REUSED"
    refused = {
        "CURRENCY_MISMATCH": customer_service_pb2.GrantCreditsRequest(
            customer_id=customer.id, amount="1", currency="EUR"
        ),
    }
    for reason, request in refused.items():
        error = await expect_error(clocked_api.customers.GrantCredits(request))
        assert (error.code, error.reason) == (grpc.StatusCode.FAILED_PRECONDITION, reason)
    invalid = {
        "amount": {"amount": "1.005"},
        "expiry_date": {"amount": "1", "expiry_date": date("2024-01-15")},  # not after today (the start)
        "per_unit_cost_basis": {"amount": "1", "per_unit_cost_basis": "-1"},
        "currency": {"amount": "1", "currency": "XYZ"},
    }
    for field, fields in invalid.items():
        request = customer_service_pb2.GrantCreditsRequest(customer_id=customer.id, **({"currency": "USD"} | fields))
        error = await expect_error(clocked_api.customers.GrantCredits(request))
        assert (error.code, set(error.field_violations)) == (grpc.StatusCode.INVALID_ARGUMENT, {field}), field
    foreign = await expect_error(grant(other_api, customer, "1.00"))
    assert foreign.code == grpc.StatusCode.NOT_FOUND
    frozen = await expect_error(
        clocked_api.customers.UpdateCustomer(
            customer_service_pb2.UpdateCustomerRequest(customer_id=customer.id, currency="EUR")
        )
    )
    assert (frozen.code, frozen.reason) == (grpc.StatusCode.FAILED_PRECONDITION, "CUSTOMER_HAS_CREDITS")
    assert await assert_credits_match_ledger(clocked_api, customer.id) == D("5.00")
