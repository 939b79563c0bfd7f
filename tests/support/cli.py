"""Run the real command-line clients (grpcurl, buf curl, node, go) as processes against the test server."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
GRPCURL = Path(sys.executable).parent / "grpcurl"
BUF = ROOT / "node_modules" / ".bin" / "buf"


@dataclass
class Completed:
    """A finished process: exit code and decoded output."""

    returncode: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        """stdout as one JSON document."""
        return json.loads(self.stdout)

    def json_stream(self) -> list[Any]:
        """stdout as a sequence of JSON documents (grpcurl prints one per streamed message)."""
        return json_documents(self.stdout)


def json_documents(text: str) -> list[Any]:
    """The JSON documents printed one after the other in text."""
    decoder = json.JSONDecoder()
    found: list[Any] = []
    index = 0
    while True:
        while index < len(text) and text[index].isspace():
            index += 1
        if index >= len(text):
            return found
        value, index = decoder.raw_decode(text, index)
        found.append(value)


async def run(
    *args: str | Path,
    stdin: str | None = None,
    limit_s: float = 60,
    env: Mapping[str, str] | None = None,
    cwd: Path = ROOT,
) -> Completed:
    """Run a process to completion (killed at the timeout) and return what it printed."""
    process = await asyncio.create_subprocess_exec(
        *(str(a) for a in args),
        stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, **(env or {})},
        cwd=cwd,
    )
    try:
        out, err = await asyncio.wait_for(
            process.communicate(stdin.encode() if stdin is not None else None), timeout=limit_s
        )
    except (TimeoutError, asyncio.CancelledError):
        process.kill()
        await process.wait()
        raise
    assert process.returncode is not None
    return Completed(process.returncode, out.decode(), err.decode())


async def grpcurl(
    target: str, *command: str, options: Sequence[str] = (), key: str | None = None, stdin: str | None = None
) -> Completed:
    """`grpcurl -plaintext [-H authorization] options... target command...` (`list`, `describe X`, a method)."""
    headers: Sequence[str] = ("-H", f"authorization: Bearer {key}") if key else ()
    return await run(GRPCURL, "-plaintext", *headers, *options, target, *command, stdin=stdin)


async def buf_curl(target: str, *args: str, key: str | None = None) -> Completed:
    """`buf curl` over gRPC with HTTP/2 prior knowledge; args end with the path after the host."""
    headers: Sequence[str] = ("-H", f"authorization: Bearer {key}") if key else ()
    *options, path = args
    return await run(
        BUF, "curl", "--protocol", "grpc", "--http2-prior-knowledge", *headers, *options, f"http://{target}{path}"
    )
