"""`make profiles`: py-spy flame graphs (SVG) of the server under GetInvoice load and while it streams
ListInvoices, written to bench/profiles/getinvoice-TAG.svg and listinvoices-TAG.svg.

The server is a real `python -m server serve` on a seeded database (the bench's main account), sampled with
py-spy (every worker process too) while h2load keeps 64 GetInvoice calls in flight, then while a client
reads the account's full ListInvoices stream over and over. Samples are grouped by function; idle frames
(the event loop waiting) are left out, so the graph shows where the server's CPU goes.

Usage: python -m bench.profiles [--tag before|after] [--invoices N] [--seconds S] [--database-url URL]
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from bench import accounts, forms, harness, load, reads, seed

PROFILES = Path(__file__).resolve().parent / "profiles"


def py_spy() -> str:
    """The py-spy executable (a dev dependency, so next to this interpreter), installed from PyPI if missing."""
    beside = Path(sys.executable).parent / "py-spy"
    if beside.exists():
        return str(beside)
    found = shutil.which("py-spy")
    if found is None:
        subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "py-spy"], check=True)
        return str(beside)
    return found


def record(spy: str, server: harness.Server, seconds: float, output: Path) -> None:
    """Sample the server's processes for `seconds` into a flame graph."""
    output.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [spy, "record", "--pid", str(server.pid), "--subprocesses", "--function", "--rate", "200",
         "--duration", str(round(seconds)), "--format", "flamegraph", "--output", str(output)],
        check=True, stdout=subprocess.DEVNULL,
    )  # fmt: skip
    # The graph's title repeats the command line: name the checkout's files relative to it, not where it is.
    checkout = f"{PROFILES.parent.parent}/"
    output.write_text(output.read_text().replace(checkout, ""))
    print(f"wrote {output}", flush=True)


def profile_get_invoice(spy: str, h2load: str, server: harness.Server, key: str, invoice_id: str, seconds: float,
                        output: Path) -> None:  # fmt: skip
    """GetInvoice at 64 in flight (h2load) while py-spy samples."""
    body = reads.get_invoice_body(invoice_id)
    size = len(load.call_once(server.target, reads.GET_INVOICE, body, load.bearer(key)))
    url = server.url + reads.GET_INVOICE
    generator = threading.Thread(
        target=load.h2load_rps, args=(h2load, url, body, key, 64, seconds + 3, size), daemon=True
    )
    generator.start()
    time.sleep(1.5)  # past h2load's warm-up
    record(spy, server, seconds, output)
    generator.join()


def profile_list_invoices(spy: str, server: harness.Server, key: str, seconds: float, output: Path) -> None:
    """The account's full ListInvoices stream, read again and again, while py-spy samples."""
    stop = threading.Event()
    body = reads.list_request(status=reads.EVERY_STATUS)

    def reader() -> None:
        with load.stream_channel(server.target) as channel:
            while not stop.is_set():
                load.read_stream(channel, reads.LIST_INVOICES, body, load.bearer(key))

    thread = threading.Thread(target=reader, daemon=True)
    thread.start()
    time.sleep(1.0)
    try:
        record(spy, server, seconds, output)
    finally:
        stop.set()
        thread.join()


def main(argv: list[str] | None = None) -> int:
    """Seed, serve, profile both scenarios."""
    parser = argparse.ArgumentParser(prog="python -m bench.profiles", description=__doc__.split("\n")[0])
    parser.add_argument("--tag", default="before", help="file name suffix: before (current main) or after")
    parser.add_argument("--invoices", type=int, default=50_000, help="invoices in the main account")
    parser.add_argument("--seconds", type=float, default=20, help="sampling time per profile")
    parser.add_argument("--database-url", help="use a fresh database on this PostgreSQL (default: an embedded one)")
    parser.add_argument("--output", type=Path, default=PROFILES, help="directory of the SVG files")
    args = parser.parse_args(argv)
    spy = py_spy()
    h2load = harness.ensure_tool("h2load", "nghttp2-client")
    with tempfile.TemporaryDirectory(prefix="profiles-") as tmp, harness.database(args.database_url, Path(tmp)) as dsn:
        keys = accounts.create(dsn)
        print(f"seeding {args.invoices:,} invoices x 5 lines...", flush=True)
        asyncio.run(seed.insert_invoices(dsn, accounts.MAIN, 1, args.invoices))
        forms.render(dsn, [(accounts.MAIN, 1, args.invoices)])
        asyncio.run(seed.vacuum(dsn))
        with harness.serving(dsn, Path(tmp)) as server:
            invoice_id = accounts.rich_invoice(dsn)
            profile_get_invoice(
                spy, h2load, server, keys.main, invoice_id, args.seconds, args.output / f"getinvoice-{args.tag}.svg"
            )
            profile_list_invoices(spy, server, keys.main, args.seconds, args.output / f"listinvoices-{args.tag}.svg")
    return 0


if __name__ == "__main__":
    sys.exit(main())
