"""`serve --workers N`: N server processes sharing one port, and the parent that supervises them.

Each worker is a whole server (`python -m server serve --worker K`): its own event loop, database pools,
health probe, LISTEN connection, revocation watch, period-end runner and purges. The workers bind the port
with SO_REUSEPORT, so the kernel spreads new connections across them. What must happen once per host stays
in the parent: the embedded PostgreSQL (started, supervised and stopped by the parent alone; the workers
reach it through DATABASE_URL like any other server), the migrations (applied before the first worker
starts) and the demo data (seeded once, through the shared port, when every worker serves).

The background jobs are safe in every worker at once: the period-end runner takes subscriptions with FOR
UPDATE SKIP LOCKED and a unique index refuses a second invoice for a period; auto-issue goes through
IssueInvoice's locks and state rules, so a draft another worker issued first is skipped; purges take an
advisory lock and skip the round while another process purges; health and revocation are per process.

Signals: SIGTERM or SIGINT to the parent is passed on (as SIGTERM) to every worker; each stops taking calls
and drains its calls within the shutdown grace period; the parent exits 0 once all have exited 0. Workers
run in their own session, so a terminal's Ctrl-C reaches the parent alone, and a worker whose parent is gone
(killed) stops by itself.

Crashes: a worker that exits while the parent is not stopping (a crash, a kill -9) is started again after
RESTART_DELAY_S, while the others go on serving. A worker that fails before it first serves (a port taken
by another program, an unreadable certificate), or more than MAX_RESTARTS exits of workers within
RESTART_WINDOW_S, stops the whole server with exit status 1: restarting does not cure those, and the
operator (or the process supervisor above) has to see them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from server.config import Settings

log = logging.getLogger(__name__)

READY_LINE = "worker {index} (pid {pid}) serving on {listen}"
RESTART_DELAY_S = 1.0
MAX_RESTARTS = 5
RESTART_WINDOW_S = 60.0
# Beyond the shutdown grace period, how long a stopping worker gets (pools to close) before it is killed.
EXIT_MARGIN_S = 20.0
PARENT_CHECK_S = 1.0


class WorkerFailed(Exception):
    """A worker exited before it served (or workers keep crashing): the server cannot run as configured."""


def split_listen(listen: str) -> tuple[str, int]:
    """host and port of a host:port (the host may be a bracketed IPv6 address)."""
    host, _, port = listen.rpartition(":")
    return host, int(port)


def metrics_listen_of(settings: Settings, index: int) -> str | None:
    """Where worker `index` serves /metrics: the configured port plus its index (each worker counts its own)."""
    if not settings.metrics_listen:
        return None
    host, port = split_listen(settings.metrics_listen)
    return f"{host}:{port + index}"


class StopSignal:
    """SIGTERM and SIGINT, caught from the moment it is made (so a signal during start-up is not lost)."""

    def __init__(self) -> None:
        self._event = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self._event.set)

    async def wait(self, also: Awaitable[None] | None = None) -> None:
        """Return once a signal came, or when `also` completes (raising what it raised); `also` is cancelled
        when the signal comes first."""
        signalled = asyncio.ensure_future(self._event.wait())
        other = asyncio.ensure_future(also) if also is not None else None
        waits = [signalled] if other is None else [signalled, other]
        try:
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for wait in waits:
                wait.cancel()
            await asyncio.gather(*waits, return_exceptions=True)
        if other is not None and not other.cancelled() and (error := other.exception()) is not None:
            raise error


async def parent_gone(parent: int) -> None:
    """Return once the process that started this one has exited (this one is then re-parented)."""
    # Nothing portable signals it (prctl and pidfd are Linux only), and a check a second costs nothing.
    while os.getppid() == parent:  # noqa: ASYNC110
        await asyncio.sleep(PARENT_CHECK_S)


async def serve_worker(settings: Settings, index: int) -> int:
    """Run worker `index` of serve --workers: a server on the shared port until SIGTERM or the parent's end."""
    from server import metrics
    from server.app import freeze_start_up_objects, start_server

    if not settings.database_url:
        print("--worker is for the processes serve --workers starts", file=sys.stderr)
        return 2
    stop = StopSignal()
    parent = os.getppid()
    worker_settings = settings.model_copy(update={"reuse_port": True})
    running = await start_server(
        worker_settings,
        settings.database_url,
        direct_dsn=settings.direct_database_url or settings.database_url,
    )
    freeze_start_up_objects()
    metrics_listen = metrics_listen_of(settings, index)
    if metrics_listen:
        metrics.serve(metrics_listen)
        print(f"worker {index} metrics on http://{metrics_listen}/metrics", flush=True)
    print(READY_LINE.format(index=index, pid=os.getpid(), listen=settings.listen), flush=True)
    await stop.wait(parent_gone(parent))
    log.info("shutting down: refusing new calls, finishing in-flight ones")
    await running.stop()
    return 0


@dataclass
class _Worker:
    """One running worker process and the task that relays what it prints."""

    index: int
    process: asyncio.subprocess.Process
    ready: asyncio.Future[None]
    relay: asyncio.Task[None] | None = None


