"""A multi-process gRPC client: scripts of pre-serialized calls, a fixed number in flight, nothing parsed.

A script is a list of calls made one after the other (for example: add a line, issue, mark paid on one draft).
`run` spreads the scripts over `processes` processes (spawned, so each has its own gRPC core and event loop)
and runs `in_flight` scripts at once in total. Every process waits for a common start instant, so the wall
time spans the whole load. Responses are never parsed: stream messages are only counted.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import time
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import grpc

from bench.load import Metadata, count_field


@dataclass(frozen=True)
class Call:
    """One call of a script: a unary call, or a server stream read to its end."""

    method: str
    body: bytes
    stream: bool = False


Script = Sequence[Call]


@dataclass
class Tally:
    """What the calls of a run did: latencies per method (ms), errors by status, streamed records, wall time."""

    latencies: dict[str, list[float]] = field(default_factory=dict)
    errors: Counter[str] = field(default_factory=Counter)
    records: int = 0
    started: float = 0.0
    ended: float = 0.0

    @property
    def calls(self) -> int:
        """Calls that succeeded."""
        return sum(len(samples) for samples in self.latencies.values())

    @property
    def seconds(self) -> float:
        """Wall time from the common start to the last call's end."""
        return self.ended - self.started

    def merge(self, other: Tally) -> None:
        """Add another process's tally to this one."""
        for method, samples in other.latencies.items():
            self.latencies.setdefault(method, []).extend(samples)
        self.errors.update(other.errors)
        self.records += other.records
        self.started = min(self.started or other.started, other.started)
        self.ended = max(self.ended, other.ended)

    def all_latencies(self) -> list[float]:
        """Every call's latency (ms), all methods together."""
        return [sample for samples in self.latencies.values() for sample in samples]


_start_line: Any = None  # each client process's multiprocessing.Barrier: all start at once


def _join_start_line(barrier: Any) -> None:
    global _start_line
    _start_line = barrier


async def _run_scripts(target: str, metadata: Metadata, scripts: Sequence[Script], in_flight: int) -> Tally:
    tally = Tally()
    # Several connections, as several client instances would have (a local subchannel pool each: channels
    # with the same arguments would otherwise share one connection).
    options = [("grpc.max_receive_message_length", 64 << 20), ("grpc.use_local_subchannel_pool", 1)]
    channels = [grpc.aio.insecure_channel(target, options=options) for _ in range(min(4, in_flight))]
    queue = list(reversed(scripts))

    async def worker(channel: grpc.aio.Channel) -> None:
        while queue:
            script = queue.pop()
            for call in script:
                start = time.perf_counter()
                try:
                    if call.stream:
                        stream = channel.unary_stream(call.method, request_serializer=None, response_deserializer=None)
                        async for message in stream(call.body, metadata=metadata, timeout=3600):
                            tally.records += count_field(message)
                    else:
                        unary = channel.unary_unary(call.method, request_serializer=None, response_deserializer=None)
                        await unary(call.body, metadata=metadata, timeout=120)
                except grpc.aio.AioRpcError as error:
                    tally.errors[f"{call.method.rsplit('/', 1)[-1]}: {error.code().name}"] += 1
                    break
                tally.latencies.setdefault(call.method, []).append((time.perf_counter() - start) * 1000)

    try:
        for channel in channels:
            await channel.channel_ready()
        _start_line.wait(timeout=300)
        tally.started = time.time()
        await asyncio.gather(*(worker(channels[i % len(channels)]) for i in range(in_flight)))
        tally.ended = time.time()
    finally:
        for channel in channels:
            await channel.close()
    return tally


def _process_main(target: str, metadata: Metadata, scripts: Sequence[Script], in_flight: int) -> Tally:
    import uvloop

    tally: Tally = uvloop.run(_run_scripts(target, metadata, scripts, in_flight))
    return tally


def run(target: str, metadata: Metadata, scripts: Sequence[Script], *, in_flight: int, processes: int) -> Tally:
    """Run the scripts with `in_flight` at once over `processes` client processes; their merged tally."""
    processes = max(1, min(processes, in_flight, len(scripts)))
    shares = [list(scripts[i::processes]) for i in range(processes)]
    per_process = [in_flight // processes + (1 if i < in_flight % processes else 0) for i in range(processes)]
    context = multiprocessing.get_context("spawn")
    # Spawning and importing take a while on a busy machine: the processes connect, then start together.
    barrier = context.Barrier(processes)
    with ProcessPoolExecutor(processes, mp_context=context, initializer=_join_start_line, initargs=(barrier,)) as pool:
        futures = [
            pool.submit(_process_main, target, metadata, share, n) for share, n in zip(shares, per_process, strict=True)
        ]
        total = Tally()
        for future in futures:
            total.merge(future.result())
    return total
