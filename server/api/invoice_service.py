"""InvoiceService: reads requests into domain objects, runs them, answers with protos."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from typing import Any

import grpc
from invoicing.v1 import invoice_pb2, invoice_service_pb2, invoice_service_pb2_grpc, price_pb2

from server.api import converters as conv
from server.api.documents import InvoiceDocuments
from server.api.mutations import run_mutation
from server.api.requests import check_fields, customer_request, field_violations
from server.api.servicer import Servicer
from server.api.streaming import BY_INVOICE_DATE, BY_VERSION, Lister, listed
from server.context import account_id
from server.domain import lifecycle, money
from server.domain.customers import check_currency
from server.domain.errors import Violations
from server.domain.events import InvoiceEventKind
from server.domain.invoices import (
    DEFAULT_LIST_STATUSES,
    Discount,
    DiscountKind,
    InvoiceFilter,
    InvoiceStatus,
    LineInput,
    NewOneOffInvoice,
    StoredInvoice,
    check_line,
    check_line_count,
    parse_due_date_window,
)
from server.domain.validation import (
    MAX_LINE_ITEMS,
    MAX_NAME_LENGTH,
    check_id,
    check_text,
)
from server.usecases.events import InvoiceEvents
from server.usecases.history import get_invoice_version, list_invoice_versions
from server.usecases.invoice_reads import InvoiceReads
from server.usecases.invoices import Invoices, creation_row
from server.usecases.publish import ChangedInvoice
from server.usecases.subscriptions import Subscriptions
from server.usecases.unit import Transactions, Tx


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


def _discount(message: price_pb2.Discount, currency: str, v: Violations) -> Discount | None:
    kind = conv.DISCOUNT_TYPES.get(message.discount_type)
    if kind == DiscountKind.PERCENTAGE.value:
        value = money.parse_decimal(message.percentage_discount, "discount.percentage_discount", v, allow_zero=False)
        if value is not None and value > 1:
            v.add("discount.percentage_discount", 'must be a fraction between 0 and 1 ("0.1" is 10%)')
            return None
        return None if value is None else Discount(DiscountKind.PERCENTAGE, value, message.reason)
    if kind == DiscountKind.AMOUNT.value:
        amount = money.parse_amount(message.amount_discount, currency, "discount.amount_discount", v, allow_zero=False)
        return None if amount is None else Discount(DiscountKind.AMOUNT, amount, message.reason)
    if kind == "usage":
        v.add("discount.discount_type", "usage discounts apply to usage prices, not to one-off invoices")
    else:
        v.add("discount.discount_type", "must be DISCOUNT_TYPE_PERCENTAGE or DISCOUNT_TYPE_AMOUNT")
    return None


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


def _expected(request: Any) -> int | None:
    """The request's expected_version, if it set one."""
    return request.expected_version if request.HasField("expected_version") else None


def _invoice_bytes(changed: ChangedInvoice) -> bytes:
    return changed.wire


def _stored_wire(invoice: StoredInvoice) -> bytes:
    assert invoice.wire is not None, "the read path renders every stale form"
    return invoice.wire


