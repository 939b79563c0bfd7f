"""A revoked key stops open streams too (SPEC 9 and 12): they end UNAUTHENTICATED within the key cache time.

The server here trusts a checked key for 1 s, so it also checks the keys of
open streams every second; each stream gets a deadline of that time plus a few
seconds, so a stream that was not ended by the revocation fails
DEADLINE_EXCEEDED instead of UNAUTHENTICATED.
"""

from __future__ import annotations

import asyncio

import grpc
import pytest
from invoicing.v1 import invoice_service_pb2

from server.config import Settings
from server.keys import revoke_key
from tests.support.accounts import new_account
from tests.support.builders import create_customer, create_invoice
from tests.support.client import details_of, expect_error, open_api
from tests.support.resilience import counter, eventually, own_server, target_of

KEY_CACHE_S = 1.0
ENDS_WITHIN_S = KEY_CACHE_S + 5
WATCH = "/invoicing.v1.InvoiceService/WatchInvoiceEvents"
INGEST_STREAM = "/invoicing.v1.UsageService/IngestEventStream"


@pytest.mark.slow
async def test_open_streams_of_a_revoked_key_end_unauthenticated_and_others_go_on(
    settings: Settings, migrated_dsn: str
) -> None:
    """A quiet WatchInvoiceEvents and an IngestEventStream of a key end when it is revoked; another key's stays."""
    revoked, kept = await new_account(migrated_dsn), await new_account(migrated_dsn)
    async with (
        own_server(settings, migrated_dsn, api_key_cache_seconds=KEY_CACHE_S) as running,
        open_api(target_of(running), revoked.key) as doomed,
        open_api(target_of(running), kept.key) as other,
    ):
        customer = await create_customer(other)
        watches_before = counter("invoicing_streams_open", method=WATCH)
        ingest_before = counter("invoicing_streams_open", method=INGEST_STREAM)
        request = invoice_service_pb2.WatchInvoiceEventsRequest()
        doomed_watch = doomed.invoices.WatchInvoiceEvents(request, timeout=ENDS_WITHIN_S + 30)
        kept_watch = other.invoices.WatchInvoiceEvents(request, timeout=60)
        # A client stream whose client has sent nothing yet (the channel sends the key as the call starts).
        ingest = doomed.usage.IngestEventStream(timeout=ENDS_WITHIN_S + 30)

        async def all_open() -> bool:
            watching = counter("invoicing_streams_open", method=WATCH) == watches_before + 2
            return watching and counter("invoicing_streams_open", method=INGEST_STREAM) == ingest_before + 1

        await eventually(all_open, 20, "the streams did not open")

        assert await revoke_key(migrated_dsn, revoked.key_id)
        async with asyncio.timeout(ENDS_WITHIN_S):
            ended = await expect_error(doomed_watch)
            try:
                await ingest
                raise AssertionError("the client stream of a revoked key completed")
            except grpc.aio.AioRpcError as error:
                ingest_ended = details_of(error)
        assert ended.code == grpc.StatusCode.UNAUTHENTICATED
        assert ended.reason == "API_KEY_REVOKED"
        assert ingest_ended.code == grpc.StatusCode.UNAUTHENTICATED
        assert ingest_ended.reason == "API_KEY_REVOKED"

        invoice = await create_invoice(other, customer)
        first = await asyncio.wait_for(kept_watch.read(), timeout=20)
        assert first.invoice.id == invoice.id
        kept_watch.cancel()
