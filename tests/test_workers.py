"""`serve --workers N`: real processes sharing one port, supervised by their parent.

Both workers serve calls on the one port (each counts its own calls in its metrics), the demo data is seeded
once, SIGTERM drains every worker and the parent exits 0, a killed worker is started again, workers that
keep dying (or cannot start at all) stop the server with exit status 1, and the embedded PostgreSQL the
parent owns is stopped whatever happens.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import socket
import urllib.request
from pathlib import Path

import asyncpg
import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from invoicing.v1 import customer_service_pb2, customer_service_pb2_grpc, invoice_service_pb2, invoice_service_pb2_grpc

from server.db import jobs
from server.workers import MAX_RESTARTS
from tests.support.serve import (
    DEMO_EXTERNAL_IDS,
    EXIT_BOUND_S,
    KEY_LINE,
    LISTEN_LINE,
    Launcher,
    ServeProcess,
    free_port,
    run_server_command,
)

WORKER_LINE = re.compile(r"worker (\d+) \(pid (\d+)\) serving on ")
CALLS = 30


def worker_pids(started: ServeProcess) -> dict[int, int]:
    """Worker index → pid of the latest serving line of each worker."""
    pids: dict[int, int] = {}
    for line in started.lines:
        if match := WORKER_LINE.match(line):
            pids[int(match.group(1))] = int(match.group(2))
    return pids


def parent_of(pid: int) -> int:
    """The parent pid of a live process."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("PPid:"):
            return int(line.split()[1])
    raise AssertionError(f"no PPid for {pid}")


def is_running(pid: int) -> bool:
    """True while the process exists and is not a zombie."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] != "Z"
    except (FileNotFoundError, ProcessLookupError, IndexError):  # (gone between the open and the read: ESRCH)
        return False


async def read_until(started: ServeProcess, pattern: re.Pattern[str], after: int) -> tuple[int, re.Match[str]]:
    """Read the process's stdout until a line past the first `after` matches pattern: (its position, the match)."""
    assert started.process.stdout is not None
    async with asyncio.timeout(EXIT_BOUND_S):
        while True:
            for position in range(after, len(started.lines)):
                if match := pattern.match(started.lines[position]):
                    return position, match
            after = len(started.lines)
            raw = await started.process.stdout.readline()
            if not raw:
                raise AssertionError(f"stdout ended before {pattern.pattern!r}: {started.lines}\n{started.stderr()}")
            started.lines.append(raw.decode().strip())


def two_free_ports() -> int:
    """A port P such that P and P + 1 are both free now."""
    while True:
        port = free_port()
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port + 1))
            except OSError:
                continue
        return port


def metric(metrics_port: int, pattern: str) -> float:
    """The sum of the samples one worker's /metrics has on lines matching `pattern` (its value a group)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=10) as reply:
        text: str = reply.read().decode()
    return sum(float(m.group(1)) for m in re.finditer(pattern, text, re.MULTILINE))


def served(metrics_port: int, method: str) -> float:
    """How many calls of method one worker answered OK, from its own /metrics."""
    return metric(metrics_port, rf'^invoicing_rpc_total\{{code="OK",method="{re.escape(method)}"\}} (\S+)$')


def open_streams(metrics_port: int, method: str) -> float:
    """How many streams of method one worker has open."""
    return metric(metrics_port, rf'^invoicing_streams_open\{{method="{re.escape(method)}"\}} (\S+)$')


def frozen_objects(metrics_port: int) -> float:
    """How many objects one worker left out of its garbage collector's scans after start-up."""
    return metric(metrics_port, r"^invoicing_gc_frozen_objects (\S+)$")


def fresh_connection(target: str) -> grpc.aio.Channel:
    """A channel with a TCP connection of its own (channels otherwise share one per target in a process)."""
    return grpc.aio.insecure_channel(target, options=[("grpc.use_local_subchannel_pool", 1)])


