"""An embedded PostgreSQL server, started from the `pgserver` wheel, and its supervision.

Used when DATABASE_URL is unset: `serve` keeps its data under the project's
data directory so a restart keeps it; tests start a throwaway one. The server
listens on a Unix socket only, and pgserver runs it as an unprivileged user
when we are root.

`serve` supervises it: when the postmaster process is gone (a crash, a kill -9),
`supervise` starts PostgreSQL again on the same data directory (crash recovery
replays the WAL, so every committed write is there) at the same socket, so the
pools reconnect by themselves. On exit, `stop` stops whichever postmaster runs
on the data directory, including one started after ours died.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

SUPERVISE_INTERVAL_S = 1.0


@dataclass
class EmbeddedPostgres:
    """A running embedded server and how to reach it."""

    data_dir: Path
    dsn: str
    _server: Any
    # Restart and stop run in worker threads; pgserver's inter-process lock does not exclude threads of one
    # process, so they also take this one.
    _threads: threading.Lock = field(default_factory=threading.Lock)

    def postmaster_pid(self) -> int | None:
        """The pid of the postmaster serving data_dir now, or None if none runs."""
        from pgserver.utils import PostmasterInfo

        with contextlib.suppress(OSError, ValueError, AssertionError):
            info = PostmasterInfo.read_from_pgdata(self.data_dir)
            if info is not None and info.is_running():
                return info.pid
        return None

    def is_running(self) -> bool:
        """True while the postmaster we started (or adopted) is alive."""
        info = self._server.get_postmaster_info()
        return bool(info.is_running())

    def restart(self) -> None:
        """Start PostgreSQL again on the same data directory (adopting one that already runs there)."""
        with self._threads, self._server._lock:  # pgserver's inter-process lock: one starter per machine
            self._server.ensure_postgres_running()

    def stop(self) -> None:
        """Stop the server now, unless another live process still uses it (pgserver's handle list)."""
        from pgserver.utils import PostmasterInfo, process_is_running

        with self._threads:
            with self._server._lock:
                # Stop whichever postmaster serves the data directory now, not only the one we started.
                current = PostmasterInfo.read_from_pgdata(self.data_dir)
                if current is not None and current.is_running():
                    self._server._postmaster_info = current
                # Forget handles of processes that died without cleaning up (a kill -9): they use nothing.
                handles = self._server.global_process_id_list
                alive = [pid for pid in handles.get() if pid == os.getpid() or process_is_running(pid)]
                handles.put(alive)
            self._server.cleanup()


# Settings of the embedded server for this workload (PostgreSQL's defaults are sized for a small machine of
# long ago). A server of your own should get the same spirit, scaled to its memory: shared_buffers a quarter
# of RAM, effective_cache_size half to three quarters, random_page_cost 1.1 on SSDs, JIT off for this
# OLTP workload of short statements (its compile time costs more than it saves here).
TUNING: dict[str, str] = {
    "shared_buffers": "512MB",  # the hot invoices, their lines and indexes stay in PostgreSQL's own cache
    "effective_cache_size": "4GB",
    "work_mem": "16MB",  # the sorts of a due-date window or an amount filter stay in memory
    "maintenance_work_mem": "256MB",  # index builds of migrations and bulk loads
    "random_page_cost": "1.1",
    "max_wal_size": "2GB",  # bulk loads without checkpoints every few seconds
    "jit": "off",
}


def start(data_dir: Path, *, ephemeral: bool = False) -> EmbeddedPostgres:
    """Start (or attach to) the PostgreSQL server whose data lives in data_dir, tuned by TUNING.

    With ephemeral=True the data directory is deleted when the server stops.
    """
    import pgserver  # imported here: only the embedded mode needs it

    data_dir = data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    server = pgserver.get_server(data_dir, cleanup_mode="delete" if ephemeral else "stop")  # type: ignore[attr-defined]
    _tune(server, data_dir)
    log.info("embedded PostgreSQL ready in %s", data_dir)
    return EmbeddedPostgres(data_dir=data_dir, dsn=server.get_uri(), _server=server)


def _tune(server: Any, data_dir: Path) -> None:
    """Apply TUNING once per data directory (ALTER SYSTEM, then a restart for shared_buffers)."""
    from pgserver._commands import pg_ctl  # type: ignore[attr-defined]

    current = dict(
        line.split("|", 1)
        for line in server.psql(
            "\\pset format unaligned\n\\pset tuples_only on\n"
            f"SELECT name, current_setting(name) FROM pg_settings WHERE name IN ({_names()});\n"
        ).splitlines()
        if "|" in line
    )
    if all(_same(current.get(name, ""), value) for name, value in TUNING.items()):
        return
    server.psql("".join(f"ALTER SYSTEM SET {name} = '{value}';\n" for name, value in TUNING.items()))
    with server._lock:
        pg_ctl(["-w", "-m", "fast", "restart"], pgdata=data_dir, user=server.system_user, timeout=60)
    log.info("embedded PostgreSQL tuned: %s", ", ".join(f"{k}={v}" for k, v in TUNING.items()))


def _names() -> str:
    return ", ".join(f"'{name}'" for name in TUNING)


def _same(shown: str, wanted: str) -> bool:
    """current_setting() shows memory in its own units ("512MB", "4GB") and numbers as given."""
    return shown.strip().lower() == wanted.lower()


async def supervise(pg: EmbeddedPostgres, interval_s: float = SUPERVISE_INTERVAL_S) -> None:
    """Restart the embedded PostgreSQL whenever its postmaster is gone, until cancelled.

    Cancelled during a restart, it waits for the restart to finish (a thread cannot be interrupted), so that
    a stop that follows finds PostgreSQL started, not half started.
    """
    while True:
        await asyncio.sleep(interval_s)
        if await asyncio.to_thread(pg.is_running):
            continue
        log.warning("embedded PostgreSQL is not running; restarting it on %s", pg.data_dir)
        restart = asyncio.ensure_future(asyncio.to_thread(pg.restart))
        try:
            await asyncio.shield(restart)
        except asyncio.CancelledError:
            await asyncio.gather(restart, return_exceptions=True)
            raise
        except Exception:  # the old processes may still be exiting: try again at the next tick
            log.warning("restarting the embedded PostgreSQL failed; retrying", exc_info=True)
        else:
            log.warning("embedded PostgreSQL restarted (pid %s)", pg.postmaster_pid())
