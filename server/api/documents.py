"""Documents streamed in chunks: InvoiceService.GetInvoiceDocument and the stream every Get*Document sends.

A mixin of InvoiceServicer (which provides its transactions as `_tx`), kept in its own module: the request is
checked here, the use case loads and renders, the converters cut the bytes into chunks.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncGenerator, Awaitable, Callable

import grpc
from invoicing.v1 import document_pb2, invoice_service_pb2

from server.api import converters as conv
from server.context import account_id
from server.domain.documents import DocumentFormat, RenderedDocument
from server.domain.errors import Violations
from server.domain.validation import check_id
from server.usecases.documents import Documents
from server.usecases.unit import Transactions


async def document_stream(
    id_field: str,
    subject_id: str,
    requested_format: int,
    render: Callable[[str, str, DocumentFormat], Awaitable[RenderedDocument]],
) -> AsyncGenerator[document_pb2.DocumentChunk, None]:
    """A Get*Document stream: the subject's id (named `id_field`) and the format checked, the document
    rendered (`render(account id, subject id, format)`) in the caller's account, its bytes in chunks."""
    v = Violations()
    check_id(subject_id, id_field, v)
    document_format = conv.document_format_from(requested_format, v)
    v.raise_if_any()
    assert document_format is not None
    for chunk in conv.document_chunks(await render(account_id(), subject_id, document_format)):
        yield chunk


class InvoiceDocuments:
    """GetInvoiceDocument, for InvoiceServicer."""

    _tx: Transactions

    @functools.cached_property
    def _documents(self) -> Documents:
        return Documents(self._tx.db)

    def GetInvoiceDocument(
        self, request: invoice_service_pb2.GetInvoiceDocumentRequest, context: grpc.aio.ServicerContext
    ) -> AsyncGenerator[document_pb2.DocumentChunk, None]:
        render = self._documents.invoice_document
        return document_stream("invoice_id", request.invoice_id, request.format, render)