class InvoiceServicer(Servicer, InvoiceDocuments, invoice_service_pb2_grpc.InvoiceServiceServicer):
    """Implements InvoiceService: requests become commands, use cases run, domain objects become responses."""

    def __init__(
        self,
        transactions: Transactions,
        invoices: Invoices,
        reads: InvoiceReads,
        subscriptions: Subscriptions,
        events: InvoiceEvents,
        lists: Lister,
    ) -> None:
        super().__init__(transactions)
        self._invoices = invoices
        self._reads = reads
        self._subscriptions = subscriptions
        self._lists = lists
        self._events = events

    def _today(self) -> dt.date:
        return self._tx.clock().date()

    async def _mutate(
        self, request: Any, work: Callable[[Tx], Awaitable[ChangedInvoice]], row: str | None = None
    ) -> invoice_pb2.Invoice:
        """Run an invoice mutation exactly once (in the row's turn, when it names one); it answers with the
        invoice as the change left it."""
        return await run_mutation(self._tx, request, invoice_pb2.Invoice, work, _invoice_bytes, row)

    async def _on_invoice(
        self, request: Any, action: Callable[[Tx, str, int | None], Awaitable[ChangedInvoice]]
    ) -> invoice_pb2.Invoice:
        """A mutation that names only the invoice (and the version it expects): the ids checked, the action
        run exactly once on (invoice_id, expected_version), the invoice answered as it left it."""
        check_fields(request, "invoice_id", "request_id")
        return await self._mutate(request, lambda tx: action(tx, request.invoice_id, _expected(request)))

    async def CreateInvoice(
        self, request: invoice_service_pb2.CreateInvoiceRequest, context: grpc.aio.ServicerContext
    ) -> invoice_pb2.Invoice:
        customer, v = customer_request(request, "request_id")
        check_currency(request.currency, "currency", v)
        invoice_date = conv.date_from(request.invoice_date, "invoice_date", v, required=True)
        check_line_count(len(request.line_items), v)
        if len(request.line_items) > MAX_LINE_ITEMS:
            v.raise_if_any()  # size limits before per-line work: an oversized request is refused for nothing
        lines = _line_inputs(request, v)
        discount = _discount(request.discount, request.currency, v) if request.HasField("discount") else None
        due_date = conv.optional_date(request, "due_date", v)
        invoice: NewOneOffInvoice | None = None
        if invoice_date is not None:
            invoice = NewOneOffInvoice(
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
            )
            invoice.validate(v, today=self._today())
        v.raise_if_any()
        assert invoice is not None
        new = invoice
        return await self._mutate(
            request, lambda tx: self._invoices.create(tx, customer, new), creation_row(customer, new)
        )

    async def GetInvoice(
        self, request: invoice_service_pb2.GetInvoiceRequest, context: grpc.aio.ServicerContext
    ) -> invoice_pb2.Invoice:
        v = field_violations(request, "invoice_id")
        if request.HasField("version") and request.version < 1:
            v.add("version", "must be greater than zero")
        v.raise_if_any()
        # A stored wire form (the recorded version, or the invoice's current one), passed through as it is
        # (see server.api.registration).
        if request.HasField("version"):
            return await get_invoice_version(  # type: ignore[return-value]
                self._db, account_id(), request.invoice_id, request.version
            )
        return await self._reads.wire(account_id(), request.invoice_id)  # type: ignore[return-value]

    def ListInvoiceVersions(
        self, request: invoice_service_pb2.ListInvoiceVersionsRequest, context: grpc.aio.ServicerContext
    ) -> AsyncGenerator[invoice_service_pb2.ListInvoiceVersionsResponse, None]:
        check_fields(request, "invoice_id", "limit")
        return self._lists.serve(
            request,
            BY_VERSION,
            lambda account, page: list_invoice_versions(self._db, account, request.invoice_id, page),
            build=conv.invoice_version_pb,
            respond=listed(invoice_service_pb2.ListInvoiceVersionsResponse),
        )

    def ListInvoices(
        self, request: invoice_service_pb2.ListInvoicesRequest, context: grpc.aio.ServicerContext
    ) -> AsyncGenerator[invoice_service_pb2.ListInvoicesResponse, None]:
        v = field_violations(request, "limit")
        filters = invoice_filter(request, self._today(), v)
        v.raise_if_any()
        # Responses in wire form: the invoices' stored forms concatenated (see server.api.registration).
        return self._lists.serve(
            request,
            BY_INVOICE_DATE,
            lambda account, page: self._reads.list(account, filters, page),
            build=_stored_wire,
            respond=conv.list_invoices_response,  # type: ignore[arg-type]
            size=len,
        )

    async def UpdateInvoice(
        self, request: invoice_service_pb2.UpdateInvoiceRequest, context: grpc.aio.ServicerContext
    ) -> invoice_pb2.Invoice:
        v = field_violations(request, "invoice_id", "request_id")
        changes = lifecycle.InvoiceChanges(
            metadata=conv.metadata_patch_from(request.metadata) if request.HasField("metadata") else None,
            net_terms=request.net_terms if request.HasField("net_terms") else None,
            due_date=conv.optional_date(request, "due_date", v),
            auto_collection=request.auto_collection if request.HasField("auto_collection") else None,
            invoice_date=conv.optional_date(request, "invoice_date", v),
        )
        v.raise_if_any()
        changes.validate(self._today())
        return await self._mutate(
            request, lambda tx: self._invoices.update(tx, request.invoice_id, changes, _expected(request))
        )

    async def CreateInvoiceLineItem(
        self, request: invoice_service_pb2.CreateInvoiceLineItemRequest, context: grpc.aio.ServicerContext
    ) -> invoice_pb2.InvoiceLineItem:
        v = field_violations(request, "invoice_id", "request_id")
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
        return await self._mutation(
            request,
            invoice_pb2.InvoiceLineItem,
            lambda tx: self._invoices.add_line(tx, request.invoice_id, new_line, _expected(request)),
            lambda added: conv.line_item_pb(added.line),
        )

    async def DeleteInvoiceLineItem(
        self, request: invoice_service_pb2.DeleteInvoiceLineItemRequest, context: grpc.aio.ServicerContext
    ) -> invoice_pb2.Invoice:
        check_fields(request, "invoice_id", "line_item_id", "request_id")
        return await self._mutate(
            request,
            lambda tx: self._invoices.delete_line(tx, request.invoice_id, request.line_item_id, _expected(request)),
        )

    async def IssueInvoice(
        self, request: invoice_service_pb2.IssueInvoiceRequest, context: grpc.aio.ServicerContext
    ) -> invoice_pb2.Invoice:
        return await self._on_invoice(request, self._invoices.issue)

    async def MarkInvoicePaid(
        self, request: invoice_service_pb2.MarkInvoicePaidRequest, context: grpc.aio.ServicerContext
    ) -> invoice_pb2.Invoice:
        v = field_violations(request, "invoice_id", "request_id")
        received = conv.date_from(request.payment_received_date, "payment_received_date", v, required=True)
        payment: lifecycle.NewPayment | None = None
        if received is not None:
            payment = lifecycle.NewPayment(received, request.external_id, request.notes)
            payment.validate(v, today=self._today())
        v.raise_if_any()
        assert payment is not None
        recorded = payment
        return await self._mutate(
            request, lambda tx: self._invoices.mark_paid(tx, request.invoice_id, recorded, _expected(request))
        )

    async def VoidInvoice(
        self, request: invoice_service_pb2.VoidInvoiceRequest, context: grpc.aio.ServicerContext
    ) -> invoice_pb2.Invoice:
        return await self._on_invoice(request, self._invoices.void)

    async def GetUpcomingInvoice(
        self, request: invoice_service_pb2.GetUpcomingInvoiceRequest, context: grpc.aio.ServicerContext
    ) -> invoice_pb2.UpcomingInvoice:
        check_fields(request, "subscription_id")
        upcoming = await self._subscriptions.upcoming(self._db, account_id(), request.subscription_id, self._tx.clock())
        return conv.upcoming_invoice_pb(upcoming)

    async def WatchInvoiceEvents(
        self, request: invoice_service_pb2.WatchInvoiceEventsRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[invoice_pb2.InvoiceEvent]:
        v = Violations()
        if request.after_sequence < 0:
            v.add("after_sequence", "must not be negative")
        check_id(request.customer_id, "customer_id", v, required=False)
        kinds: set[InvoiceEventKind] = set()
        for index, number in enumerate(request.types):
            kind = conv.EVENT_TYPES.get(number)
            if kind is None:
                v.add(f"types[{index}]", f"is not an invoice event type: {number}")
            else:
                kinds.add(InvoiceEventKind(kind))
        v.raise_if_any()
        async for event in self._events.watch(account_id(), request.after_sequence, kinds, request.customer_id):
            yield conv.invoice_event_pb(event)
