"""The sample invoice and credit note in docs/ (shown in the README) are what the renderer produces today, page
images included."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from tests.support.documents import text_of


def test_the_committed_sample_pdf_and_page_image_are_current(project_root: Path) -> None:
    # `make test` installs poppler-utils (pdftoppm) before running the suite.
    assert shutil.which("pdftoppm"), "pdftoppm is missing: run `make test` (it installs poppler-utils)"
    result = subprocess.run(
        [sys.executable, "tools/sample_document.py", "--check"], cwd=project_root, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    png = (project_root / "docs" / "invoice-sample.png").read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    width, height = int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")
    assert (width, height) == (827, 1170)  # one A4 page at 100 dpi
    text = text_of((project_root / "docs" / "invoice-sample.pdf").read_bytes())
    assert "株式会社テスト" in text
    assert "Amount due USD 1,586.00" in text
    note = (project_root / "docs" / "credit-note-sample.png").read_bytes()
    assert (int.from_bytes(note[16:20], "big"), int.from_bytes(note[20:24], "big")) == (827, 1170)
    note_text = text_of((project_root / "docs" / "credit-note-sample.pdf").read_bytes())
    assert "Credit note number CN-00007" in note_text
    assert "Total credited USD 331.00" in note_text
    assert "Taken off the amount due of invoice NW-00042 USD -301.00" in note_text
    assert "Credited to the customer balance USD +30.00" in note_text
