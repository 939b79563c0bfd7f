"""CreditNoteService: reads requests into domain objects, runs the credit note use cases, answers with protos."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any

import grpc
from invoicing.v1 import credit_note_service_pb2, credit_note_service_pb2_grpc, document_pb2

from server.api import converters as conv
from server.api.customer_service import time_range
from server.api.documents import document_stream
from server.api.requests import check_fields, field_violations
from server.api.servicer import Servicer
from server.api.streaming import BY_CREATED, Lister, listed
from server.context import account_id
from server.domain import money
from server.domain.credit_notes import CreditNoteFilter, NewCreditNote, NewCreditNoteLine, check_new_credit_note
from server.domain.errors import Violations
from server.domain.validation import MAX_LINE_ITEMS, check_id
from server.usecases.credit_notes import CreditNotes, get_credit_note, list_credit_notes
from server.usecases.documents import Documents
from server.usecases.unit import Transactions


def _expected(request: Any) -> int | None:
    """The request's expected_version (of the note's invoice), if it set one."""
    return request.expected_version if request.HasField("expected_version") else None


def new_credit_note(request: credit_note_service_pb2.CreateCreditNoteRequest, v: Violations) -> NewCreditNote | None:
    """The note a CreateCreditNote request asks for, or None with the violations recorded."""
    check_id(request.invoice_id, "invoice_id", v)
    check_new_credit_note([item.invoice_line_item_id for item in request.line_items], request.memo, v)
    reason = conv.credit_note_reason_from(request.reason, v)
    if len(request.line_items) > MAX_LINE_ITEMS:
        return None  # size first: an oversized request is refused for nothing
    lines = []
    for index, item in enumerate(request.line_items):
        amount = money.parse_decimal(item.amount, f"line_items[{index}].amount", v, allow_zero=False)
        if amount is not None:
            lines.append(NewCreditNoteLine(item.invoice_line_item_id, amount))
    if reason is None or len(lines) != len(request.line_items):
        return None
    return NewCreditNote(request.invoice_id, lines, reason, request.memo)


class CreditNoteServicer(Servicer, credit_note_service_pb2_grpc.CreditNoteServiceServicer):
    """Implements CreditNoteService: requests become commands, use cases run, notes become responses."""

    def __init__(self, transactions: Transactions, credit_notes: CreditNotes, lists: Lister) -> None:
        super().__init__(transactions)
        self._notes = credit_notes
        self._lists = lists
        self._documents = Documents(transactions.db)

    async def CreateCreditNote(
        self, request: credit_note_service_pb2.CreateCreditNoteRequest, context: grpc.aio.ServicerContext
    ) -> credit_note_service_pb2.CreditNote:
        v = field_violations(request, "request_id")
        note = new_credit_note(request, v)
        v.raise_if_any()
        assert note is not None
        new = note  # (narrowed for the closure)
        return await self._mutation(
            request,
            credit_note_service_pb2.CreditNote,
            lambda tx: self._notes.create(tx, new, _expected(request)),
            conv.credit_note_pb,
        )

    async def GetCreditNote(
        self, request: credit_note_service_pb2.GetCreditNoteRequest, context: grpc.aio.ServicerContext
    ) -> credit_note_service_pb2.CreditNote:
        check_fields(request, "credit_note_id")
        return conv.credit_note_pb(await get_credit_note(self._db, account_id(), request.credit_note_id))

    def ListCreditNotes(
        self, request: credit_note_service_pb2.ListCreditNotesRequest, context: grpc.aio.ServicerContext
    ) -> AsyncGenerator[credit_note_service_pb2.ListCreditNotesResponse, None]:
        v = field_violations(request, "limit")
        if request.customer_id and request.external_customer_id:
            v.add("external_customer_id", "set at most one of customer_id and external_customer_id")
        for name in ("customer_id", "external_customer_id", "invoice_id"):
            check_id(getattr(request, name), name, v, required=False)
        created = time_range(request)
        v.raise_if_any()
        filters = CreditNoteFilter(
            customer_id=request.customer_id or None,
            external_customer_id=request.external_customer_id or None,
            invoice_id=request.invoice_id or None,
            created=created,
        )
        return self._lists.serve(
            request,
            BY_CREATED,
            lambda account, page: list_credit_notes(self._db, account, filters, page),
            build=conv.credit_note_pb,
            respond=listed(credit_note_service_pb2.ListCreditNotesResponse),
        )

    async def VoidCreditNote(
        self, request: credit_note_service_pb2.VoidCreditNoteRequest, context: grpc.aio.ServicerContext
    ) -> credit_note_service_pb2.CreditNote:
        check_fields(request, "credit_note_id", "request_id")
        return await self._mutation(
            request,
            credit_note_service_pb2.CreditNote,
            lambda tx: self._notes.void(tx, request.credit_note_id, _expected(request)),
            conv.credit_note_pb,
        )

    def GetCreditNoteDocument(
        self, request: credit_note_service_pb2.GetCreditNoteDocumentRequest, context: grpc.aio.ServicerContext
    ) -> AsyncGenerator[document_pb2.DocumentChunk, None]:
        render = self._documents.credit_note_document
        return document_stream("credit_note_id", request.credit_note_id, request.format, render)
