"""InvoiceService.GetInvoiceDocument: the invoice as a document, streamed in chunks.

A mixin of InvoiceServicer (which provides its transactions as `_tx`), kept in its own module: the request is
checked here, the use case loads and renders, the converters cut the bytes into chunks.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator

import grpc
from invoicing.v1 import document_pb2, invoice_service_pb2

from server.api import converters as conv
from server.context import account_id
from server.domain.errors import Violations
from server.domain.validation import check_id
from server.usecases.documents import Documents
from server.usecases.unit import Transactions


class InvoiceDocuments:
    """GetInvoiceDocument, for InvoiceServicer."""

    _tx: Transactions

    @functools.cached_property
    def _documents(self) -> Documents:
        return Documents(self._tx.db)

    async def GetInvoiceDocument(
        self, request: invoice_service_pb2.GetInvoiceDocumentRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[document_pb2.DocumentChunk]:
        v = Violations()
        check_id(request.invoice_id, "invoice_id", v)
        document_format = conv.document_format_from(request.format, v)
        v.raise_if_any()
        assert document_format is not None
        rendered = await self._documents.invoice_document(account_id(), request.invoice_id, document_format)
        for chunk in conv.document_chunks(rendered):
            yield chunk
