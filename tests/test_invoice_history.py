"""The history of an invoice (SPEC 14.4): every version, who made it, and what changed.

N mutations after creation give N+1 versions; each version's invoice is exactly what GetInvoice answered
right after that mutation (and what GetInvoice with `version` answers later); its changes list exactly the
fields that differ from the version before. Invoices created before history was kept start with their state
at that time, recorded by the migration and rendered before the server serves.
"""

from __future__ import annotations

import itertools
import json
from typing import Any

import grpc
from google.protobuf import json_format
from invoicing.v1 import common_pb2, invoice_pb2, invoice_service_pb2

from server.api.invoice_diff import EVERY_VERSION
from server.app import RunningServer, start_server
from server.config import Settings
from server.db.migrate import migrate
from server.usecases.history import complete_first_versions
from tests.support.accounts import Account, new_account
from tests.support.builders import add_line_request, create_customer, create_invoice, line
from tests.support.calls import get_invoice, issue, mark_paid
from tests.support.client import Api, expect_error, open_api
from tests.support.credit_notes import create_note, invoice_at, versions_of
from tests.support.database import connection

CHANGE = invoice_pb2.InvoiceFieldChangeType


def _changed_fields(before: invoice_pb2.Invoice, after: invoice_pb2.Invoice) -> set[str]:
    """The top-level fields whose values differ, as the test sees them (bookkeeping fields aside)."""
    names = {fd.name for fd, _ in before.ListFields()} | {fd.name for fd, _ in after.ListFields()}
    return {name for name in names - EVERY_VERSION if getattr(before, name) != getattr(after, name)}


def _top_level(path: str) -> str:
    return path.split(".")[0].split("[")[0]


def _plain(change: invoice_pb2.InvoiceFieldChange) -> tuple[str, int, Any, Any]:
    """A change as (path, type, old, new) with the values as plain JSON (None when absent)."""

    def value(field: str) -> Any:
        return json_format.MessageToDict(getattr(change, field)) if change.HasField(field) else None

    return change.path, change.type, value("old_value"), value("new_value")


async def _update(api: Api, invoice_id: str, request_id: str = "", **change: Any) -> invoice_pb2.Invoice:
    result: invoice_pb2.Invoice = await api.invoices.UpdateInvoice(
        invoice_service_pb2.UpdateInvoiceRequest(
            invoice_id=invoice_id, metadata=common_pb2.MetadataChange(**change), request_id=request_id
        )
    )
    return result


async def test_every_mutation_is_a_version_equal_to_what_get_invoice_answered(api: Api, account: Account) -> None:
    customer = await create_customer(api)
    created = await create_invoice(api, customer, line_items=[line("Seats", "2", "20.00")], request_id="create-1")
    seen = [await get_invoice(api, created.id)]
    added = await api.invoices.CreateInvoiceLineItem(add_line_request(created.id, "7.50", request_id="line-1"))
    seen.append(await get_invoice(api, created.id))
    seen.append(await _update(api, created.id, "meta-1", set={"po": "PO-7", "team": "ops"}))
    await api.invoices.DeleteInvoiceLineItem(
        invoice_service_pb2.DeleteInvoiceLineItemRequest(invoice_id=created.id, line_item_id=added.id)
    )
    seen.append(await get_invoice(api, created.id))
    seen.append(await issue(api, created.id, request_id="issue-1"))
    await create_note(api, created.id, (created.line_items[0].id, "5.00"), request_id="note-1")
    seen.append(await get_invoice(api, created.id))
    seen.append(await mark_paid(api, created.id))
    seen.append(await _update(api, created.id, remove_keys=["team"]))
    mutations = len(seen) - 1

    versions = await versions_of(api, created.id)

    assert len(versions) == mutations + 1 == 8
    assert [v.version for v in versions] == [s.version for s in seen] == list(range(1, 9))
    assert [v.invoice for v in versions] == seen
    for version, snapshot in zip(versions, seen, strict=True):
        assert await invoice_at(api, created.id, version.version) == snapshot
        assert version.changed_at == snapshot.updated_at
        assert version.api_key_id == account.key_id
    assert [v.method for v in versions] == [
        "CreateInvoice",
        "CreateInvoiceLineItem",
        "UpdateInvoice",
        "DeleteInvoiceLineItem",
        "IssueInvoice",
        "CreateCreditNote",
        "MarkInvoicePaid",
        "UpdateInvoice",
    ]
    assert [v.request_id for v in versions] == ["create-1", "line-1", "meta-1", "", "issue-1", "note-1", "", ""]
    assert await get_invoice(api, created.id) == seen[-1]


