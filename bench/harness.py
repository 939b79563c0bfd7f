"""What every scenario stands on: a PostgreSQL, a real `python -m server serve` process, the load tools.

The server runs as its own process (as in production), with its stdout in a file so that it never blocks on
a full pipe. Its memory is the resident set of its whole process tree (all workers).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import grpc
import psutil
from grpc_health.v1 import health_pb2, health_pb2_grpc

from server.db import embedded

ROOT = Path(__file__).resolve().parent.parent
READY_TIMEOUT_S = 120.0


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def ensure_tool(command: str, debian_package: str) -> str:
    """The path of `command`, installing its Debian package when missing (as `make bench` promises)."""
    path = shutil.which(command)
    if path is None:
        print(f"installing {command} (Debian package {debian_package})...", flush=True)
        subprocess.run(["apt-get", "update", "-qq"], check=True, stdout=subprocess.DEVNULL)
        subprocess.run(["apt-get", "install", "-y", "-qq", debian_package], check=True, stdout=subprocess.DEVNULL)
        path = shutil.which(command)
    if path is None:
        raise SystemExit(f"{command} is required: apt-get install {debian_package}")
    return path


@contextlib.contextmanager
def database(url: str | None, workdir: Path) -> Iterator[str]:
    """A DSN for the run: a fresh database on the server `url` names (dropped after), else an embedded one."""
    if url is None:
        pg = embedded.start(workdir / "pg", ephemeral=True)
        try:
            yield pg.dsn
        finally:
            pg.stop()
        return
    name = f"invoicing_bench_{uuid.uuid4().hex[:10]}"
    sql_value(url, f'CREATE DATABASE "{name}"')
    try:
        yield urlunsplit(urlsplit(url)._replace(path=f"/{name}"))
    finally:
        sql_value(url, f'DROP DATABASE "{name}" WITH (FORCE)')


@contextlib.contextmanager
def database_copy(dsn: str) -> Iterator[str]:
    """A copy of the database `dsn` names, as it is now (CREATE DATABASE ... TEMPLATE), dropped after the block.

    Nothing may be connected to the database while it is copied; an autovacuum worker that is gets a few
    seconds to leave.
    """
    source = urlsplit(dsn).path.lstrip("/") or "postgres"
    name = f"{source}_copy_{uuid.uuid4().hex[:8]}"
    maintenance = urlunsplit(urlsplit(dsn)._replace(path="/template1"))
    for attempt in range(20):
        try:
            sql_value(maintenance, f'CREATE DATABASE "{name}" TEMPLATE "{source}"')
            break
        except asyncpg.ObjectInUseError:
            if attempt == 19:
                raise
            time.sleep(0.5)
    try:
        yield urlunsplit(urlsplit(dsn)._replace(path=f"/{name}"))
    finally:
        sql_value(maintenance, f'DROP DATABASE "{name}" WITH (FORCE)')


def sql_rows(dsn: str, sql: str, *args: object) -> list[asyncpg.Record]:
    """The rows of one statement, run on a connection of its own."""

    async def run() -> list[asyncpg.Record]:
        conn = await asyncpg.connect(dsn)
        try:
            rows: list[asyncpg.Record] = await conn.fetch(sql, *args)
            return rows
        finally:
            await conn.close()

    return asyncio.run(run())


def sql_value(dsn: str, sql: str, *args: object) -> Any:
    """The first value of one statement's first row (None without rows), on a connection of its own."""
    rows = sql_rows(dsn, sql, *args)
    return rows[0][0] if rows and len(rows[0]) else None


@functools.cache
def server_commands() -> str:
    """`python -m server --help` and `serve --help`: which commands and options this checkout has."""
    run = functools.partial(subprocess.run, capture_output=True, text=True, cwd=ROOT, check=False)
    top = run([sys.executable, "-m", "server", "--help"]).stdout
    serve = run([sys.executable, "-m", "server", "serve", "--help"]).stdout
    return top + "\n" + serve


