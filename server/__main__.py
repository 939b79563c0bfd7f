"""Command line: `python -m server <command>`. Run with --help for the list."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import sys
from collections.abc import Callable, Coroutine
from typing import Any

from server.config import Settings
from server.db import embedded
from server.db.migrate import migrate

log = logging.getLogger("server")


def resolve_database(settings: Settings) -> tuple[str, embedded.EmbeddedPostgres | None]:
    """The DSN to use: DATABASE_URL if set, else an embedded server under data_dir/postgres."""
    if settings.database_url:
        return settings.database_url, None
    pg = embedded.start(settings.data_dir / "postgres")
    return pg.dsn, pg


def direct_dsn(settings: Settings, dsn: str) -> str:
    """The DSN that bypasses PgBouncer (migrations, LISTEN): INVOICING_DIRECT_DATABASE_URL, else dsn."""
    return settings.direct_database_url or dsn


async def _serve(settings: Settings, demo: bool) -> int:
    dsn, pg = resolve_database(settings)
    supervisor = None if pg is None else asyncio.create_task(embedded.supervise(pg))
    try:
        await migrate(direct_dsn(settings, dsn), settings.db_partitions)
        if settings.workers > 1:
            from server import workers

            return await workers.serve(settings, dsn, lambda port: _announce(settings, dsn, port, demo))
        return await _serve_on(settings, demo, dsn)
    finally:
        if supervisor is not None:
            supervisor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await supervisor
        if pg is not None:
            await asyncio.to_thread(pg.stop)


async def _serve_on(settings: Settings, demo: bool, dsn: str) -> int:
    from server.app import freeze_start_up_objects, start_server
    from server.workers import StopSignal

    stop = StopSignal()
    running = await start_server(settings, dsn, direct_dsn=direct_dsn(settings, dsn))
    freeze_start_up_objects()
    if settings.metrics_listen:
        from server import metrics

        metrics.serve(settings.metrics_listen)
        print(f"metrics on http://{settings.metrics_listen}/metrics", flush=True)
    await _announce(settings, dsn, running.port, demo)
    await stop.wait()
    log.info("shutting down: refusing new calls, finishing in-flight ones")
    await running.stop()
    return 0


async def _announce(settings: Settings, dsn: str, port: int, demo: bool) -> None:
    """Say where the service listens; with demo, make sure the demo data exists (seeded once) and print its key."""
    from server import demo as demo_data

    workers = f", {settings.workers} workers" if settings.workers > 1 else ""
    print(f"invoice service listening on {settings.listen} (port {port}{workers})", flush=True)
    if demo:
        key = await demo_data.ensure_demo_key(direct_dsn(settings, dsn), settings.data_dir)
        if await demo_data.seed(f"127.0.0.1:{port}", key):
            print("seeded demo customers and invoices", flush=True)
        print(f"demo API key: {key}", flush=True)
        print(
            f"try: grpcurl -plaintext -H 'authorization: Bearer {key}' {settings.listen} list",
            flush=True,
        )


async def _migrate(settings: Settings) -> int:
    dsn, _pg = resolve_database(settings)
    applied = await migrate(direct_dsn(settings, dsn), settings.db_partitions)
    print("applied: " + (", ".join(applied) if applied else "nothing (up to date)"))
    return 0


async def _citus_sql(settings: Settings) -> int:
    import asyncpg

    from server.db import partitioning

    dsn, _pg = resolve_database(settings)
    await migrate(direct_dsn(settings, dsn), settings.db_partitions)
    conn = await asyncpg.connect(direct_dsn(settings, dsn))
    try:
        print("\n".join(await partitioning.citus_statements(conn)))
    finally:
        await conn.close()
    return 0


async def _create_api_key(settings: Settings, account: str, prefix: str | None, description: str) -> int:
    from server.keys import create_key

    dsn, _pg = resolve_database(settings)
    await migrate(direct_dsn(settings, dsn), settings.db_partitions)
    key_id, key = await create_key(direct_dsn(settings, dsn), account, invoice_prefix=prefix, description=description)
    print(f"account: {account}\nkey id:  {key_id}\napi key: {key}\n(store the key now: only its hash is kept)")
    return 0


async def _revoke_api_key(settings: Settings, key_id: str) -> int:
    from server.keys import revoke_key

    dsn, _pg = resolve_database(settings)
    if await revoke_key(direct_dsn(settings, dsn), key_id):
        print(f"revoked {key_id}")
        return 0
    print(f"no active key {key_id}", file=sys.stderr)
    return 1


async def _bill(settings: Settings, now: str | None) -> int:
    import datetime as dt

    from server.api.converters import InvoiceWire
    from server.app import build_services
    from server.db.pool import Database
    from server.usecases.history import complete_first_versions

    dsn, _pg = resolve_database(settings)
    await migrate(direct_dsn(settings, dsn), settings.db_partitions)
    moment = dt.datetime.fromisoformat(now) if now else dt.datetime.now(dt.UTC)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    db = await Database.connect(dsn, settings.pool_settings())
    try:
        await complete_first_versions(db, InvoiceWire())  # as the server does before it serves
        services = build_services(db, grace=dt.timedelta(hours=settings.billing_grace_hours))
        result = await services.runner.run_once(moment)
    finally:
        await db.close()
    print(f"invoices generated: {result.generated}, issued: {result.issued}")
    return 0


async def _render_invoices(settings: Settings) -> int:
    from server.api.converters import InvoiceWire
    from server.db.pool import Database
    from server.usecases.invoice_reads import refresh_stale_forms

    dsn, _pg = resolve_database(settings)
    await migrate(direct_dsn(settings, dsn), settings.db_partitions)
    db = await Database.connect(dsn, settings.pool_settings())
    try:
        refreshed = await refresh_stale_forms(db, InvoiceWire())
    finally:
        await db.close()
    print(f"invoice wire forms rendered: {refreshed}")
    return 0


async def _account_profile(settings: Settings, args: argparse.Namespace) -> int:
    """Show the account's seller profile, after applying the changes the options name."""
    from server.app import build_services
    from server.db.accounts import find_account_by_name
    from server.db.pool import Database
    from server.domain.accounts import ProfileChanges
    from server.domain.customers import Address
    from server.domain.errors import InvalidArgument, Violations
    from server.domain.tax_ids import TaxId
    from server.usecases.accounts import get_account_profile, update_account_profile
    from server.usecases.unit import Actor

    address_parts = {
        part: getattr(args, part) for part in ("line1", "line2", "city", "state", "postal_code", "country")
    }
    tax_parts = (args.tax_id_country, args.tax_id_type, args.tax_id)
    changes = ProfileChanges(
        name=args.name,
        email=args.email,
        address=None
        if all(v is None for v in address_parts.values())
        else Address(**{part: value or "" for part, value in address_parts.items()}),
        tax_id=None if all(v is None for v in tax_parts) else TaxId(*(value or "" for value in tax_parts)),
        payment_instructions=args.payment_instructions,
    )
    violations = Violations()
    changes.validate(violations)
    try:
        violations.raise_if_any()
    except InvalidArgument as error:
        print(f"invalid profile: {error.message}", file=sys.stderr)
        return 2
    dsn, _pg = resolve_database(settings)
    await migrate(direct_dsn(settings, dsn), settings.db_partitions)
    db = await Database.connect(dsn, settings.pool_settings())
    try:
        async with db.connection() as conn:
            account_id = await find_account_by_name(conn, args.account)
        if account_id is None:
            print(f"no account named {args.account!r}", file=sys.stderr)
            return 1
        if changes != ProfileChanges():
            actor = Actor(account_id=account_id, method="account-profile")
            profile = await build_services(db).transactions.run(actor, lambda tx: update_account_profile(tx, changes))
        else:
            profile = await get_account_profile(db, account_id)
    finally:
        await db.close()
    seller = profile.seller
    print(f"account:  {profile.account_name}\nseller:   {seller.name}")
    for label, value in (
        ("email", seller.email),
        ("address", ", ".join(v for v in vars(seller.address).values() if v) if seller.address else ""),
        ("tax id", f"{seller.tax_id.country} {seller.tax_id.type} {seller.tax_id.value}" if seller.tax_id else ""),
        ("payment", seller.payment_instructions),
    ):
        if value:
            print(f"{label + ':':<9} {value}")
    return 0


