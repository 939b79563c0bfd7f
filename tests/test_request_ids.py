"""Request ids: the client's when usable, else a new one unique across calls, processes and forks."""

from __future__ import annotations

import os

from server.interceptors.request_ids import request_id_of


def test_new_ids_are_unique_and_shaped_like_a_uuid_hex() -> None:
    ids = [request_id_of(()) for _ in range(10_000)]
    assert len(set(ids)) == len(ids)
    assert all(len(i) == 32 and int(i, 16) >= 0 for i in ids)


def test_a_usable_client_id_is_kept_and_an_unusable_one_replaced() -> None:
    assert request_id_of((("x-request-id", "req-42"),)) == "req-42"
    for bad in ("", "x" * 129, "tab\there", "é"):
        replaced = request_id_of((("x-request-id", bad),))
        assert replaced != bad
        assert len(replaced) == 32


def test_a_forked_process_draws_ids_of_its_own() -> None:
    parent = request_id_of(())
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report one id and leave at once
        os.write(write, request_id_of(()).encode())
        os._exit(0)
    os.close(write)
    child = os.read(read, 64).decode()
    os.close(read)
    os.waitpid(pid, 0)
    assert len(child) == 32
    assert child[:16] != parent[:16]  # another prefix, so the counters cannot collide
