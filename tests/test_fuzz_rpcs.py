"""Bad input: generated requests to every RPC answer only the contract's status codes and change nothing.

For each RPC of the six services, Hypothesis sends three kinds of request:

- generated from the request's descriptor, every field walked: strings empty, very long, unicode, with
  NUL and control characters, decimal-looking garbage ("1e5", "NaN", "-0", "١٢٣"); integers at their
  extremes; enum numbers nobody declared; dates that are no calendar date (year 0, month 13) and
  extreme ones (9999-12-31); Timestamps outside their range; repeated fields and maps of any size;
- valid requests that name this account's real customers, invoices, line items, plans and
  subscriptions (and real resume tokens), with a few fields, at any depth, replaced by such values, so
  that the checks behind the first one run too;
- bytes that are no valid encoding of the request at all.

Server streams are drained; the change stream (which never ends) under a short deadline; the client
stream gets a few generated messages. Every answer must carry a code of the contract's error section,
never INTERNAL or UNKNOWN. Beyond the status code:

- a call that was refused, and every read, leaves the account's stored rows exactly as they were;
- no answer names a resource of the second account, and a request that names one by id fails;
- the second account's customer, invoices, ledger, plan and subscription read back byte-identical
  after the fuzzing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

import grpc
import hypothesis
import pytest
from google.protobuf.descriptor import MethodDescriptor
from google.protobuf.message import Message
from hypothesis import HealthCheck, given
from hypothesis import strategies as st

from server.app import SERVICE_NAMES
from server.config import Settings
from tests.support.accounts import Account
from tests.support.client import Api
from tests.support.database import connection
from tests.support.fuzz import (
    BUILDERS,
    CALL_TIMEOUT_S,
    EXAMPLES_PER_RPC,
    METHODS,
    READ_PREFIXES,
    SERVICES,
    Home,
    Other,
    Rows,
    Values,
    check,
    context,
    corrupt,
    invoke,
    method_named,
    oversized,
)

T = TypeVar("T")


def test_every_rpc_of_every_service_is_fuzzed() -> None:
    """The fuzzer covers exactly the services the server registers, with a valid request for each RPC."""
    assert sorted(service.full_name for service in SERVICES) == sorted(SERVICE_NAMES)
    assert sorted(method.name for method in METHODS) == sorted(BUILDERS)


@pytest.mark.parametrize(
    ("name", "payload"),
    [
        ("GetInvoice", b"\x0a\x02\xff\xfe"),  # invoice_id with bytes that are not UTF-8
        ("ListInvoices", b"\xff\xff\xff"),  # no valid field key
        ("IngestEventStream", b"\x0a\x05ab"),  # an event 5 bytes long, cut after 2
    ],
)
async def test_bytes_that_are_no_request_message_are_invalid_argument(
    api: Api, anonymous_channel: grpc.aio.Channel, name: str, payload: bytes
) -> None:
    """A unary, a server-streaming and a client-streaming RPC answer undecodable bytes with INVALID_ARGUMENT.

    Credentials are checked first: without them the same bytes get UNAUTHENTICATED.
    """
    method = method_named(name)
    outcome = await invoke(api.channel, method, [payload])
    assert outcome.code == grpc.StatusCode.INVALID_ARGUMENT, outcome
    assert outcome.details.startswith("request: "), outcome
    anonymous = await invoke(anonymous_channel, method, [payload])
    assert anonymous.code == grpc.StatusCode.UNAUTHENTICATED, anonymous


@pytest.mark.slow
@pytest.mark.timeout(300)  # 60 generated examples, each call bounded by CALL_TIMEOUT_S
@pytest.mark.parametrize("method", METHODS, ids=lambda method: method.full_name.removeprefix("invoicing.v1."))
async def test_generated_requests_get_only_contract_codes_and_change_nothing_they_should_not(
    method: MethodDescriptor,
    api: Api,
    other_api: Api,
    account: Account,
    migrated_dsn: str,
    settings: Settings,
) -> None:
    """Generated, mutated and undecodable requests: allowed codes only, refusals and reads store nothing."""
    loop = asyncio.get_running_loop()
    other = await Other.create(other_api)
    before_fuzzing = await other.stored()
    async with connection(migrated_dsn) as conn:
        rows = await Rows.open(conn, account.id)
        home = await Home.create(api)
        foreign = other.server_ids()
        values = Values(
            ids=[*home.server_ids(), *home.client_ids(), *sorted(foreign), *sorted(other.client_ids()), "cus_missing"],
            tokens=[*home.tokens.values(), other.token, other.token[:-2]],
        )
        build = BUILDERS[method.name]

        # The valid requests the mutations start from do succeed, so mutations reach past validation; and the
        # fingerprint of the stored rows sees what they write.
        is_read = method.name.startswith(READ_PREFIXES)
        for choice in range(4):
            requests = await build(home, choice)
            stored_before = await rows.fingerprint()
            outcome = await invoke(api.channel, method, requests)
            expected = grpc.StatusCode.DEADLINE_EXCEEDED if method.name == "WatchInvoiceEvents" else grpc.StatusCode.OK
            assert outcome.code == expected, (choice, outcome)
            assert (await rows.fingerprint() == stored_before) == is_read, (choice, outcome)

        def run(coroutine: Coroutine[Any, Any, T]) -> T:
            return asyncio.run_coroutine_threadsafe(coroutine, loop).result(timeout=120)

        @hypothesis.settings(
            max_examples=EXAMPLES_PER_RPC,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(data=st.data())
        def fuzz(data: st.DataObject) -> None:
            kind = data.draw(st.sampled_from(["mutated", "generated", "mutated", "undecodable"]), label="kind")
            requests: list[Message | bytes]
            if kind == "generated":
                size = data.draw(st.integers(0, 3)) if method.client_streaming else 1
                requests = [data.draw(values.message(method.input_type), label="request") for _ in range(size)]
            else:
                valid = run(build(home, data.draw(st.integers(0, 1_000), label="choice")))
                if kind == "undecodable":
                    index = data.draw(st.integers(0, len(valid) - 1))
                    payload = data.draw(corrupt(valid[index].SerializeToString()), label="bytes")
                    requests = [*valid[:index], payload, *valid[index + 1 :]]
                else:
                    for request in valid:
                        values.mutate(data.draw, request)
                    requests = list(valid)
            stored_before = run(rows.fingerprint())
            outcome = run(invoke(api.channel, method, requests))
            check(method, requests, outcome, foreign)
            # A refused request, or a read, stores nothing (a client stream commits each message as it comes).
            partial = method.client_streaming and len(requests) > 1
            if (is_read or outcome.code != grpc.StatusCode.OK) and not partial:
                assert run(rows.fingerprint()) == stored_before, (
                    f"stored rows changed: {context(method, requests, outcome)}"
                )

        await asyncio.to_thread(fuzz)

    # A request past the server's message size limit is refused as such.
    too_large = oversized(method.input_type, settings.max_message_bytes)
    outcome = await invoke(api.channel, method, [too_large], deadline_s=CALL_TIMEOUT_S)
    assert outcome.code == grpc.StatusCode.RESOURCE_EXHAUSTED, outcome

    assert await other.stored() == before_fuzzing