def supports_workers() -> bool:
    """True when `serve` takes --workers (several processes sharing the port)."""
    return "--workers" in server_commands()


# Server settings of a run (`python -m bench --server-setting INVOICING_NAME=VALUE`), given to every server it
# starts: the bench's own environment never reaches them (its INVOICING_* variables are left out), so a setting
# under test is named on the command line and recorded with the results.
SERVER_SETTINGS: dict[str, str] = {}
# What server_env sets for each server itself, which a run's settings may not change.
FIXED_SETTINGS = frozenset({"INVOICING_LISTEN", "INVOICING_DATA_DIR", "INVOICING_LOG_LEVEL"})


def server_env(dsn: str, workdir: Path, listen: str) -> dict[str, str]:
    """The environment of a bench server process."""
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith("INVOICING_")},
        "DATABASE_URL": dsn,
        "INVOICING_LISTEN": listen,
        "INVOICING_DATA_DIR": str(workdir / "data"),
        "INVOICING_LOG_LEVEL": "WARNING",
        "INVOICING_API_KEY_CACHE_SECONDS": "60",
        "PYTHONUNBUFFERED": "1",
        **SERVER_SETTINGS,
    }


@dataclass
class Server:
    """A running `python -m server serve`."""

    process: subprocess.Popen[bytes]
    target: str
    workers: int
    log: Path
    _tree: psutil.Process = field(init=False)

    def __post_init__(self) -> None:
        self._tree = psutil.Process(self.process.pid)

    @property
    def url(self) -> str:
        """The h2load base URL."""
        return f"http://{self.target}"

    @property
    def pid(self) -> int:
        """The pid of the serve process (the parent when there are workers)."""
        return self.process.pid

    def rss(self) -> int:
        """Resident bytes of the server's process tree."""
        total = 0
        for proc in [self._tree, *self._tree.children(recursive=True)]:
            with contextlib.suppress(psutil.NoSuchProcess):
                total += proc.memory_info().rss
        return total

    def stop(self) -> None:
        """SIGTERM, then wait for the graceful shutdown."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)


def start_server(dsn: str, workdir: Path, *, workers: int | None = None) -> Server:
    """Start a server (with `--workers N` when given and supported) and wait until it answers health checks."""
    port = free_port()
    target = f"127.0.0.1:{port}"
    command = [sys.executable, "-m", "server", "serve"]
    if workers is not None and supports_workers():
        command += ["--workers", str(workers)]
    elif workers not in (None, 1):
        raise RuntimeError("serve has no --workers option on this checkout")
    log = workdir / f"server-{port}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(command, cwd=ROOT, env=server_env(dsn, workdir, target), stdout=out, stderr=out)
    server = Server(process, target, workers or 1, log)
    try:
        _wait_ready(server)
    except BaseException:
        server.stop()
        raise
    return server


@contextlib.contextmanager
def serving(dsn: str, workdir: Path, *, workers: int | None = None) -> Iterator[Server]:
    """A server for the length of the block."""
    server = start_server(dsn, workdir, workers=workers)
    try:
        yield server
    finally:
        server.stop()


def _wait_ready(server: Server) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while b"listening on" not in server.log.read_bytes():
        if server.process.poll() is not None:
            raise RuntimeError(f"the server exited:\n{server.log.read_text(errors='replace')}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"the server did not start:\n{server.log.read_text(errors='replace')}")
        time.sleep(0.05)
    with grpc.insecure_channel(server.target) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        while True:
            with contextlib.suppress(grpc.RpcError):
                answer = health.Check(health_pb2.HealthCheckRequest(), timeout=2)
                if answer.status == health_pb2.HealthCheckResponse.SERVING:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError("the server never reported SERVING")
            time.sleep(0.1)
    if server.workers > 1:
        # Every worker must be accepting before a load generator opens its connections.
        while len(server._tree.children()) < server.workers and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(1.0)