async def test_changes_name_exactly_the_fields_that_changed(api: Api) -> None:
    customer = await create_customer(api)
    created = await create_invoice(api, customer, line_items=[line("Seats", "2", "20.00")])
    added = await api.invoices.CreateInvoiceLineItem(add_line_request(created.id, "7.50"))
    await _update(api, created.id, set={"po": "PO-7"})
    issued = await issue(api, created.id)
    note = await create_note(api, created.id, (created.line_items[0].id, "5.00"))
    await _update(api, created.id, set={"po": "PO-8"}, remove_keys=[])

    versions = await versions_of(api, created.id)

    assert list(versions[0].changes) == []
    for before, after in itertools.pairwise(versions):
        named = {_top_level(change.path) for change in after.changes}
        assert named == _changed_fields(before.invoice, after.invoice), after.method
        assert all(change.type != CHANGE.INVOICE_FIELD_CHANGE_TYPE_UNSPECIFIED for change in after.changes)
    line_added, metadata, issuing, noted, metadata_again = (v.changes for v in versions[1:])
    line_json = json_format.MessageToDict(added, preserving_proto_field_name=True)
    assert [_plain(c) for c in line_added] == [
        ("subtotal", CHANGE.INVOICE_FIELD_CHANGE_TYPE_MODIFIED, "40.00", "47.50"),
        ("total", CHANGE.INVOICE_FIELD_CHANGE_TYPE_MODIFIED, "40.00", "47.50"),
        ("amount_due", CHANGE.INVOICE_FIELD_CHANGE_TYPE_MODIFIED, "40.00", "47.50"),
        (f"line_items[{json.dumps(added.id)}]", CHANGE.INVOICE_FIELD_CHANGE_TYPE_ADDED, None, line_json),
    ]
    assert [_plain(c) for c in metadata] == [('metadata["po"]', CHANGE.INVOICE_FIELD_CHANGE_TYPE_ADDED, None, "PO-7")]
    assert [_plain(c) for c in metadata_again] == [
        ('metadata["po"]', CHANGE.INVOICE_FIELD_CHANGE_TYPE_MODIFIED, "PO-7", "PO-8")
    ]
    by_path = {c.path: _plain(c) for c in issuing}
    assert by_path["status"][2:] == ("INVOICE_STATUS_DRAFT", "INVOICE_STATUS_ISSUED")
    assert by_path["invoice_number"][2:] == ("", issued.invoice_number)
    assert by_path["issued_at"][1:3] == (CHANGE.INVOICE_FIELD_CHANGE_TYPE_ADDED, None)
    assert [_plain(c)[:2] for c in noted] == [
        ("amount_due", CHANGE.INVOICE_FIELD_CHANGE_TYPE_MODIFIED),
        (f"credit_notes[{json.dumps(note.id)}]", CHANGE.INVOICE_FIELD_CHANGE_TYPE_ADDED),
    ]
    assert _plain(noted[0])[2:] == ("47.50", "42.50")


async def test_an_auto_issued_invoice_records_both_versions_of_its_one_call(api: Api) -> None:
    customer = await create_customer(api)
    invoice = await create_invoice(api, customer, will_auto_issue=True, request_id="auto-1")

    versions = await versions_of(api, invoice.id)

    assert [(v.version, v.method, v.request_id) for v in versions] == [
        (1, "CreateInvoice", "auto-1"),
        (2, "CreateInvoice", "auto-1"),
    ]
    assert versions[0].invoice.status == invoice_pb2.INVOICE_STATUS_DRAFT
    assert versions[1].invoice == invoice


async def test_the_stream_resumes_and_diffs_against_the_version_before_the_token(api: Api) -> None:
    customer = await create_customer(api)
    invoice = await create_invoice(api, customer)
    for value in ("a", "b", "c"):
        await _update(api, invoice.id, set={"k": value})
    request = invoice_service_pb2.ListInvoiceVersionsRequest(invoice_id=invoice.id, limit=2)
    first = [batch async for batch in api.invoices.ListInvoiceVersions(request)]
    rest = await versions_of(api, invoice.id, resume_token=first[-1].resume_token)

    assert [v.version for batch in first for v in batch.versions] == [1, 2]
    assert [v.version for v in rest] == [3, 4]
    assert [_plain(c) for c in rest[0].changes] == [
        ('metadata["k"]', CHANGE.INVOICE_FIELD_CHANGE_TYPE_MODIFIED, "a", "b")
    ]
    forged = await expect_error(
        api.invoices.ListInvoiceVersions(
            invoice_service_pb2.ListInvoiceVersionsRequest(invoice_id=customer.id, resume_token=first[-1].resume_token)
        )
    )
    assert forged.reason == "RESUME_TOKEN_INVALID"


async def test_versions_that_do_not_exist_and_other_accounts_invoices_are_not_found(api: Api, other_api: Api) -> None:
    customer = await create_customer(api)
    invoice = await create_invoice(api, customer)
    theirs = await create_invoice(other_api, await create_customer(other_api))
    get = api.invoices.GetInvoice

    zero = await expect_error(get(invoice_service_pb2.GetInvoiceRequest(invoice_id=invoice.id, version=0)))
    later = await expect_error(get(invoice_service_pb2.GetInvoiceRequest(invoice_id=invoice.id, version=2)))
    foreign = await expect_error(get(invoice_service_pb2.GetInvoiceRequest(invoice_id=theirs.id, version=1)))
    listed = await expect_error(
        api.invoices.ListInvoiceVersions(invoice_service_pb2.ListInvoiceVersionsRequest(invoice_id=theirs.id))
    )

    assert (zero.code, list(zero.field_violations)) == (grpc.StatusCode.INVALID_ARGUMENT, ["version"])
    assert (later.code, later.reason) == (grpc.StatusCode.NOT_FOUND, "INVOICE_VERSION_NOT_FOUND")
    assert (foreign.code, foreign.reason) == (grpc.StatusCode.NOT_FOUND, "INVOICE_NOT_FOUND")
    assert (listed.code, listed.reason) == (grpc.StatusCode.NOT_FOUND, "INVOICE_NOT_FOUND")
    assert await invoice_at(other_api, theirs.id, 1) == theirs


