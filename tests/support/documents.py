"""Fetching invoice and credit note documents through the real RPCs, and reading their text back with pypdf."""

from __future__ import annotations

import hashlib
import io
import re
from dataclasses import dataclass
from typing import Any

from invoicing.v1 import account_service_pb2, credit_note_service_pb2, document_pb2, invoice_service_pb2
from pypdf import PdfReader

from tests.support.client import Api


@dataclass
class Fetched:
    """A document as the stream delivered it: the first chunk's description and the whole file."""

    first: document_pb2.DocumentChunk
    data: bytes
    chunks: int


async def fetch_document(api: Api, invoice_id: str, **fields: Any) -> Fetched:
    """GetInvoiceDocument, every chunk concatenated; checks the size and digest the first chunk announces."""
    request = invoice_service_pb2.GetInvoiceDocumentRequest(invoice_id=invoice_id, **fields)
    return _whole([chunk async for chunk in api.invoices.GetInvoiceDocument(request)])


async def fetch_credit_note_document(api: Api, credit_note_id: str, **fields: Any) -> Fetched:
    """GetCreditNoteDocument, checked and concatenated as fetch_document does."""
    request = credit_note_service_pb2.GetCreditNoteDocumentRequest(credit_note_id=credit_note_id, **fields)
    return _whole([chunk async for chunk in api.credit_notes.GetCreditNoteDocument(request)])


def _whole(chunks: list[document_pb2.DocumentChunk]) -> Fetched:
    """The document the chunks carry, after checking what the first one announces."""
    data = b"".join(chunk.data for chunk in chunks)
    first = chunks[0]
    assert first.content_type == "application/pdf"
    assert first.size_bytes == len(data)
    assert first.sha256 == hashlib.sha256(data).hexdigest()
    assert all(not chunk.content_type and not chunk.sha256 for chunk in chunks[1:])
    assert data.startswith(b"%PDF-")
    return Fetched(first, data, len(chunks))


def pages_text(pdf: bytes) -> list[str]:
    """The text of each page, as a reader's copy-and-paste would get it."""
    return [page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages]


def text_of(pdf: bytes) -> str:
    """The whole document's text, with runs of white space made single spaces."""
    return re.sub(r"\s+", " ", " ".join(pages_text(pdf)))


async def set_profile(api: Api, **fields: Any) -> account_service_pb2.AccountProfile:
    """UpdateAccountProfile with the given fields."""
    profile: account_service_pb2.AccountProfile = await api.accounts.UpdateAccountProfile(
        account_service_pb2.UpdateAccountProfileRequest(**fields)
    )
    return profile
