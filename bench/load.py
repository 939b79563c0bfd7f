"""Load generators that cost the server little.

- `h2load` (nghttp2) sends pre-framed gRPC request bodies: unary throughput at N in flight, and latency at
  1 in flight from its per-request log. It cannot see a gRPC status (an error is still HTTP 200), so every
  run checks that the response bytes it received add up to the expected response size per request.
- Python clients send pre-serialized requests and never parse responses: a stream's records are counted by
  walking the top-level fields of each message (a few microseconds per record).
"""

from __future__ import annotations

import re
import statistics
import struct
import subprocess
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import grpc

Metadata = tuple[tuple[str, str], ...]


def bearer(key: str | None) -> Metadata:
    """The call metadata that authenticates as `key` (none for the anchor's health checks)."""
    return (("authorization", f"Bearer {key}"),) if key else ()


def grpc_frame(payload: bytes) -> bytes:
    """A gRPC length-prefixed message (uncompressed)."""
    return b"\x00" + struct.pack(">I", len(payload)) + payload


def _h2load(h2load: str, url: str, body: bytes, key: str | None, options: Sequence[str]) -> str:
    with tempfile.NamedTemporaryFile(suffix=".bin") as f:
        f.write(grpc_frame(body))
        f.flush()
        cmd = [h2load, *options, "-d", f.name, "-H", "content-type: application/grpc", "-H", "te: trailers"]
        if key:
            cmd += ["-H", f"authorization: Bearer {key}"]
        return subprocess.run([*cmd, url], capture_output=True, text=True, check=True).stdout


def _check_h2load(out: str, response_bytes: int) -> None:
    failed = re.search(r"requests: .* (\d+) succeeded, (\d+) failed, (\d+) errored", out)
    data = re.search(r"\((\d+)\) data", out)
    if failed is None or data is None:
        raise RuntimeError(f"unexpected h2load output:\n{out}")
    succeeded, errors = int(failed.group(1)), int(failed.group(2)) + int(failed.group(3))
    if errors or succeeded == 0:
        raise RuntimeError(f"h2load saw failures:\n{out}")
    # Every response is the same message: fewer bytes than that per request means some calls failed with
    # a gRPC status (sent as HTTP 200 with trailers only).
    if int(data.group(1)) < succeeded * (response_bytes + 5):
        raise RuntimeError(f"h2load received short responses (gRPC errors?), expected {response_bytes} B each:\n{out}")


def h2load_rps(
    h2load: str, url: str, body: bytes, key: str | None, in_flight: int, seconds: float, response_bytes: int
) -> float:
    """Requests per second that h2load reaches with `in_flight` concurrent streams over 4 connections."""
    connections = 4 if in_flight >= 4 else 1
    options = [
        "-c", str(connections), "-m", str(max(1, in_flight // connections)),
        "-D", f"{max(1, round(seconds))}", "--warm-up-time", "1",
    ]  # fmt: skip
    out = _h2load(h2load, url, body, key, options)
    _check_h2load(out, response_bytes)
    match = re.search(r"finished in [\d.]+\w+, ([\d.]+) req/s", out)
    if match is None:
        raise RuntimeError(f"unexpected h2load output:\n{out}")
    return float(match.group(1))


def h2load_latencies_ms(
    h2load: str, url: str, body: bytes, key: str | None, count: int, response_bytes: int, warmup: int = 100
) -> list[float]:
    """Per-request latencies (ms) of `count` calls at 1 in flight on one connection, from h2load's log."""
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "requests.tsv"
        out = _h2load(h2load, url, body, key, ["-c", "1", "-m", "1", "-n", str(count + warmup), f"--log-file={log}"])
        _check_h2load(out, response_bytes)
        rows = [line.split("\t") for line in log.read_text().splitlines() if line]
    rows.sort(key=lambda r: int(r[0]))
    if any(int(r[1]) != 200 for r in rows):
        raise RuntimeError("h2load logged failed requests")
    return [int(r[2]) / 1000 for r in rows[warmup:]]


def percentile(samples: Sequence[float], q: float) -> float:
    """The q-th percentile (0 < q < 100) of the samples."""
    if len(samples) == 1:
        return samples[0]
    return statistics.quantiles(samples, n=1000, method="inclusive")[round(q * 10) - 1]


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result, pos
        shift += 7


def count_field(message: bytes, field_number: int = 1) -> int:
    """How many times a top-level field occurs in a serialized message, without parsing the message."""
    pos, end, count = 0, len(message), 0
    while pos < end:
        key, pos = _varint(message, pos)
        wire_type = key & 7
        if wire_type == 2:
            length, pos = _varint(message, pos)
            pos += length
        elif wire_type == 0:
            _, pos = _varint(message, pos)
        elif wire_type == 1:
            pos += 8
        elif wire_type == 5:
            pos += 4
        else:
            raise ValueError(f"unexpected wire type {wire_type}")
        if key >> 3 == field_number:
            count += 1
    return count


def unary_latencies_ms(target: str, method: str, bodies: Sequence[bytes], metadata: Metadata) -> list[float]:
    """Latency (ms) of one sequential call per body (1 in flight) with a Python client, after a warm-up."""
    with grpc.insecure_channel(target) as channel:
        call = channel.unary_unary(method, request_serializer=None, response_deserializer=None)
        for body in bodies[: min(50, len(bodies))]:
            call(body, metadata=metadata)
        samples = []
        for body in bodies:
            start = time.perf_counter_ns()
            call(body, metadata=metadata)
            samples.append((time.perf_counter_ns() - start) / 1e6)
    return samples


def call_once(target: str, method: str, body: bytes, metadata: Metadata) -> bytes:
    """One call: its serialized response (raises on any error status)."""
    with grpc.insecure_channel(target) as channel:
        response: bytes = channel.unary_unary(method, request_serializer=None, response_deserializer=None)(
            body, metadata=metadata, timeout=60
        )
        return response


@dataclass(frozen=True)
class StreamReading:
    """One server stream read to its end: records, seconds to the first message and to the end."""

    records: int
    first_s: float
    total_s: float


def read_stream(channel: grpc.Channel, method: str, body: bytes, metadata: Metadata) -> StreamReading:
    """Read a server stream to the end, counting the records (field 1) of its messages."""
    call = channel.unary_stream(method, request_serializer=None, response_deserializer=None)
    start = time.perf_counter()
    first = 0.0
    records = 0
    for message in call(body, metadata=metadata, timeout=3600):
        if not first:
            first = time.perf_counter() - start
        records += count_field(message)
    total = time.perf_counter() - start
    return StreamReading(records, first or total, total)


def first_batch_ms(channel: grpc.Channel, method: str, body: bytes, metadata: Metadata) -> float:
    """Milliseconds from the call to its first message (the stream is read to its end afterwards)."""
    return read_stream(channel, method, body, metadata).first_s * 1000


def stream_channel(target: str) -> grpc.Channel:
    """A channel whose messages may be as large as the server's batches."""
    return grpc.insecure_channel(target, options=[("grpc.max_receive_message_length", 64 << 20)])
