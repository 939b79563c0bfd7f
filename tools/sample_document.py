"""Render the sample documents of the README: docs/invoice-sample.pdf and docs/credit-note-sample.pdf, and the
first page of each as a PNG beside it.

The documents go through the same code as GetInvoiceDocument and GetCreditNoteDocument (`invoice_sheet`,
`credit_note_sheet`, `render_pdf`); the page images are made by poppler's pdftoppm (Debian's poppler-utils,
which `make test` installs).

Usage: python tools/sample_document.py [--check]   (--check: fail if the committed files are not current)
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from server.domain.documents.content import credit_note_sheet, invoice_sheet  # noqa: E402
from server.domain.documents.pdf import render_pdf  # noqa: E402
from server.domain.documents.sample import sample_credit_note_document, sample_document  # noqa: E402

DOCS = ROOT / "docs"
DPI = 100


def render(folder: Path) -> list[Path]:
    """Write each sample's PDF and the PNG of its first page into folder."""
    written = []
    samples = {
        "invoice-sample": invoice_sheet(sample_document()),
        "credit-note-sample": credit_note_sheet(sample_credit_note_document()),
    }
    for stem, sheet in samples.items():
        pdf = folder / f"{stem}.pdf"
        pdf.write_bytes(render_pdf(sheet))
        subprocess.run(
            ["pdftoppm", "-png", "-r", str(DPI), "-f", "1", "-l", "1", "-singlefile", str(pdf), str(folder / stem)],
            check=True,
        )
        written += [pdf, folder / f"{stem}.png"]
    return written


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare with the committed files instead")
    args = parser.parse_args()
    if not args.check:
        print("wrote " + ", ".join(str(path.relative_to(ROOT)) for path in render(DOCS)))
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        stale = [p.name for p in render(Path(tmp)) if p.read_bytes() != (DOCS / p.name).read_bytes()]
    if stale:
        print(f"stale: {', '.join(stale)}; run python tools/sample_document.py", file=sys.stderr)
        return 1
    print("docs/invoice-sample.* and docs/credit-note-sample.* are current")
    return 0


if __name__ == "__main__":
    sys.exit(main())