async def hold_a_stream_on_each_worker(
    started: ServeProcess, metrics_port: int, workers: int
) -> list[tuple[grpc.aio.Channel, grpc.aio.UnaryStreamCall]]:
    """Open WatchInvoiceEvents streams, each on a connection of its own, until every worker holds one.

    The kernel spreads connections over the workers at random, so a fixed number of them can all land on one
    worker (8 do about once in 128 runs); each worker's own gauge says where a stream landed.
    """
    method = "/invoicing.v1.InvoiceService/WatchInvoiceEvents"
    metadata = (("authorization", f"Bearer {started.demo_key}"),)
    held: list[tuple[grpc.aio.Channel, grpc.aio.UnaryStreamCall]] = []
    for _ in range(64):
        channel = fresh_connection(started.target)
        stub = invoice_service_pb2_grpc.InvoiceServiceStub(channel)
        held.append(
            (channel, stub.WatchInvoiceEvents(invoice_service_pb2.WatchInvoiceEventsRequest(), metadata=metadata))
        )
        async with asyncio.timeout(EXIT_BOUND_S):
            while True:
                per_worker = [await asyncio.to_thread(open_streams, metrics_port + k, method) for k in range(workers)]
                if sum(per_worker) == len(held):
                    break
                await asyncio.sleep(0.05)
        if all(count > 0 for count in per_worker):
            return held
    raise AssertionError(f"64 connections and a worker still holds no stream: {per_worker}")


async def kill_workers(pids: list[int]) -> None:
    """SIGKILL these processes (workers of a test server) and wait until they are gone."""
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    async with asyncio.timeout(EXIT_BOUND_S):
        while any(is_running(pid) for pid in pids):  # noqa: ASYNC110 (nothing signals another process's end)
            await asyncio.sleep(0.05)


async def test_workers_share_the_port_seed_once_and_drain_on_sigterm(
    launcher: Launcher,
) -> None:
    data_dir = launcher.fresh_data_dir()
    metrics_port = two_free_ports()
    started = await launcher.serve(
        data_dir,
        "--workers",
        "2",
        "--demo",
        until=KEY_LINE,
        INVOICING_METRICS_LISTEN=f"127.0.0.1:{metrics_port}",
        INVOICING_SHUTDOWN_GRACE_S="60",
    )
    pids = worker_pids(started)
    try:
        assert sorted(pids) == [0, 1]
        assert len(set(pids.values())) == 2
        assert all(parent_of(pid) == started.process.pid for pid in pids.values())
        assert any(line.startswith(LISTEN_LINE) and "2 workers" in line for line in started.lines)
        # The demo data is seeded once, by the parent, whichever worker answered.
        assert sum("seeded demo" in line for line in started.lines) == 1

        # Calls over fresh connections land on both workers: each counts its own.
        method = "/invoicing.v1.CustomerService/ListCustomers"
        before = [await asyncio.to_thread(served, metrics_port + k, method) for k in (0, 1)]
        metadata = (("authorization", f"Bearer {started.demo_key}"),)
        for _ in range(CALLS):
            async with fresh_connection(started.target) as channel:
                stub = customer_service_pb2_grpc.CustomerServiceStub(channel)
                batches = [
                    b async for b in stub.ListCustomers(customer_service_pb2.ListCustomersRequest(), metadata=metadata)
                ]
                assert {c.external_customer_id for b in batches for c in b.customers} == DEMO_EXTERNAL_IDS
        after = [await asyncio.to_thread(served, metrics_port + k, method) for k in (0, 1)]
        per_worker = [a - b for a, b in zip(after, before, strict=True)]
        assert sum(per_worker) == CALLS
        assert all(count > 0 for count in per_worker), per_worker
        # Each worker froze what its start-up allocated (modules, descriptors): full collections skip it.
        frozen = [await asyncio.to_thread(frozen_objects, metrics_port + k) for k in (0, 1)]
        assert all(count > 10_000 for count in frozen), frozen

        # SIGTERM with calls in flight on every worker: every worker goes NOT_SERVING and stops taking
        # connections, the in-flight calls stay open (the grace period is long), nothing exits yet.
        held = await hold_a_stream_on_each_worker(started, metrics_port, workers=2)
        channels = [fresh_connection(started.target) for _ in range(8)]
        watches = [
            health_pb2_grpc.HealthStub(channel).Watch(health_pb2.HealthCheckRequest(service="")) for channel in channels
        ]
        for watch in watches:
            assert (await watch.read()).status == health_pb2.HealthCheckResponse.SERVING
        started.process.send_signal(signal.SIGTERM)
        async with asyncio.timeout(EXIT_BOUND_S):
            for watch in watches:
                assert (await watch.read()).status == health_pb2.HealthCheckResponse.NOT_SERVING
        refused = None
        async with asyncio.timeout(EXIT_BOUND_S):
            while refused is None:
                async with fresh_connection(started.target) as fresh:
                    try:
                        await health_pb2_grpc.HealthStub(fresh).Check(health_pb2.HealthCheckRequest(), timeout=5)
                    except grpc.aio.AioRpcError as error:
                        refused = error.code()
                await asyncio.sleep(0.1)
        assert refused == grpc.StatusCode.UNAVAILABLE
        assert started.process.returncode is None
        assert all(is_running(pid) for pid in pids.values()), "workers must drain, not die"
        assert not any(w.done() for w in watches)
        assert not any(call.done() for _, call in held)

        for watch in [*watches, *(call for _, call in held)]:
            watch.cancel()
        for channel in [*channels, *(channel for channel, _ in held)]:
            await channel.close()
        async with asyncio.timeout(EXIT_BOUND_S):
            assert await started.process.wait() == 0
        assert not any(is_running(pid) for pid in pids.values())
        assert not (data_dir / "postgres" / "postmaster.pid").exists(), "embedded PostgreSQL left running"
        assert started.demo_key not in started.stderr()
    finally:
        await kill_workers(list(pids.values()))


