"""Typesetting a Sheet as PDF with Typst (the `typst` package: the Typst compiler, in Rust, in a wheel).

`render_pdf` is a pure function of the sheet: the layout (`sheet.typ`) and the fonts ship with the
service, the data goes in as JSON (never as markup), the document date is the instant the invoice
version was made and the document id is derived from its content, so the same sheet always gives
the same bytes. Fonts are embedded as subsets of the glyphs used: Fira Sans for Latin, Greek and
Cyrillic text, Noto Sans CJK JP for Chinese, Japanese and Korean, each taken from a Python package.

Typst releases the GIL while it compiles; callers on the event loop run it in a worker thread.
"""

from __future__ import annotations

import functools
import json
from importlib import resources
from pathlib import Path
from typing import Final

import fontpkg_fira_sans
import noto_cjk_sans_jp_regular
import typst

from server.domain.documents.content import Sheet

_LAYOUT: Final = resources.files(__package__).joinpath("sheet.typ").read_bytes()
# Typst may read files only under this folder (the layout reads none).
_ROOT: Final = str(Path(__file__).resolve().parent)


def font_folders() -> list[Path]:
    """The folders of the fonts documents are set in: Fira Sans (every weight), then Noto Sans CJK JP."""
    return [Path(fontpkg_fira_sans.ROOT) / "files", Path(str(noto_cjk_sans_jp_regular.FONT_PATH)).parent]


@functools.cache
def _fonts() -> typst.Fonts:
    """The fonts, indexed once per process (Typst reads a font file when a document first uses it)."""
    return typst.Fonts(
        include_system_fonts=False,
        include_embedded_fonts=False,
        font_paths=[str(folder) for folder in font_folders()],
    )


def render_pdf(sheet: Sheet) -> bytes:
    """The sheet as a PDF document."""
    compiler = typst.Compiler(_LAYOUT, root=_ROOT, font_paths=_fonts(), ignore_system_fonts=True)
    meta = {"title": sheet.document_title, "author": sheet.author, "keywords": list(sheet.keywords)}
    output = compiler.compile(
        format="pdf",
        sys_inputs={
            "sheet": json.dumps(sheet.as_data(), ensure_ascii=False, sort_keys=True),
            "meta": json.dumps(meta, ensure_ascii=False, sort_keys=True),
        },
        timestamp=sheet.created_at.replace(microsecond=0),  # PDF dates have whole seconds
        pdf_tags=False,
    )
    assert isinstance(output, bytes)
    return output
