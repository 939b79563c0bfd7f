"""`python -m bench.report [results.json]`: the README's performance table from a bench result file."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from bench.table import RESULTS, markdown


def main(argv: list[str]) -> int:
    """Print the Markdown table and the run's circumstances."""
    path = Path(argv[0]) if argv else RESULTS / "latest.json"
    document = json.loads(path.read_text())
    print(markdown(document))
    print()
    print(
        f"{document['mode']} run of {document['started_at']}, {document['duration_s'] / 60:.0f} min, medians of"
        f" {document['runs']} runs, {document['cores']} cores, load average {document['load_average_start']}"
        f" at the start and {document['load_average_end']} at the end."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
