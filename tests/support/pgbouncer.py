"""A real PgBouncer in transaction pooling mode in front of the test database (SPEC 10).

`INVOICING_TEST_PGBOUNCER=1` makes the session server reach PostgreSQL through
it (`make test-pgbouncer`, installed by `make pgbouncer` from the Debian package).
Migrations, the LISTEN connection and the tests' own fixtures keep the direct
connection, as a deployment behind PgBouncer would.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

from tests.support.serve import free_port

ENV_SWITCH = "INVOICING_TEST_PGBOUNCER"
STARTUP_BOUND_S = 30.0


def wanted() -> bool:
    """True when the test session goes through PgBouncer."""
    return os.environ.get(ENV_SWITCH) == "1"


def _binary() -> str:
    found = shutil.which("pgbouncer") or ("/usr/sbin/pgbouncer" if Path("/usr/sbin/pgbouncer").exists() else None)
    if found is None:
        raise RuntimeError(f"{ENV_SWITCH}=1 needs pgbouncer: run `make pgbouncer` (Debian package pgbouncer)")
    return found


def _server_of(dsn: str) -> tuple[str, str, str, str, str]:
    """(host or socket directory, port, user, password, database) of a libpq-style URL."""
    parts = urlsplit(dsn)
    query = parse_qs(parts.query)
    host = query.get("host", [parts.hostname or "localhost"])[0]
    port = query.get("port", [str(parts.port or 5432)])[0]
    user = unquote(parts.username or "postgres")
    password = unquote(parts.password or "")
    database = parts.path.lstrip("/") or user
    return host, port, user, password, database


class PgBouncer:
    """A PgBouncer process (transaction pooling) in front of one database; stop and start it again at will."""

    def __init__(self, dsn: str) -> None:
        self._host, self._port, self._user, self._password, self._database = _server_of(dsn)
        self.workdir = Path(tempfile.mkdtemp(prefix="invoicing-pgbouncer-"))
        self.listen_port = free_port()
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def dsn(self) -> str:
        """The DSN that goes through PgBouncer."""
        secret = f":{self._password}" if self._password else ""
        return f"postgresql://{self._user}{secret}@127.0.0.1:{self.listen_port}/{self._database}"

    def start(self) -> None:
        """Start PgBouncer on its port (the same port after a stop) and wait until it accepts connections."""
        server = f"host={self._host} port={self._port} user={self._user} dbname={self._database}"
        if self._password:
            server += f" password={self._password}"
        (self.workdir / "userlist.txt").write_text(f'"{self._user}" "{self._password}"\n')
        (self.workdir / "pgbouncer.ini").write_text(
            "\n".join(
                [
                    "[databases]",
                    f"{self._database} = {server}",
                    "[pgbouncer]",
                    "listen_addr = 127.0.0.1",
                    f"listen_port = {self.listen_port}",
                    "unix_socket_dir =",
                    "auth_type = trust",
                    f"auth_file = {self.workdir / 'userlist.txt'}",
                    "pool_mode = transaction",
                    "default_pool_size = 40",
                    "max_client_conn = 2000",
                    "ignore_startup_parameters = extra_float_digits",
                    f"logfile = {self.workdir / 'pgbouncer.log'}",
                    f"pidfile = {self.workdir / 'pgbouncer.pid'}",
                    "",
                ]
            )
        )
        command = [_binary(), str(self.workdir / "pgbouncer.ini")]
        if os.geteuid() == 0:
            # PgBouncer refuses to run as root; the embedded PostgreSQL's own user can reach its socket.
            self.workdir.chmod(0o777)
            for path in self.workdir.iterdir():
                path.chmod(0o666)
            command[1:1] = ["-u", "pgserver"]
        self._process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        _wait_for_port(self.listen_port, self._process, self.workdir)

    def stop(self) -> None:
        """Stop PgBouncer (its clients' connections drop)."""
        if self._process is None:
            return
        self._process.terminate()
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        self._process = None

    def close(self) -> None:
        """Stop PgBouncer and remove its files."""
        self.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)


@contextlib.contextmanager
def running(dsn: str) -> Iterator[PgBouncer]:
    """A started PgBouncer in front of dsn's database, closed after the block."""
    bouncer = PgBouncer(dsn)
    try:
        bouncer.start()
        yield bouncer
    finally:
        bouncer.close()


def _wait_for_port(port: int, process: subprocess.Popen[bytes], workdir: Path) -> None:
    deadline = time.monotonic() + STARTUP_BOUND_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            log = workdir / "pgbouncer.log"
            raise RuntimeError(f"pgbouncer exited: {log.read_text() if log.exists() else ''}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
            return
        time.sleep(0.05)
    raise RuntimeError("pgbouncer did not start listening")
