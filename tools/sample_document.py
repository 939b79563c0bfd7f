"""Render the sample invoice of the README: docs/invoice-sample.pdf and its first page, docs/invoice-sample.png.

The document goes through the same code as GetInvoiceDocument (`invoice_sheet`, `render_pdf`); the page
image is made by poppler's pdftoppm (Debian's poppler-utils, which `make test` installs).

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

from server.domain.documents.content import invoice_sheet  # noqa: E402
from server.domain.documents.pdf import render_pdf  # noqa: E402
from server.domain.documents.sample import sample_document  # noqa: E402

DOCS = ROOT / "docs"
PDF_NAME = "invoice-sample.pdf"
PNG_NAME = "invoice-sample.png"
DPI = 100


def render(folder: Path) -> tuple[Path, Path]:
    """Write the sample's PDF and the PNG of its first page into folder."""
    pdf = folder / PDF_NAME
    pdf.write_bytes(render_pdf(invoice_sheet(sample_document())))
    stem = folder / PNG_NAME.removesuffix(".png")
    subprocess.run(
        ["pdftoppm", "-png", "-r", str(DPI), "-f", "1", "-l", "1", "-singlefile", str(pdf), str(stem)], check=True
    )
    return pdf, folder / PNG_NAME


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare with the committed files instead")
    args = parser.parse_args()
    if not args.check:
        pdf, png = render(DOCS)
        print(f"wrote {pdf.relative_to(ROOT)} and {png.relative_to(ROOT)}")
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        stale = [p.name for p in render(Path(tmp)) if p.read_bytes() != (DOCS / p.name).read_bytes()]
    if stale:
        print(f"stale: {', '.join(stale)}; run python tools/sample_document.py", file=sys.stderr)
        return 1
    print("docs/invoice-sample.* are current")
    return 0


if __name__ == "__main__":
    sys.exit(main())
