"""InvoiceService: reads requests into domain objects, runs them, answers with protos."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import asyncpg
import grpc
from invoicing.v1 import common_pb2, invoice_pb2, invoice_service_pb2, invoice_service_pb2_grpc, price_pb2

from server.api import converters as conv
from server.api import events
from server.api import lifecycle as actions
from server.api.customers import customer_key
from server.api.events import POLL_INTERVAL_S, Notifier
from server.api.mutations import run_mutation
from server.api.streaming import BY_INVOICE_DATE, Lister
from server.api.subscriptions import status_and_period
from server.billing import engine
from server.context import account_id
from server.db import customers as customers_repo
from server.db import events as events_repo
from server.db import invoices as repo
from server.db import subscriptions as subscriptions_repo
from server.db.pool import Database
from server.domain import lifecycle, money
from server.domain.billing import has_usage
from server.domain.customers import check_currency
from server.domain.errors import FailedPrecondition, InvalidArgument, OutOfRange, Violations
from server.domain.invoices import (
    DEFAULT_LIST_STATUSES,
    MAX_FUTURE_INVOICE_DATE,
    DiscountKind,
    InvoiceDiscount,
    InvoiceFilter,
    InvoiceSource,
    InvoiceStatus,
    LineInput,
    NewOneOffInvoice,
    check_line,
    check_line_count,
    parse_due_date_window,
    price_lines,
    totals,
)
from server.domain.validation import (
    MAX_LINE_ITEMS,
    MAX_NAME_LENGTH,
    check_id,
    check_limit,
    check_request_id,
    check_text,
    today_in,
)


def _line_inputs(request: invoice_service_pb2.CreateInvoiceRequest, v: Violations) -> list[LineInput]:
    lines = []
    for index, item in enumerate(request.line_items):
        prefix = f"line_items[{index}]"
        quantity = money.parse_decimal(item.quantity, f"{prefix}.quantity", v)
        unit_amount = money.parse_decimal(item.unit_amount, f"{prefix}.unit_amount", v)
        start = conv.optional_date(item, "start_date", v, field=f"{prefix}.start_date")
        end = conv.optional_date(item, "end_date", v, field=f"{prefix}.end_date")
        if start is None and not item.HasField("start_date"):
            v.add(f"{prefix}.start_date", "is required")
        if end is None and not item.HasField("end_date"):
            v.add(f"{prefix}.end_date", "is required")
        if quantity is not None and unit_amount is not None and start is not None and end is not None:
            line = LineInput(item.name, quantity, unit_amount, start, end)
            check_line(index, line, v)
            lines.append(line)
    return lines


def _discount(message: price_pb2.Discount, currency: str, v: Violations) -> InvoiceDiscount | None:
    kind = conv.DISCOUNT_TYPES.get(message.discount_type)
    if kind == DiscountKind.PERCENTAGE.value:
        value = money.parse_decimal(message.percentage_discount, "discount.percentage_discount", v, allow_zero=False)
        if value is not None and value > 1:
            v.add("discount.percentage_discount", 'must be a fraction between 0 and 1 ("0.1" is 10%)')
            return None
        return None if value is None else InvoiceDiscount(DiscountKind.PERCENTAGE, value, message.reason)
    if kind == DiscountKind.AMOUNT.value:
        amount = money.parse_amount(message.amount_discount, currency, "discount.amount_discount", v, allow_zero=False)
        return None if amount is None else InvoiceDiscount(DiscountKind.AMOUNT, amount, message.reason)
    if kind == "usage":
        v.add("discount.discount_type", "usage discounts apply to usage prices, not to one-off invoices")
    else:
        v.add("discount.discount_type", "must be DISCOUNT_TYPE_PERCENTAGE or DISCOUNT_TYPE_AMOUNT")
    return None


def _discount_json(discount: InvoiceDiscount | None) -> list[dict[str, str]]:
    if discount is None:
        return []
    value_field = "percentage_discount" if discount.kind is DiscountKind.PERCENTAGE else "amount_discount"
    return [
        {"discount_type": discount.kind.value, value_field: money.to_wire(discount.value), "reason": discount.reason}
    ]


def _ordered(lower: Any, upper: Any, field: str, v: Violations) -> None:
    if lower is not None and upper is not None and lower >= upper:
        v.add(field, "makes the range empty: the lower bound is not below the upper bound")


def invoice_filter(request: invoice_service_pb2.ListInvoicesRequest, today: dt.date, v: Violations) -> InvoiceFilter:
    """The validated filters of a ListInvoices request."""
    if request.customer_id and request.external_customer_id:
        v.add("external_customer_id", "set at most one of customer_id and external_customer_id")
    check_id(request.customer_id, "customer_id", v, required=False)
    check_id(request.external_customer_id, "external_customer_id", v, required=False)
    check_id(request.subscription_id, "subscription_id", v, required=False)
    statuses: list[InvoiceStatus] = []
    for index, number in enumerate(request.status):
        name = conv.INVOICE_STATUSES.get(number)
        if name is None:
            v.add(f"status[{index}]", f"is not an invoice status: {number}")
        else:
            statuses.append(InvoiceStatus(name))
    if request.date_type not in (0, invoice_pb2.INVOICE_DATE_TYPE_INVOICE_DATE, invoice_pb2.INVOICE_DATE_TYPE_DUE_DATE):
        v.add("date_type", f"is not a date type: {request.date_type}")
    window_start = parse_due_date_window(request.due_date_window, today, v) if request.due_date_window else None
    amounts = {
        name: money.parse_decimal(getattr(request, name), name, v) if getattr(request, name) else None
        for name in ("amount", "amount_gt", "amount_lt")
    }
    dates = {
        name: conv.optional_date(request, name, v)
        for name in (
            "due_date",
            "due_date_gt",
            "due_date_lt",
            "invoice_date_gt",
            "invoice_date_gte",
            "invoice_date_lt",
            "invoice_date_lte",
        )
    }
    _ordered(dates["due_date_gt"], dates["due_date_lt"], "due_date_lt", v)
    _ordered(dates["invoice_date_gt"] or dates["invoice_date_gte"], dates["invoice_date_lt"], "invoice_date_lt", v)
    _ordered(dates["invoice_date_gt"], dates["invoice_date_lte"], "invoice_date_lte", v)
    if (
        dates["invoice_date_gte"]
        and dates["invoice_date_lte"]
        and dates["invoice_date_gte"] > dates["invoice_date_lte"]
    ):
        v.add("invoice_date_lte", "makes the range empty: it is before invoice_date_gte")
    _ordered(amounts["amount_gt"], amounts["amount_lt"], "amount_lt", v)
    return InvoiceFilter(
        statuses=tuple(statuses) or DEFAULT_LIST_STATUSES,
        customer_id=request.customer_id or None,
        external_customer_id=request.external_customer_id or None,
        subscription_id=request.subscription_id or None,
        filter_by_due_date=request.date_type == invoice_pb2.INVOICE_DATE_TYPE_DUE_DATE,
        due_date=dates["due_date"],
        due_date_gt=dates["due_date_gt"],
        due_date_lt=dates["due_date_lt"],
        due_date_from=window_start,
        due_date_to=today if window_start is not None else None,
        date_gt=dates["invoice_date_gt"],
        date_gte=dates["invoice_date_gte"],
        date_lt=dates["invoice_date_lt"],
        date_lte=dates["invoice_date_lte"],
        amount=amounts["amount"],
        amount_gt=amounts["amount_gt"],
        amount_lt=amounts["amount_lt"],
        is_recurring=request.is_recurring if request.HasField("is_recurring") else None,
    )


# Events read per query while catching up.
_EVENT_PAGE = 500


def _expected(request: Any) -> int | None:
    """The request's expected_version, if it set one."""
    return request.expected_version if request.HasField("expected_version") else None