@dataclass
class Workers:
    """Starts, watches and stops the worker processes of one port."""

    settings: Settings
    env: dict[str, str]
    running: dict[int, _Worker] = field(default_factory=dict)
    exits: list[float] = field(default_factory=list)

    async def start(self, index: int) -> _Worker:
        """Start worker `index`; return once it serves (WorkerFailed if it exits first)."""
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "server",
            "serve",
            "--worker",
            str(index),
            env=self.env,
            stdout=asyncio.subprocess.PIPE,
            start_new_session=True,  # signals come from the parent, not from the terminal's process group
        )
        worker = _Worker(index, process, asyncio.get_running_loop().create_future())
        worker.relay = asyncio.create_task(self._relay(worker))
        self.running[index] = worker
        try:
            await asyncio.shield(worker.ready)
        except WorkerFailed:
            await process.wait()
            self.running.pop(index, None)
            raise
        return worker

    async def _relay(self, worker: _Worker) -> None:
        """Print what the worker prints; its serving line marks it ready."""
        assert worker.process.stdout is not None
        ready = READY_LINE.format(index=worker.index, pid=worker.process.pid, listen="")
        while raw := await worker.process.stdout.readline():
            line = raw.decode(errors="replace").rstrip("\n")
            print(line, flush=True)
            if line.startswith(ready) and not worker.ready.done():
                worker.ready.set_result(None)
        if not worker.ready.done():
            code = await worker.process.wait()
            worker.ready.set_exception(WorkerFailed(f"worker {worker.index} exited with {code} before serving"))

    async def watch(self) -> None:
        """Start again each worker that exits; raise WorkerFailed when workers exit too often."""
        down: set[int] = set()
        while True:
            for index in sorted(down):
                await asyncio.sleep(RESTART_DELAY_S)
                try:
                    await self.start(index)
                    down.discard(index)
                except WorkerFailed as failure:
                    log.warning("%s", failure)
                    self._count_exit()
            if down:
                continue
            waits = {asyncio.ensure_future(w.process.wait()): w for w in self.running.values()}
            try:
                done, _ = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for wait in waits:
                    wait.cancel()
            for finished in done:
                worker = waits[finished]
                self.running.pop(worker.index, None)
                log.warning(
                    "worker %d (pid %d) exited with %s; starting it again",
                    worker.index,
                    worker.process.pid,
                    _describe(worker.process.returncode),
                )
                down.add(worker.index)
                self._count_exit()

    def _count_exit(self) -> None:
        now = time.monotonic()
        self.exits = [t for t in self.exits if now - t < RESTART_WINDOW_S] + [now]
        if len(self.exits) > MAX_RESTARTS:
            raise WorkerFailed(f"workers exited {len(self.exits)} times within {RESTART_WINDOW_S:.0f} s")

    async def stop(self) -> bool:
        """SIGTERM every worker and wait for all (killing one that overstays); True when all exited 0."""
        for worker in self.running.values():
            with contextlib.suppress(ProcessLookupError):
                worker.process.send_signal(signal.SIGTERM)
        bound = self.settings.shutdown_grace_s + EXIT_MARGIN_S
        clean = True
        for worker in list(self.running.values()):
            try:
                async with asyncio.timeout(bound):
                    code = await worker.process.wait()
            except TimeoutError:
                log.error(
                    "worker %d (pid %d) still running after %.0f s: killed", worker.index, worker.process.pid, bound
                )
                with contextlib.suppress(ProcessLookupError):
                    worker.process.kill()
                code = await worker.process.wait()
            if worker.relay is not None:
                await worker.relay
            if code != 0:
                log.error("worker %d (pid %d) exited with %s", worker.index, worker.process.pid, _describe(code))
                clean = False
        self.running.clear()
        return clean


def _describe(code: int | None) -> str:
    if code is not None and code < 0:
        return f"signal {signal.Signals(-code).name}"
    return f"status {code}"


def _reserve_port(listen: str) -> tuple[str, socket.socket | None]:
    """host:port with a real port: for port 0, one taken now and held (bound, not listening, SO_REUSEPORT)
    until the server stops, so that no other program takes it between the workers' binds."""
    host, port = split_listen(listen)
    if port != 0:
        return listen, None
    family, kind, proto, _, address = socket.getaddrinfo(host.strip("[]"), 0, type=socket.SOCK_STREAM)[0]
    holder = socket.socket(family, kind, proto)
    holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    holder.bind(address)
    return f"{host}:{holder.getsockname()[1]}", holder


async def serve(settings: Settings, dsn: str, announce: Callable[[int], Awaitable[None]]) -> int:
    """Serve with settings.workers processes on settings.listen until SIGTERM or SIGINT; return the exit status.

    `dsn` is the migrated database the workers use; `announce(port)` runs once every worker serves.
    """
    stop = StopSignal()
    listen, holder = _reserve_port(settings.listen)
    env = {**os.environ, "DATABASE_URL": dsn, "INVOICING_LISTEN": listen, "PYTHONUNBUFFERED": "1"}
    workers = Workers(settings, env)
    try:
        await stop.wait(_serve_until_failure(workers, settings.workers, announce, split_listen(listen)[1]))
        log.info("stopping %d workers", len(workers.running))
        return 0 if await workers.stop() else 1
    except WorkerFailed as failure:
        log.error("stopping the server: %s", failure)
        await workers.stop()
        return 1
    finally:
        if holder is not None:
            holder.close()


async def _serve_until_failure(
    workers: Workers, count: int, announce: Callable[[int], Awaitable[None]], port: int
) -> None:
    """Start the workers, announce, then keep them running; returns only by raising WorkerFailed."""
    await asyncio.gather(*(workers.start(k) for k in range(count)))
    await announce(port)
    await workers.watch()
