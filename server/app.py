"""Builds and runs the grpc.aio server: interceptor, servicers, reflection, health, shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import gc
import logging
import os
from dataclasses import dataclass, field

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from invoicing.v1 import (
    account_service_pb2,
    credit_note_service_pb2,
    customer_service_pb2,
    invoice_service_pb2,
    plan_service_pb2,
    subscription_service_pb2,
    usage_service_pb2,
)
from opentelemetry.sdk.trace import TracerProvider

from server import metrics, reflection, tracing
from server.api.account_service import AccountServicer
from server.api.converters import InvoiceWire
from server.api.credit_note_service import CreditNoteServicer
from server.api.customer_service import CustomerServicer
from server.api.invoice_service import InvoiceServicer
from server.api.plan_service import PlanServicer
from server.api.registration import add_servicer
from server.api.streaming import Lister, ResumeTokens
from server.api.subscription_service import SubscriptionServicer
from server.api.usage_service import UsageServicer
from server.config import Settings
from server.db import accounts, idempotency, jobs
from server.db import events as events_repo
from server.db.listen import Notifier
from server.db.pool import Database
from server.db.probe import DatabaseProbe
from server.domain.subscriptions import DEFAULT_GRACE
from server.interceptors.admission import Admission, Limits
from server.interceptors.auth import Authentication, KeyCache
from server.interceptors.base import MethodInterceptor, wrap_handler
from server.interceptors.deadline import DeadlinePropagation
from server.interceptors.decoding import RequestDecoding
from server.interceptors.errors import ErrorsAndMetrics, quiet_client_departures
from server.interceptors.request_ids import RequestIds
from server.interceptors.revocation import OpenStreams, watch_revocations
from server.interceptors.tracing import CallTracing
from server.reflection import CommentedReflectionServicer
from server.usecases.backfills import Backfills
from server.usecases.billing import Runner
from server.usecases.credit_notes import CreditNotes
from server.usecases.credits import Credits
from server.usecases.events import InvoiceEvents
from server.usecases.history import complete_first_versions
from server.usecases.ingestion import Usage
from server.usecases.invoice_reads import InvoiceReads, sweep_stale_forms
from server.usecases.invoices import Invoices
from server.usecases.subscriptions import Subscriptions
from server.usecases.thresholds import Thresholds
from server.usecases.unit import Clock, Transactions, utc_now

log = logging.getLogger(__name__)

# The services of the contract, in the order of their servicers in start_server.
SERVICES = [
    invoice_service_pb2.DESCRIPTOR.services_by_name["InvoiceService"],
    customer_service_pb2.DESCRIPTOR.services_by_name["CustomerService"],
    plan_service_pb2.DESCRIPTOR.services_by_name["PlanService"],
    subscription_service_pb2.DESCRIPTOR.services_by_name["SubscriptionService"],
    usage_service_pb2.DESCRIPTOR.services_by_name["UsageService"],
    account_service_pb2.DESCRIPTOR.services_by_name["AccountService"],
    credit_note_service_pb2.DESCRIPTOR.services_by_name["CreditNoteService"],
]
SERVICE_NAMES = [service.full_name for service in SERVICES]
# Health per dependency: the database, and the LISTEN connection that wakes change-stream watchers (while it
# is down they poll, so the service as a whole stays SERVING).
DATABASE_DEPENDENCY = "postgresql"
NOTIFICATIONS_DEPENDENCY = "postgresql-notifications"
_RESUME_TOKEN_SECRET = "resume_token_key"
_PURGE_EVERY_S = 3600.0
# Calls grpc core holds before the application takes them. Past its default (1,000, with random early drops
# up to 3,000) grpc cancels new calls with no details; raised so that admission control (which refuses at
# once, with details) always binds first. grpc.aio's own maximum_concurrent_rpcs is left unset on purpose:
# it does not refuse, it stops taking calls, so calls (health checks included) would queue in core instead.
_GRPC_PENDING_CALLS = 100_000


@dataclass(frozen=True)
class Services:
    """The application layer of one process, wired: what servicers, the runner and the command line call."""

    transactions: Transactions
    invoices: Invoices
    reads: InvoiceReads
    credit_notes: CreditNotes
    subscriptions: Subscriptions
    usage: Usage
    credits: Credits
    thresholds: Thresholds
    backfills: Backfills
    runner: Runner


def build_services(db: Database, clock: Clock = utc_now, grace: dt.timedelta = DEFAULT_GRACE) -> Services:
    """Wire the use cases to a database and a clock (the composition root of the application layer)."""
    transactions = Transactions(db, clock)
    render = InvoiceWire()
    invoices = Invoices(render=render)
    credits = Credits(invoices)
    return Services(
        transactions=transactions,
        invoices=invoices,
        reads=InvoiceReads(db, render),
        credit_notes=CreditNotes(render=render),
        subscriptions=Subscriptions(invoices, grace),
        usage=Usage(invoices),
        credits=credits,
        thresholds=Thresholds(invoices),
        backfills=Backfills(invoices),
        runner=Runner(transactions, invoices, grace, credits),
    )


@dataclass
class RunningServer:
    """A started server and what it owns."""

    server: grpc.aio.Server
    db: Database
    services: Services
    health: health.aio.HealthServicer
    port: int
    settings: Settings
    notifier: Notifier
    dsn: str
    streams: OpenStreams
    tracer_provider: TracerProvider | None = None
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    @property
    def runner(self) -> Runner:
        """The period-end runner of this server (tests drive it by hand)."""
        return self.services.runner

    async def set_serving(self, serving: bool) -> None:
        """Report SERVING or NOT_SERVING for the server and every service."""
        for name in ["", *SERVICE_NAMES]:
            await self.health.set(name, _status(serving))

    async def stop(self, grace: float | None = None) -> None:
        """Graceful stop: NOT_SERVING, refuse new calls, let in-flight calls finish, then close the pools."""
        await self.set_serving(False)
        for task in self.tasks:
            task.cancel()
        await self.server.stop(self.settings.shutdown_grace_s if grace is None else grace)
        for task in self.tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.notifier.stop()
        await self.db.close()
        if self.tracer_provider is not None:
            tracing.uninstrument_database()
            self.tracer_provider.shutdown()


def _server_credentials(settings: Settings) -> grpc.ServerCredentials | None:
    if settings.tls_cert_file is None or settings.tls_key_file is None:
        return None
    root = settings.tls_client_ca_file.read_bytes() if settings.tls_client_ca_file else None
    return grpc.ssl_server_credentials(
        [(settings.tls_key_file.read_bytes(), settings.tls_cert_file.read_bytes())],
        root_certificates=root,
        require_client_auth=root is not None,
    )


def freeze_start_up_objects() -> None:
    """Take what start-up allocated (modules, message descriptors, pools) out of the garbage collector's scans.

    They live as long as the process, yet every full collection walked them all (about 68,000 objects): a pause
    of 10-20 ms on the event loop, seen in a quiet account's slowest calls. After `gc.freeze()` a full
    collection walks only what calls allocated since (0.1-0.5 ms).

    Called by the process that serves, once its server started (never by tests, which start many servers).
    """
    gc.collect()
    gc.freeze()
    metrics.FROZEN_OBJECTS.set(gc.get_freeze_count())


async def start_server(
    settings: Settings,
    dsn: str,
    clock: Clock = utc_now,
    *,
    run_billing: bool = True,
    tracer_provider: TracerProvider | None = None,
    direct_dsn: str | None = None,
) -> RunningServer:
    """Connect to the database, start serving on settings.listen, and return the running server.

    `clock` is the time every rule uses (tests move it); `run_billing` starts the period-end runner;
    `tracer_provider` traces RPCs and statements (default: from the settings, None when tracing is off;
    the server shuts it down when it stops); `direct_dsn` reaches PostgreSQL without PgBouncer, for the
    LISTEN connection (default: dsn).
    """
    tracer_provider = tracer_provider or tracing.provider_from_settings(settings)
    if tracer_provider is not None:
        tracing.instrument_database(tracer_provider)
    db = await Database.connect(dsn, settings.pool_settings())
    try:
        async with db.connection() as conn:
            token_key = await accounts.server_secret(conn, _RESUME_TOKEN_SECRET, os.urandom(32))
        tokens = ResumeTokens(token_key)
        options = [
            *settings.grpc_options(),
            ("grpc.server.max_pending_requests", _GRPC_PENDING_CALLS),
            ("grpc.server.max_pending_requests_hard_limit", _GRPC_PENDING_CALLS),
        ]
        streams = OpenStreams()
        limits = Limits(
            server=settings.max_concurrent_calls,
            account=settings.max_concurrent_calls_per_account,
            running_when_shared=settings.max_running_calls_per_account,
            shared_window_s=settings.account_active_window_s,
        )
        # Outermost first: the span (when tracing) covers the whole call; every failure (authentication and
        # admission included) is mapped and counted by ErrorsAndMetrics; admission comes after
        # authentication, which names the account.
        layers: list[MethodInterceptor] = [] if tracer_provider is None else [CallTracing(tracer_provider)]
        layers += [
            RequestIds(),
            ErrorsAndMetrics(),
            DeadlinePropagation(),
            Authentication(KeyCache(db, settings.api_key_cache_seconds), streams),
            Admission(limits),
            RequestDecoding(),
        ]
        # The layers wrap each method's handler once, at registration (see server.interceptors.base), not as
        # grpc.aio interceptors, which grpc.aio would await on every call.
        quiet_client_departures()
        server = grpc.aio.server(options=options)
        lists = Lister(tokens, settings.stream_settings(), db.streams)
        notifier = Notifier(direct_dsn or dsn)
        services = build_services(db, clock, dt.timedelta(hours=settings.billing_grace_hours))
        transactions = services.transactions
        invoices = InvoiceServicer(
            transactions,
            services.invoices,
            services.reads,
            services.subscriptions,
            InvoiceEvents(db, notifier),
            lists,
        )
        servicers: list[object] = [
            invoices,
            CustomerServicer(transactions, services.credits, lists),
            PlanServicer(transactions, lists),
            SubscriptionServicer(transactions, services.subscriptions, lists),
            UsageServicer(transactions, services.usage, services.thresholds, services.backfills),
            AccountServicer(transactions),
            CreditNoteServicer(transactions, services.credit_notes, lists),
        ]
        for service, servicer in zip(SERVICES, servicers, strict=True):
            add_servicer(server, servicer, service, wrap_handler(layers))
        health_servicer = health.aio.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
        reflection_names = [*SERVICE_NAMES, health.SERVICE_NAME, *reflection.SERVICE_NAMES]
        reflection.add_reflection_to_server(CommentedReflectionServicer(reflection_names), server)
        # Invoices older than their history get their first version before anything can change them.
        await complete_first_versions(db, services.invoices.render)
        credentials = _server_credentials(settings)
        if credentials is None:
            port = server.add_insecure_port(settings.listen)
        else:
            port = server.add_secure_port(settings.listen, credentials)
        await server.start()
    except BaseException:
        await db.close()
        if tracer_provider is not None:
            tracing.uninstrument_database()
        raise
    running = RunningServer(
        server=server,
        db=db,
        services=services,
        health=health_servicer,
        port=port,
        settings=settings,
        notifier=notifier,
        dsn=dsn,
        streams=streams,
        tracer_provider=tracer_provider,
    )
    notifier.start()
    await running.set_serving(True)
    await running.health.set(DATABASE_DEPENDENCY, _status(True))
    await running.health.set(NOTIFICATIONS_DEPENDENCY, _status(False))  # until the listener is connected
    running.tasks.append(asyncio.create_task(_watch_database(running)))
    running.tasks.append(asyncio.create_task(_purge_expired(running)))
    running.tasks.append(asyncio.create_task(_refresh_wire_forms(running)))
    revocation_interval = max(1.0, settings.api_key_cache_seconds)
    running.tasks.append(asyncio.create_task(watch_revocations(streams, db, revocation_interval)))
    if run_billing:
        running.tasks.append(asyncio.create_task(services.runner.run_forever(settings.billing_interval_s)))
    return running


async def _watch_database(running: RunningServer) -> None:
    """Flip health to NOT_SERVING while the database does not answer, and back when it does; report each
    dependency under its own name.

    The probe has its own connection (busy pools are saturation, shown in the pool gauges, not an outage),
    and it takes `health_failure_threshold` failed probes in a row to flip; one success flips back. The
    LISTEN connection that wakes change-stream watchers is reported apart: while it is down, watchers poll.
    """
    settings = running.settings
    probe = DatabaseProbe(running.dsn, settings.health_check_timeout_s)
    serving = True
    failures = 0
    listening: bool | None = None
    losses = 0
    metrics.DATABASE_UP.set(1)
    try:
        while True:
            await asyncio.sleep(settings.health_check_interval_s)
            answered = await probe.check()
            metrics.DATABASE_UP.set(1 if answered else 0)
            if answered:
                failures = 0
            else:
                failures += 1
                metrics.PROBE_FAILURES.inc()
            healthy = answered or (serving and failures < settings.health_failure_threshold)
            if healthy != serving:
                log.warning("database %s", "reachable again" if healthy else "unreachable: health NOT_SERVING")
                running.db.reachable = healthy
                await running.set_serving(healthy)
                await running.health.set(DATABASE_DEPENDENCY, _status(healthy))
                serving = healthy
            # A loss since the last check is reported even if the listener is already back.
            now_listening = running.notifier.listening and running.notifier.losses == losses
            losses = running.notifier.losses
            if now_listening != listening:
                listening = now_listening
                if not listening:
                    log.warning("invoice event listener down: watchers poll until it is back")
                await running.health.set(NOTIFICATIONS_DEPENDENCY, _status(listening))
    finally:
        probe.close()


def _status(serving: bool) -> health_pb2.HealthCheckResponse.ServingStatus.ValueType:
    return health_pb2.HealthCheckResponse.SERVING if serving else health_pb2.HealthCheckResponse.NOT_SERVING


async def _refresh_wire_forms(running: RunningServer) -> None:
    """Render again, in the background, the stored invoice forms an upgrade made stale; then hourly (accounts
    swept under this schema are not read again: see `sweep_stale_forms`)."""
    while True:
        try:
            refreshed = await sweep_stale_forms(running.db, running.services.invoices.render)
            if refreshed:
                log.info("rendered %d stale invoice wire forms", refreshed)
        except Exception:
            log.warning("refreshing invoice wire forms failed; will retry", exc_info=True)
        await asyncio.sleep(_PURGE_EVERY_S)


async def _purge_expired(running: RunningServer) -> None:
    """Delete idempotency records and invoice events past their retention, hourly.

    Every process runs it (serve --workers, several hosts); one at a time purges, the others skip the round,
    so their deletes never wait on (or deadlock with) each other.
    """
    while True:
        try:
            async with running.db.transaction() as conn:
                keys = old_events = 0
                if await jobs.try_lock(conn, "purge"):
                    keys = await idempotency.purge_older_than(conn, running.settings.idempotency_retention_days)
                    old_events = await events_repo.purge_older_than(conn, running.settings.event_retention_days)
            if keys or old_events:
                log.info("purged %d expired idempotency keys and %d invoice events", keys, old_events)
        except Exception:
            log.warning("purge failed; will retry", exc_info=True)
        await asyncio.sleep(_PURGE_EVERY_S)
