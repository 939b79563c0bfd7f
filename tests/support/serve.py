"""`python -m server` run as an operator runs it: serve processes with an embedded PostgreSQL of their own, and
the other commands of the command line."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import socket
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

# Generous bounds: a first start runs initdb, and the machine may be busy. Nothing here measures time.
STARTUP_BOUND_S = 180.0
EXIT_BOUND_S = 90.0
DEMO_EXTERNAL_IDS = {"acme", "globex", "umbrella"}
KEY_LINE = "demo API key:"
LISTEN_LINE = "invoice service listening on"


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without any service settings (so DATABASE_URL is unset), plus extra."""
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL" and not k.startswith("INVOICING_")}
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


@dataclass
class ServeProcess:
    """A running `python -m server serve` and what it printed."""

    process: asyncio.subprocess.Process
    target: str
    stderr_path: Path
    lines: list[str] = field(default_factory=list)

    @property
    def demo_key(self) -> str:
        """The API key from the `demo API key:` line."""
        for line in self.lines:
            if line.startswith(KEY_LINE):
                return line.removeprefix(KEY_LINE).strip()
        raise AssertionError(f"no demo key printed: {self.lines}")

    def stderr(self) -> str:
        """What the process logged so far."""
        return self.stderr_path.read_text(errors="replace") if self.stderr_path.exists() else ""

    async def terminate(self) -> int:
        """Send SIGTERM and wait (bounded) for the exit status."""
        self.process.send_signal(signal.SIGTERM)
        async with asyncio.timeout(EXIT_BOUND_S):
            return await self.process.wait()


class Launcher:
    """Starts serve processes and makes sure none outlives the test, nor its embedded PostgreSQL."""

    def __init__(self, project_root: Path, log_dir: Path) -> None:
        self.project_root = project_root
        self.log_dir = log_dir
        self.started: list[ServeProcess] = []
        self.data_dirs: list[Path] = []

    async def serve(self, data_dir: Path, *args: str, until: str, **env: str) -> ServeProcess:
        """Start `python -m server serve *args` on a free port; return once a stdout line starts with until."""
        port = free_port()
        stderr_path = self.log_dir / f"serve-{len(self.started)}.log"
        with stderr_path.open("wb") as stderr:
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "server",
                "serve",
                *args,
                cwd=self.project_root,
                env=clean_env(INVOICING_DATA_DIR=str(data_dir), INVOICING_LISTEN=f"127.0.0.1:{port}", **env),
                stdout=asyncio.subprocess.PIPE,
                stderr=stderr,
            )
        started = ServeProcess(process=process, target=f"127.0.0.1:{port}", stderr_path=stderr_path)
        self.started.append(started)
        assert process.stdout is not None
        async with asyncio.timeout(STARTUP_BOUND_S):
            while True:
                raw = await process.stdout.readline()
                if not raw:
                    await process.wait()
                    raise AssertionError(
                        f"serve exited with {process.returncode} before printing {until!r}.\n"
                        f"stdout: {started.lines}\nstderr:\n{started.stderr()}"
                    )
                line = raw.decode().strip()
                started.lines.append(line)
                if line.startswith(until):
                    return started

    def fresh_data_dir(self) -> Path:
        """A brand-new data directory, as on a fresh clone (outside pytest's shared temp root)."""
        path = Path(tempfile.mkdtemp(prefix="invoicing-serve-"))
        self.data_dirs.append(path)
        return path

    async def close(self) -> None:
        """Kill whatever is still running, stop any embedded PostgreSQL a killed process left behind, clean up."""
        for started in self.started:
            if started.process.returncode is None:
                started.process.kill()
                await started.process.wait()
        for data_dir in self.data_dirs:
            await _stop_orphan_postgres(data_dir / "postgres")
            shutil.rmtree(data_dir, ignore_errors=True)


async def _stop_orphan_postgres(pgdata: Path) -> None:
    pid_file = pgdata / "postmaster.pid"
    if not pid_file.exists():
        return
    with contextlib.suppress(OSError, ValueError):
        pid = int(pid_file.read_text().splitlines()[0])
        proc = Path(f"/proc/{pid}")
        if str(pgdata) not in (proc / "cmdline").read_bytes().decode(errors="replace"):
            return
        os.kill(pid, signal.SIGINT)  # fast shutdown
        for _ in range(100):
            if not await asyncio.to_thread(proc.exists):
                return
            await asyncio.sleep(0.1)


async def run_server_command(
    project_root: Path, *args: str, limit_s: float = STARTUP_BOUND_S, **env: str
) -> tuple[int, str, str]:
    """Run `python -m server *args` in a clean environment plus env, within limit_s; return its exit code, stdout
    and stderr."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "server",
        *args,
        cwd=project_root,
        env=clean_env(**env),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    async with asyncio.timeout(limit_s):
        out, err = await process.communicate()
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()