async def test_a_killed_worker_is_started_again_and_workers_that_keep_dying_stop_the_server(
    launcher: Launcher,
) -> None:
    data_dir = launcher.fresh_data_dir()
    # The number of workers comes from the configuration when the command line does not say.
    started = await launcher.serve(data_dir, until=LISTEN_LINE, INVOICING_WORKERS="2")
    assert any("2 workers" in line for line in started.lines if line.startswith(LISTEN_LINE))
    seen = set(worker_pids(started).values())
    try:
        first = worker_pids(started)
        await kill_workers([first[1]])
        _, match = await read_until(started, re.compile(r"worker 1 \(pid (\d+)\) serving on "), len(started.lines))
        restarted = int(match.group(1))
        seen.add(restarted)
        assert restarted != first[1]
        assert parent_of(restarted) == started.process.pid
        assert is_running(first[0]), "the other worker is left alone"
        assert f"worker 1 (pid {first[1]}) exited with signal SIGKILL" in started.stderr()
        for _ in range(10):
            async with fresh_connection(started.target) as channel:
                reply = await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=10)
                assert reply.status == health_pb2.HealthCheckResponse.SERVING

        # Past MAX_RESTARTS exits within the window the parent gives up: status 1, everything stopped.
        exits = 1
        while exits <= MAX_RESTARTS:
            mark = len(started.lines)
            victims = list(worker_pids(started).values())[: MAX_RESTARTS + 1 - exits]
            await kill_workers(victims)
            exits += len(victims)
            if exits <= MAX_RESTARTS:
                for _ in victims:
                    position, match = await read_until(started, WORKER_LINE, mark)
                    seen.add(int(match.group(2)))
                    mark = position + 1
        async with asyncio.timeout(EXIT_BOUND_S):
            assert await started.process.wait() == 1
        assert "stopping the server: workers exited" in started.stderr()
        assert not any(is_running(pid) for pid in seen)
        assert not (data_dir / "postgres" / "postmaster.pid").exists()
    finally:
        await kill_workers(list(seen))


async def test_workers_that_cannot_bind_the_port_stop_the_server(project_root: Path, migrated_dsn: str) -> None:
    """A port another program holds (without SO_REUSEPORT) is not shared: the server exits 1 at once."""
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        code, out, err = await run_server_command(
            project_root, "serve", "--workers", "2", DATABASE_URL=migrated_dsn, INVOICING_LISTEN=f"127.0.0.1:{port}"
        )
    assert code == 1, (out, err)
    assert "before serving" in err
    assert LISTEN_LINE not in out


async def test_one_process_at_a_time_holds_a_job_lock(migrated_dsn: str) -> None:
    """What keeps the purges of several workers from running at once: a second taker is refused until the
    holder's transaction ends."""
    first, second = await asyncpg.connect(migrated_dsn), await asyncpg.connect(migrated_dsn)
    try:
        async with first.transaction():
            assert await jobs.try_lock(first, "purge")
            async with second.transaction():
                assert not await jobs.try_lock(second, "purge")
                assert await jobs.try_lock(second, "another job")
        async with second.transaction():
            assert await jobs.try_lock(second, "purge")
    finally:
        await first.close()
        await second.close()
