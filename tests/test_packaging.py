"""The project installs as a normal wheel and starts from it (SPEC 12).

`pip wheel .` builds the wheel; a fresh virtual environment (no system site
packages, nothing of the checkout on its path) installs it with its
dependencies from the package index, then runs `python -m server --help` and
`python -m server serve` with an embedded PostgreSQL of its own, which
migrates from the SQL files inside the wheel and answers health checks.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path

import grpc
import pytest

from tests.support.resilience import SERVING, eventually, health
from tests.support.serve import LISTEN_LINE, STARTUP_BOUND_S, clean_env, free_port

# A wheel built, a fresh venv, an install from the package index (900 s each at most) and a serve process.
pytestmark = [pytest.mark.reliability, pytest.mark.slow, pytest.mark.timeout(1800)]

INSTALL_BOUND_S = 900.0


async def run(*command: str | Path, cwd: Path, bound_s: float = INSTALL_BOUND_S) -> str:
    """Run a command to completion (bounded); return its output, failing the test with it on a non-zero exit."""
    process = await asyncio.create_subprocess_exec(
        *map(str, command),
        cwd=cwd,
        env=clean_env(),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    async with asyncio.timeout(bound_s):
        out, _ = await process.communicate()
    text = out.decode(errors="replace")
    assert process.returncode == 0, f"{command} exited {process.returncode}:\n{text}"
    return text


async def test_the_wheel_installs_in_a_fresh_venv_and_serves(project_root: Path, tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    # The build backend (setuptools) is already in this environment: no isolated build environment to fetch.
    await run(
        sys.executable,
        "-m",
        "pip",
        "wheel",
        ".",
        "--no-deps",
        "--no-build-isolation",
        "-q",
        "-w",
        wheels,
        cwd=project_root,
    )
    (wheel,) = wheels.glob("invoice_service-*.whl")

    venv = tmp_path / "venv"
    outside = tmp_path / "elsewhere"  # a working directory without the checkout
    outside.mkdir()
    await run(sys.executable, "-m", "venv", venv, cwd=outside)
    python = venv / "bin" / "python"
    await run(python, "-m", "pip", "install", "-q", "--disable-pip-version-check", wheel, cwd=outside)

    where = await run(
        python,
        "-c",
        "import server, server.usecases, server.interceptors, server.domain.documents, invoicing.v1.invoice_pb2;"
        " print(server.__file__)",
        cwd=outside,
    )
    assert str(venv) in where
    help_text = await run(python, "-m", "server", "--help", cwd=outside, bound_s=STARTUP_BOUND_S)
    for command in ("serve", "migrate", "create-api-key", "revoke-api-key", "bill"):
        assert command in help_text

    port = free_port()
    env = clean_env(INVOICING_DATA_DIR=str(tmp_path / "data"), INVOICING_LISTEN=f"127.0.0.1:{port}")
    log = (tmp_path / "serve.log").open("wb")
    process = await asyncio.create_subprocess_exec(
        str(python), "-m", "server", "serve", cwd=outside, env=env, stdout=asyncio.subprocess.PIPE, stderr=log
    )
    try:
        assert process.stdout is not None
        async with asyncio.timeout(STARTUP_BOUND_S):
            while not (line := (await process.stdout.readline()).decode()).startswith(LISTEN_LINE):
                assert line, f"serve exited before listening:\n{(tmp_path / 'serve.log').read_text()}"
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:

            async def serving() -> bool:
                status = await health(channel)
                return status == SERVING

            await eventually(serving, 30, "the installed server did not report SERVING")
        process.send_signal(signal.SIGTERM)
        async with asyncio.timeout(STARTUP_BOUND_S):
            assert await process.wait() == 0
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
        log.close()
    # PostgreSQL stopped with the service (a clean stop removes its pid file).
    assert not await asyncio.to_thread((tmp_path / "data" / "postgres" / "postmaster.pid").exists)