async def test_invoices_from_before_history_start_with_their_state_then(empty_dsn: str, settings: Settings) -> None:
    """A database whose invoices predate the history migration: it records them, the server renders them."""
    await migrate(empty_dsn)
    account = await new_account(empty_dsn)
    first = await start_server(settings, empty_dsn, run_billing=False, direct_dsn=empty_dsn)
    try:
        async with open_api(f"127.0.0.1:{first.port}", account.key) as api:
            customer = await create_customer(api)
            draft = await create_invoice(api, customer)
            paid = await issue(api, (await create_invoice(api, customer, line_items=[line(), line("Extra")])).id)
            await create_note(api, paid.id, (paid.line_items[1].id, "4.00"))
            paid = await mark_paid(api, paid.id)
            before = [await get_invoice(api, i.id) for i in (draft, paid)]
    finally:
        await first.stop(grace=1)
    async with connection(empty_dsn) as conn:  # back to the schema before history was kept
        await conn.execute("DROP TABLE invoice_versions")
        await conn.execute("DELETE FROM schema_migrations WHERE version = '0008_invoice_history'")
    assert await migrate(empty_dsn) == ["0008_invoice_history"]
    async with connection(empty_dsn) as conn:
        pending = await conn.fetch("SELECT invoice_id, version, method FROM invoice_versions WHERE invoice IS NULL")
    assert sorted((r["invoice_id"], r["version"], r["method"]) for r in pending) == sorted(
        (i.id, i.version, "history-start") for i in before
    )

    second = await start_server(settings, empty_dsn, run_billing=False, direct_dsn=empty_dsn)
    try:
        async with open_api(f"127.0.0.1:{second.port}", account.key) as api:
            for invoice in before:
                [version] = await versions_of(api, invoice.id)
                assert (version.version, version.method, version.api_key_id, version.request_id) == (
                    invoice.version,
                    "history-start",
                    "",
                    "",
                )
                assert version.invoice == invoice == await get_invoice(api, invoice.id)
                assert list(version.changes) == []
                assert await invoice_at(api, invoice.id, invoice.version) == invoice
            updated = await _update(api, before[1].id, set={"after": "history"})
            versions = await versions_of(api, before[1].id)
            assert [v.version for v in versions] == [before[1].version, updated.version]
            assert [_plain(c) for c in versions[1].changes] == [
                ('metadata["after"]', CHANGE.INVOICE_FIELD_CHANGE_TYPE_ADDED, None, "history")
            ]
    finally:
        await second.stop(grace=1)
    async with connection(empty_dsn) as conn:
        assert await conn.fetchval("SELECT count(*) FROM invoice_versions WHERE invoice IS NULL") == 0


async def test_a_first_version_left_pending_while_an_older_release_changed_the_invoice(
    api: Api, server: RunningServer, migrated_dsn: str
) -> None:
    """A pending first version whose invoice moved on without history records the invoice as it is then; if
    that version was recorded meanwhile, the pending one goes (history starts there)."""
    customer = await create_customer(api)
    moved, recorded = await create_invoice(api, customer), await create_invoice(api, customer)
    moved_now = await _update(api, moved.id, set={"by": "older release"})
    recorded_now = await _update(api, recorded.id, set={"by": "this release"})
    async with connection(migrated_dsn) as conn:
        # As a migration would have left them: a pending version 1. The first invoice's recorded versions are
        # gone (an older release changed it without recording any); the second keeps its version 2.
        await conn.execute("DELETE FROM invoice_versions WHERE invoice_id = $1", moved.id)
        await conn.execute("DELETE FROM invoice_versions WHERE invoice_id = $1 AND version = 1", recorded.id)
        await conn.execute(
            "INSERT INTO invoice_versions (account_id, invoice_id, version, changed_at, method)"
            " SELECT account_id, id, 1, created_at, 'history-start' FROM invoices WHERE id = ANY($1::text[])",
            [moved.id, recorded.id],
        )

    assert await complete_first_versions(server.db, server.services.invoices.render) == 2

    [first] = await versions_of(api, moved.id)
    assert (first.version, first.method, first.invoice) == (moved_now.version, "history-start", moved_now)
    assert [(v.version, v.method) for v in await versions_of(api, recorded.id)] == [(2, "UpdateInvoice")]
    assert (await versions_of(api, recorded.id))[0].invoice == recorded_now
