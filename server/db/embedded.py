"""An embedded PostgreSQL server, started from the `pgserver` wheel.

Used when DATABASE_URL is unset: `serve` keeps its data under the project's
data directory so a restart keeps it; tests start a throwaway one. The server
listens on a Unix socket only, and pgserver runs it as an unprivileged user
when we are root.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


@dataclass
class EmbeddedPostgres:
    """A running embedded server and how to reach it."""

    data_dir: Path
    dsn: str
    _server: Any

    def stop(self) -> None:
        """Stop the server now (it also stops when the last process using it exits)."""
        self._server.cleanup()


def start(data_dir: Path, *, ephemeral: bool = False) -> EmbeddedPostgres:
    """Start (or attach to) the PostgreSQL server whose data lives in data_dir.

    With ephemeral=True the data directory is deleted when the server stops.
    """
    import pgserver  # imported here: only the embedded mode needs it

    data_dir = data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    server = pgserver.get_server(data_dir, cleanup_mode="delete" if ephemeral else "stop")  # type: ignore[attr-defined]
    log.info("embedded PostgreSQL ready in %s", data_dir)
    return EmbeddedPostgres(data_dir=data_dir, dsn=server.get_uri(), _server=server)
