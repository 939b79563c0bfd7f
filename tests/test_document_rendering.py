"""The document renderer on its own: amounts by minor unit, identical bytes, embedded font subsets, chunks.

These call the pure functions directly (no server): the sample invoice of `server.domain.documents.sample`, built
from domain records in memory, goes through the same `invoice_sheet` and `render_pdf` as GetInvoiceDocument.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import io
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from typing import Any

import pytest
from pypdf import PdfReader

from server.api.converters import document_chunks
from server.domain.documents import CreditNoteSummary, DocumentFormat
from server.domain.documents.content import (
    amount_text,
    exact_amount_text,
    invoice_sheet,
    money_text,
    signed_money_text,
)
from server.domain.documents.pdf import render_pdf
from server.domain.documents.sample import sample_document
from server.usecases.documents import render_invoice_document
from tests.support.documents import text_of


@pytest.mark.parametrize(
    ("amount", "currency", "text"),
    [
        ("1234.5", "USD", "1,234.50"),
        ("12000", "JPY", "12,000"),
        ("1.25", "KWD", "1.250"),
        ("-20", "USD", "-20.00"),
        ("-0.00", "USD", "0.00"),
        ("1234567.891", "KWD", "1,234,567.891"),
        ("0.5", "JPY", "1"),  # only ever given amounts at the minor unit; half-up if not
    ],
)
def test_amounts_are_printed_at_their_currency_minor_unit(amount: str, currency: str, text: str) -> None:
    assert amount_text(Decimal(amount), currency) == text


@pytest.mark.parametrize(
    ("amount", "currency", "text"),
    [("0.015", "USD", "0.015"), ("460", "USD", "460.00"), ("1150.5", "JPY", "1,150.5"), ("2", "KWD", "2.000")],
)
def test_tier_and_matrix_amounts_keep_what_precision_they_have(amount: str, currency: str, text: str) -> None:
    """A sub-line's exact share is shown as it is; the line's own amount is the one rounded."""
    assert exact_amount_text(Decimal(amount), currency) == text


def test_totals_carry_the_currency_code_and_an_explicit_sign() -> None:
    assert money_text(Decimal("16100"), "JPY") == "JPY 16,100"
    assert signed_money_text(Decimal("-54.00"), "USD") == "USD -54.00"
    assert signed_money_text(Decimal("5"), "KWD") == "KWD +5.000"


def test_the_same_sheet_renders_to_the_same_bytes_even_in_parallel_threads() -> None:
    sheet = invoice_sheet(sample_document(40))
    with ThreadPoolExecutor(max_workers=4) as pool:
        renders = list(pool.map(lambda _: render_pdf(sheet), range(4)))
    assert len({hashlib.sha256(r).hexdigest() for r in renders}) == 1


def test_what_changes_with_the_version_changes_the_bytes() -> None:
    document = sample_document()
    header = document.invoice.header
    later = dataclasses.replace(
        document,
        invoice=dataclasses.replace(
            document.invoice,
            header=dataclasses.replace(header, version=4, updated_at=header.updated_at + dt.timedelta(minutes=5)),
        ),
    )
    first, second = render_pdf(invoice_sheet(document)), render_pdf(invoice_sheet(later))
    assert first != second
    assert "version 4" in text_of(second)


def test_fonts_are_embedded_subsets_that_cover_latin_and_cjk_names() -> None:
    pdf = render_pdf(invoice_sheet(sample_document()))
    reader = PdfReader(io.BytesIO(pdf))
    fonts: dict[str, Any] = {}
    for page in reader.pages:
        resources: Any = page["/Resources"]
        for ref in resources["/Font"].values():
            font = ref.get_object()
            fonts[str(font["/BaseFont"])] = font
    names = sorted(name.split("+", 1)[1] for name in fonts)
    assert all("+" in name for name in fonts)  # subset tags: only the glyphs used are embedded
    assert any(n.startswith("FiraSans-") for n in names)
    assert any(n.startswith("NotoSansCJKjp-Regular") for n in names)
    for font in fonts.values():
        descendant = font["/DescendantFonts"][0].get_object() if "/DescendantFonts" in font else font
        descriptor = descendant["/FontDescriptor"].get_object()
        assert any(key in descriptor for key in ("/FontFile", "/FontFile2", "/FontFile3"))  # embedded
    assert len(pdf) < 80_000  # a 16 MB CJK font, subset to a handful of glyphs
    text = text_of(pdf)
    assert "株式会社テスト" in text
    assert "Onboarding workshop (Łódź office)" in text
    meta = reader.metadata
    assert meta is not None
    assert meta.title == "Invoice NW-00042 · 株式会社テスト"
    assert meta.author == "Northwind Analytics Inc."
    assert str(meta["/CreationDate"]) == "D:20261101093000Z"  # the instant of the version, not the wall clock


def test_tiers_discounts_and_credit_notes_have_their_rows() -> None:
    document = sample_document()
    note = CreditNoteSummary(
        number="CN-00007", issued_on=dt.date(2026, 11, 5), reason="duplicate", kind="adjustment", total=Decimal("86")
    )
    text = text_of(render_pdf(invoice_sheet(dataclasses.replace(document, credit_notes=(note,)))))
    for expected in (
        "API calls 2026-10-01 – 2026-10-31 1,250,000 460.00",
        "Tier 0-100000 100,000 0 0.00",
        "Tier 100000+ 1,150,000 0.0004 460.00",
        "Analyst seats 2026-10-01 – 2026-10-31 12 45.00 -54.00 486.00",
        "Percentage discount 10% (annual commitment) -54.00",
        "Discount (annual commitment) USD -54.00",
        "Customer balance applied USD -100.00",
        "Credit note CN-00007 USD -86.00",
        "CN-00007 · 2026-11-05 · duplicate · adjustment USD 86.00",
    ):
        assert expected in text, (expected, text)


def test_chunks_carry_the_whole_document_and_describe_it_once() -> None:
    rendered = render_invoice_document(sample_document(100), DocumentFormat.PDF)
    chunks = list(document_chunks(rendered, size=10_000))
    assert len(chunks) == -(-len(rendered.data) // 10_000)
    assert b"".join(c.data for c in chunks) == rendered.data
    first = chunks[0]
    assert (first.content_type, first.filename, first.version) == ("application/pdf", "NW-00042.pdf", 3)
    assert (first.size_bytes, first.sha256) == (len(rendered.data), hashlib.sha256(rendered.data).hexdigest())
    assert all(c.content_type == c.filename == c.sha256 == "" and c.size_bytes == 0 for c in chunks[1:])


def test_any_text_a_client_may_store_is_printed_as_text_never_as_markup() -> None:
    """Names and memos are data: Typst markup, emoji, bidi controls and very long words neither fail nor run."""
    document = sample_document()
    invoice = document.invoice
    tricky = '#panic("boom") *bold* $x^2$ ]} \\ @ref <label> `code` = Heading'
    lines = (
        dataclasses.replace(invoice.lines[0], name=tricky),
        dataclasses.replace(invoice.lines[1], name="😀 \u202eevil\u202c " + "x" * 255),
        *invoice.lines[2:],
    )
    memo = "Line one\nLine two: #set page(width: 1pt)\n" + "é" * 3900
    changed = dataclasses.replace(
        document,
        invoice=dataclasses.replace(
            invoice, lines=lines, header=dataclasses.replace(invoice.header, memo=memo, invoice_number="NW-00042")
        ),
    )
    text = text_of(render_pdf(invoice_sheet(changed)))
    assert '#panic("boom") *bold* $x^2$ ]} \\ @ref <label> `code` = Heading' in text
    assert "Line one Line two: #set page(width: 1pt)" in text
    assert "x" * 100 in text