def _check_invoice_request(request: Any) -> None:
    """The checks shared by requests that name only an invoice."""
    v = Violations()
    check_id(request.invoice_id, "invoice_id", v)
    check_request_id(request.request_id, v)
    v.raise_if_any()


def utc_now() -> dt.datetime:
    """The current instant, in UTC."""
    return dt.datetime.now(dt.UTC)


class InvoiceServicer(invoice_service_pb2_grpc.InvoiceServiceServicer):
    """Implements InvoiceService."""

    def __init__(
        self,
        db: Database,
        lists: Lister,
        notifier: Notifier,
        clock: Callable[[], dt.datetime] = utc_now,
    ) -> None:
        self._db = db
        self._lists = lists
        self._notifier = notifier
        self._clock = clock

    async def CreateInvoice(
        self, request: invoice_service_pb2.CreateInvoiceRequest, context: grpc.aio.ServicerContext
    ) -> invoice_pb2.Invoice:
        v = Violations()
        customer_key(request.customer_id, request.external_customer_id, v)
        check_request_id(request.request_id, v)
        check_currency(request.currency, "currency", v)
        invoice_date = conv.date_from(request.invoice_date, "invoice_date", v, required=True)
        check_line_count(len(request.line_items), v)
        if len(request.line_items) > MAX_LINE_ITEMS:
            v.raise_if_any()  # size limits before per-line work: an oversized request is refused for nothing
        lines = _line_inputs(request, v)
        discount = _discount(request.discount, request.currency, v) if request.HasField("discount") else None
        due_date = conv.optional_date(request, "due_date", v)
        if invoice_date is not None:
            NewOneOffInvoice(
                currency=request.currency,
                invoice_date=invoice_date,
                lines=lines,
                net_terms=request.net_terms if request.HasField("net_terms") else None,
                due_date=due_date,
                memo=request.memo,
                metadata=dict(request.metadata),
                discount=discount,
                will_auto_issue=request.will_auto_issue,
                auto_collection=request.auto_collection if request.HasField("auto_collection") else None,
            ).validate(v, today=self._clock().date())
        v.raise_if_any()
        assert invoice_date is not None

        async def work(conn: asyncpg.Connection, account: str) -> invoice_pb2.Invoice:
            customer = await customers_repo.get(
                conn,
                account,
                customer_id=request.customer_id,
                external_customer_id=request.external_customer_id,
                # Auto-issuing moves the balance, which needs the exclusive lock; take it now, never upgrade.
                lock="update" if request.will_auto_issue else "share",
            )
            if customer["currency"] != request.currency:
                raise FailedPrecondition(
                    "CURRENCY_MISMATCH",
                    f"the invoice currency {request.currency} differs from the customer's {customer['currency']}",
                    subject="currency",
                    metadata={"customer_currency": customer["currency"]},
                )
            priced = price_lines(lines, request.currency, discount)
            invoice_id = await repo.insert(
                conn,
                account,
                customer=customer,
                source=InvoiceSource.ONE_OFF,
                currency=request.currency,
                invoice_date=invoice_date,
                due_date=due_date,
                net_terms=request.net_terms if request.HasField("net_terms") else customer["net_terms"],
                lines=priced,
                totals=totals(priced, request.currency),
                memo=request.memo,
                metadata=dict(request.metadata),
                discounts=_discount_json(discount),
                auto_collection=request.auto_collection
                if request.HasField("auto_collection")
                else customer["auto_collection"],
                will_auto_issue=request.will_auto_issue,
            )
            created = await events.record(conn, account, invoice_id, ["created"])
            now = self._clock()
            if request.will_auto_issue and invoice_date <= today_in(customer["timezone"], now):
                return await actions.issue(conn, account, invoice_id, None, now)
            return created

        return await run_mutation(self._db, "CreateInvoice", request, invoice_pb2.Invoice, work)

    async def GetInvoice(
        self, request: invoice_service_pb2.GetInvoiceRequest, context: grpc.aio.ServicerContext
    ) -> invoice_pb2.Invoice:
        v = Violations()
        check_id(request.invoice_id, "invoice_id", v)
        v.raise_if_any()
        async with self._db.connection() as conn:
            row = await repo.get(conn, account_id(), request.invoice_id)
        return conv.invoice_pb(row)

    async def ListInvoices(
        self, request: invoice_service_pb2.ListInvoicesRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[invoice_service_pb2.ListInvoicesResponse]:
        v = Violations()
        check_limit(request.limit, v)
        filters = invoice_filter(request, self._clock().date(), v)
        v.raise_if_any()
        account = account_id()
        scope, after = self._lists.resume(account, "ListInvoices", request, BY_INVOICE_DATE)
        async for response in self._lists.stream(
            scope,
            repo.list_query(account, filters, after),
            keyset=BY_INVOICE_DATE,
            build=conv.invoice_pb,
            respond=lambda items, token: invoice_service_pb2.ListInvoicesResponse(invoices=items, resume_token=token),
            limit=request.limit,
        ):
            yield response

    async def _invoice_mutation(
        self,
        method: str,
        request: Any,
        action: Callable[[asyncpg.Connection, str], Awaitable[invoice_pb2.Invoice]],
    ) -> invoice_pb2.Invoice:
        """Run an invoice mutation exactly once; it answers with the invoice as the change left it."""
        return await run_mutation(self._db, method, request, invoice_pb2.Invoice, action)

    async def UpdateInvoice(
        self, request: invoice_service_pb2.UpdateInvoiceRequest, context: grpc.aio.ServicerContext
    ) -> invoice_pb2.Invoice:
        v = Violations()
        check_id(request.invoice_id, "invoice_id", v)
        check_request_id(request.request_id, v)
        changes = lifecycle.InvoiceChanges(
            metadata=conv.metadata_patch_from(request.metadata) if request.HasField("metadata") else None,
            net_terms=request.net_terms if request.HasField("net_terms") else None,
            due_date=conv.optional_date(request, "due_date", v),
            auto_collection=request.auto_collection if request.HasField("auto_collection") else None,
            invoice_date=conv.optional_date(request, "invoice_date", v),
        )
        if changes.invoice_date is not None and changes.invoice_date > self._clock().date() + MAX_FUTURE_INVOICE_DATE:
            v.add("invoice_date", "must be at most one year in the future")
        v.raise_if_any()
        changes.validate()
        return await self._invoice_mutation(
            "UpdateInvoice",
            request,
            lambda conn, account: actions.update(conn, account, request.invoice_id, changes, _expected(request)),
        )

    async def CreateInvoiceLineItem(
        self, request: invoice_service_pb2.CreateInvoiceLineItemRequest, context: grpc.aio.ServicerContext
    ) -> invoice_pb2.InvoiceLineItem:
        v = Violations()
        check_id(request.invoice_id, "invoice_id", v)
        check_request_id(request.request_id, v)
        amount = money.parse_decimal(request.amount, "amount", v)
        quantity = money.parse_decimal(request.quantity, "quantity", v, allow_zero=False)
        start = conv.date_from(request.start_date, "start_date", v, required=True)
        end = conv.date_from(request.end_date, "end_date", v, required=True)
        line: lifecycle.NewFixedLine | None = None
        if amount is not None and quantity is not None and start is not None and end is not None:
            line = lifecycle.NewFixedLine(request.name, amount, quantity, start, end)
            line.validate(v)
        else:
            check_text(request.name, "name", v, max_length=MAX_NAME_LENGTH, required=True)
        v.raise_if_any()
        assert line is not None
        new_line = line

        async def work(conn: asyncpg.Connection, account: str) -> invoice_pb2.InvoiceLineItem:
            line_id = await actions.add_line(conn, account, request.invoice_id, new_line, _expected(request))
            return conv.line_item_pb(await repo.line_item(conn, account, line_id))

        return await run_mutation(self._db, "CreateInvoiceLineItem", request, invoice_pb2.InvoiceLineItem, work)

    async def DeleteInvoiceLineItem(
        self, request: invoice_service_pb2.DeleteInvoiceLineItemRequest, context: grpc.aio.ServicerContext
    ) -> invoice_pb2.Invoice:
        v = Violations()
        check_id(request.invoice_id, "invoice_id", v)
        check_id(request.line_item_id, "line_item_id", v)
        check_request_id(request.request_id, v)
        v.raise_if_any()
        return await self._invoice_mutation(
            "DeleteInvoiceLineItem",
            request,
            lambda conn, account: actions.delete_line(
                conn, account, request.invoice_id, request.line_item_id, _expected(request)
            ),
        )

    async def IssueInvoice(
        self, request: invoice_service_pb2.IssueInvoiceRequest, context: grpc.aio.ServicerContext
    ) -> invoice_pb2.Invoice:
        _check_invoice_request(request)
        return await self._invoice_mutation(
            "IssueInvoice",
            request,
            lambda conn, account: actions.issue(conn, account, request.invoice_id, _expected(request), self._clock()),
        )

    async def MarkInvoicePaid(
        self, request: invoice_service_pb2.MarkInvoicePaidRequest, context: grpc.aio.ServicerContext
    ) -> invoice_pb2.Invoice:
        v = Violations()
        check_id(request.invoice_id, "invoice_id", v)
        check_request_id(request.request_id, v)
        received = conv.date_from(request.payment_received_date, "payment_received_date", v, required=True)
        payment: lifecycle.NewPayment | None = None
        if received is not None:
            payment = lifecycle.NewPayment(received, request.external_id, request.notes)
            # A day of slack: "today" somewhere on Earth may be tomorrow in UTC.
            payment.validate(v, latest_allowed=self._clock().date() + dt.timedelta(days=1))
        v.raise_if_any()
        assert payment is not None
        recorded = payment
        return await self._invoice_mutation(
            "MarkInvoicePaid",
            request,
            lambda conn, account: actions.mark_paid(
                conn, account, request.invoice_id, recorded, _expected(request), self._clock()
            ),
        )

    async def VoidInvoice(
        self, request: invoice_service_pb2.VoidInvoiceRequest, context: grpc.aio.ServicerContext
    ) -> invoice_pb2.Invoice:
        _check_invoice_request(request)
        return await self._invoice_mutation(
            "VoidInvoice",
            request,
            lambda conn, account: actions.void(conn, account, request.invoice_id, _expected(request), self._clock()),
        )

    async def GetUpcomingInvoice(
        self, request: invoice_service_pb2.GetUpcomingInvoiceRequest, context: grpc.aio.ServicerContext
    ) -> invoice_pb2.UpcomingInvoice:
        v = Violations()
        check_id(request.subscription_id, "subscription_id", v)
        v.raise_if_any()
        account = account_id()
        now = self._clock()
        async with self._db.read_snapshot() as conn:  # unary: never the stream pool
            row = await subscriptions_repo.get(conn, account, request.subscription_id)
            sub = engine.subscription_from(row, account)
            today = today_in(sub.timezone, now)
            status, period = status_and_period(sub, today)
            if period is None:
                raise FailedPrecondition(
                    "SUBSCRIPTION_NOT_ACTIVE",
                    f"the subscription is {status}: it has no current billing period",
                    subject="subscription_id",
                )
            k = sub.schedule.index_of(today) + 1
            priced = await engine.price_boundary(conn, sub, k, usage_until=now)
            customer = await customers_repo.get(conn, account, customer_id=sub.customer_id)
        lines = engine.invoice_lines(priced, sub)
        result = totals(lines, sub.currency)
        target = sub.boundary_date(k)
        eligible = sub.boundary_at(k) + (engine.DEFAULT_GRACE if has_usage(priced) else dt.timedelta(0))
        invoice = invoice_pb2.Invoice(
            status=invoice_pb2.INVOICE_STATUS_DRAFT,
            invoice_source=invoice_pb2.INVOICE_SOURCE_SUBSCRIPTION,
            customer=common_pb2.CustomerRef(id=sub.customer_id, external_customer_id=row["external_customer_id"] or ""),
            subscription=common_pb2.SubscriptionRef(id=sub.id),
            currency=sub.currency,
            invoice_date=conv.date_pb(target),
            net_terms=sub.net_terms,
            subtotal=money.to_wire(result.subtotal),
            total=money.to_wire(result.total),
            amount_due=money.to_wire(result.total),
            line_items=[conv.domain_line_pb(line) for line in lines],
            auto_collection=invoice_pb2.AutoCollection(enabled=customer["auto_collection"]),
            billing_address=conv.address_pb(customer["billing_address"]),
            shipping_address=conv.address_pb(customer["shipping_address"]),
            customer_tax_id=conv.tax_id_pb(customer["tax_id"]),
            will_auto_issue=sub.auto_issue,
            eligible_to_issue_at=conv.timestamp(eligible),
            scheduled_issue_at=conv.timestamp(eligible) if sub.auto_issue else None,
        )
        return invoice_pb2.UpcomingInvoice(target_date=conv.date_pb(target), invoice=invoice)

    async def WatchInvoiceEvents(
        self, request: invoice_service_pb2.WatchInvoiceEventsRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[invoice_pb2.InvoiceEvent]:
        v = Violations()
        if request.after_sequence < 0:
            v.add("after_sequence", "must not be negative")
        check_id(request.customer_id, "customer_id", v, required=False)
        kinds: set[str] = set()
        for index, number in enumerate(request.types):
            kind = conv.EVENT_TYPES.get(number)
            if kind is None:
                v.add(f"types[{index}]", f"is not an invoice event type: {number}")
            else:
                kinds.add(kind)
        v.raise_if_any()
        account = account_id()
        async with self._db.connection() as conn:
            oldest, last = await events_repo.retained_range(conn, account)
        if request.after_sequence > last:
            raise InvalidArgument.one("after_sequence", f"is beyond the last event ({last})")
        first_kept = oldest if oldest is not None else last + 1
        if request.after_sequence < first_kept - 1:
            raise OutOfRange(
                "EVENTS_EXPIRED",
                f"events after {request.after_sequence} are no longer kept; the oldest kept is {first_kept}",
                metadata={"oldest_sequence": str(first_kept)},
            )
        position = request.after_sequence
        with self._notifier.subscription(account) as wake:
            while True:
                wake.clear()  # before reading, so that a commit during the read is not missed
                async with self._db.connection() as conn:
                    rows = await events_repo.after(conn, account, position, _EVENT_PAGE)
                for row in rows:
                    position = row["sequence"]
                    if (kinds and row["type"] not in kinds) or (
                        request.customer_id and row["customer_id"] != request.customer_id
                    ):
                        continue
                    yield conv.invoice_event_pb(row)
                if len(rows) < _EVENT_PAGE:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(wake.wait(), timeout=POLL_INTERVAL_S)