async def _serve_worker(settings: Settings, index: int) -> int:
    from server.workers import serve_worker

    return await serve_worker(settings, index)


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be 1 or more")
    return value


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and run the command."""
    parser = argparse.ArgumentParser(prog="python -m server", description="Invoice service operations.")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="serve gRPC (migrates first)")
    serve.add_argument("--demo", action="store_true", help="create the demo account and data, print its API key")
    serve.add_argument(
        "--workers",
        type=_positive,
        help="server processes sharing the port, each with its own event loop and pools (default: INVOICING_WORKERS,"
        " else 1)",
    )
    serve.add_argument("--worker", type=int, help=argparse.SUPPRESS)  # one of the processes --workers starts
    commands.add_parser("migrate", help="apply database migrations")
    commands.add_parser(
        "citus-sql",
        help="print the Citus calls that distribute this database's schema by account (run them on the coordinator)",
    )
    create = commands.add_parser("create-api-key", help="create an API key (and the account if new)")
    create.add_argument("--account", required=True, help="account name")
    create.add_argument("--invoice-prefix", help="invoice number prefix for a new account (A-Z, 0-9)")
    create.add_argument("--description", default="", help="what the key is for")
    revoke = commands.add_parser("revoke-api-key", help="revoke an API key by its id")
    revoke.add_argument("key_id")
    commands.add_parser(
        "render-invoices",
        help="render the stored wire form of every invoice whose form is missing or stale (after an upgrade or"
        " a bulk load; servers also do it in the background)",
    )
    bill = commands.add_parser("bill", help="invoice elapsed billing periods and auto-issue due drafts, once")
    bill.add_argument("--now", help="the instant to bill as of (ISO 8601; default: now)")
    profile = commands.add_parser(
        "account-profile",
        help="show an account's seller profile (printed on its invoice documents), changing the fields given",
        description="Show an account's seller profile; options change those fields first (an empty value "
        "removes a field; an empty --name goes back to the account's name).",
    )
    profile.add_argument("--account", required=True, help="account name")
    profile.add_argument("--name", help="seller name as printed (legal name)")
    profile.add_argument("--email", help="billing contact e-mail")
    for part in ("line1", "line2", "city", "state", "postal-code", "country"):
        profile.add_argument(f"--{part}", dest=part.replace("-", "_"), help=f"address: {part.replace('-', ' ')}")
    profile.add_argument("--tax-id-country", help='tax id country, such as "DE"')
    profile.add_argument("--tax-id-type", help='tax id type, such as "eu_vat"')
    profile.add_argument("--tax-id", help="tax id value, such as DE123456789")
    profile.add_argument("--payment-instructions", help="text printed on unpaid documents (bank details)")
    args = parser.parse_args(argv)

    settings = Settings()
    worker: int | None = getattr(args, "worker", None)
    if getattr(args, "workers", None):
        settings = settings.model_copy(update={"workers": args.workers})
    from server import logs

    logs.configure(settings.log_level, worker)
    runners: dict[str, Callable[[], Coroutine[Any, Any, int]]] = {
        "serve": lambda: _serve(settings, args.demo) if worker is None else _serve_worker(settings, worker),
        "migrate": lambda: _migrate(settings),
        "citus-sql": lambda: _citus_sql(settings),
        "create-api-key": lambda: _create_api_key(settings, args.account, args.invoice_prefix, args.description),
        "revoke-api-key": lambda: _revoke_api_key(settings, args.key_id),
        "bill": lambda: _bill(settings, args.now),
        "render-invoices": lambda: _render_invoices(settings),
        "account-profile": lambda: _account_profile(settings, args),
    }
    import uvloop

    result: int = uvloop.run(runners[args.command]())
    return result


if __name__ == "__main__":
    sys.exit(main())
