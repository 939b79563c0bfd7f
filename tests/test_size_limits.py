"""Oversized requests are refused before any per-item work (SPEC 9 bounded inputs, SPEC 12 overload).

A request over a count limit is refused on the count alone: its items are
never parsed, so the refusal names only the count, however bad the items are
(and costs the server next to nothing; `make bench` shows the cost).
"""

from __future__ import annotations

import grpc
from invoicing.v1 import invoice_service_pb2, usage_service_pb2

from server.domain.usage import MAX_EVENTS_PER_BATCH
from server.domain.validation import MAX_LINE_ITEMS
from tests.support.builders import create_customer, date
from tests.support.client import Api, expect_error

HUGE = 100_000


async def test_a_100000_line_invoice_is_refused_on_its_count_without_reading_its_lines(api: Api) -> None:
    customer = await create_customer(api)
    bad_line = invoice_service_pb2.NewInvoiceLineItem(quantity="not a number")
    request = invoice_service_pb2.CreateInvoiceRequest(
        customer_id=customer.id, currency="USD", invoice_date=date("2024-02-01"), line_items=[bad_line] * HUGE
    )

    refused = await expect_error(api.invoices.CreateInvoice(request, timeout=30))

    assert refused.code == grpc.StatusCode.INVALID_ARGUMENT
    assert refused.field_violations == {"line_items": f"must have at most {MAX_LINE_ITEMS} line items"}


async def test_an_oversized_event_batch_is_refused_on_its_count_without_reading_its_events(api: Api) -> None:
    bad_event = usage_service_pb2.Event(event_name="")
    request = usage_service_pb2.IngestEventsRequest(events=[bad_event] * HUGE)

    refused = await expect_error(api.usage.IngestEvents(request, timeout=30))

    assert refused.code == grpc.StatusCode.INVALID_ARGUMENT
    assert refused.field_violations == {"events": f"a batch has 1 to {MAX_EVENTS_PER_BATCH} events"}
