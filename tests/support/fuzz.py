"""The fuzz framework: generated, mutated and undecodable requests for any RPC, and what to check of the answers.

- Values: Hypothesis strategies for every field type of any request (garbage and extreme strings, integers,
  enum numbers, dates, Timestamps, Structs, repeated fields and maps), with real ids and resume tokens mixed in,
  and `Values.mutate`, which replaces, clears or multiplies a few fields of a valid request at any depth;
  `corrupt` gives bytes that are no encoding of the request.
- The two accounts: `Home` (the fuzzed account, whose resources the valid requests name) and `Other` (a second
  account whose ids the fuzzer also sends, and whose stored form must not change).
- `BUILDERS`: one valid request (or client stream) per RPC.
- `invoke`: calls any RPC by its descriptor and drains what it sends; `check` asserts on the answer.
- `Rows`: a fingerprint of every row an account owns, to prove a call stored nothing.
"""

from __future__ import annotations

import datetime as dt
import math
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, TypeVar

import asyncpg
import grpc
from google.protobuf import message_factory, text_format, timestamp_pb2
from google.protobuf.descriptor import Descriptor, FieldDescriptor, MethodDescriptor, ServiceDescriptor
from google.protobuf.message import Message
from google.type import date_pb2
from hypothesis import strategies as st
from invoicing.v1 import (
    account_service_pb2,
    common_pb2,
    credit_note_service_pb2,
    customer_pb2,
    customer_service_pb2,
    document_pb2,
    invoice_pb2,
    invoice_service_pb2,
    plan_service_pb2,
    price_pb2,
    subscription_service_pb2,
    usage_service_pb2,
)

from tests.support.builders import (
    add_line_request,
    bulk,
    create_customer,
    create_invoice,
    create_plan,
    customer_request,
    date,
    fixed_fee,
    invoice_request,
    line,
    metric,
    percentage_off,
    plan_request,
    struct,
    subscribe,
    tiered,
    timestamp,
    today_utc,
    usage_off,
    usage_price,
)
from tests.support.calls import ALL_STATUSES, get_invoice, issue, mark_paid
from tests.support.client import Api, stream_of
from tests.support.credit_notes import create_note, note_request

T = TypeVar("T")
Draw = Callable[[st.SearchStrategy[Any]], Any]

SERVICE_MODULES: Final = (
    invoice_service_pb2,
    customer_service_pb2,
    plan_service_pb2,
    subscription_service_pb2,
    usage_service_pb2,
    account_service_pb2,
    credit_note_service_pb2,
)
SERVICES: Final[list[ServiceDescriptor]] = [
    service for module in SERVICE_MODULES for service in module.DESCRIPTOR.services_by_name.values()
]
METHODS: Final[list[MethodDescriptor]] = [method for service in SERVICES for method in service.methods]

EXAMPLES_PER_RPC: Final = 60
# The codes of the contract's error section that a client's input may produce.
ALLOWED: Final = frozenset(
    {
        grpc.StatusCode.OK,
        grpc.StatusCode.INVALID_ARGUMENT,
        grpc.StatusCode.NOT_FOUND,
        grpc.StatusCode.FAILED_PRECONDITION,
        grpc.StatusCode.ABORTED,
        grpc.StatusCode.ALREADY_EXISTS,
        grpc.StatusCode.OUT_OF_RANGE,
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        grpc.StatusCode.DEADLINE_EXCEEDED,
    }
)
# No honest call comes near this deadline, so reaching it would mean the server hung on the input.
CALL_TIMEOUT_S: Final = 30.0
# The change stream never ends by itself: it is read under this deadline, which it may reach.
WATCH_TIMEOUT_S: Final = 0.2
# RPCs whose id fields are filters: naming another account's resource there matches nothing.
FILTER_RPCS: Final = frozenset({"ListInvoices", "ListSubscriptions", "WatchInvoiceEvents", "ListCreditNotes"})
READ_PREFIXES: Final = ("Get", "List", "Watch")


def message_class(descriptor: Descriptor) -> type[Message]:
    """The generated class of a message descriptor."""
    return message_factory.GetMessageClass(descriptor)


def pick(items: Sequence[T], choice: int) -> T:
    """One of items, chosen by a number Hypothesis drew."""
    return items[choice % len(items)]


# --- values --------------------------------------------------------------------------------------

INT32: Final = (-(2**31), 2**31 - 1)
INT64: Final = (-(2**63), 2**63 - 1)
_INT_RANGES: Final = {
    FieldDescriptor.TYPE_INT32: INT32,
    FieldDescriptor.TYPE_SINT32: INT32,
    FieldDescriptor.TYPE_SFIXED32: INT32,
    FieldDescriptor.TYPE_INT64: INT64,
    FieldDescriptor.TYPE_SINT64: INT64,
    FieldDescriptor.TYPE_SFIXED64: INT64,
    FieldDescriptor.TYPE_UINT32: (0, 2**32 - 1),
    FieldDescriptor.TYPE_FIXED32: (0, 2**32 - 1),
    FieldDescriptor.TYPE_UINT64: (0, 2**64 - 1),
    FieldDescriptor.TYPE_FIXED64: (0, 2**64 - 1),
}


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


GARBAGE: Final = (
    *("", " ", "\t", "\n", "\x00", "a\x00b", "\x01\x1f\x7f", "\u200b", "\u202eevil", "😀", "é", "١٢٣", "１２"),
    *_words("1e5 1E-3 NaN nan Infinity -inf -0 +1 0x1F 1_000 .5 5. 00 - 1.2.3 1,5 0 1 -1 12.50 -12.50"),
    *(" 12", "12 ", "0.000000000001", "0.0000000000001", "9" * 18, "9" * 19, "9" * 18 + "." + "9" * 12, "-" + "9" * 18),
    *("null", "true", "{}", "'; DROP TABLE invoices; --", "%s%n%x", "2024-01-01", "1970-01-01T00:00:00Z"),
    *_words("USD usd JPY KWD XXX UTC Europe/Paris Mars/Olympus ../../etc/passwd a@b.co 7d 2m 9999d 0d -1d"),
)
LONG: Final = (
    "a" * 10_000,
    "9" * 10_000,
    "é" * 5_000,
    "😀" * 3_000,
    "x" * 41,
    "x" * 65,
    "x" * 129,
    "x" * 256,
    "x" * 501,
    "x" * 1_001,
    "x" * 4_001,
)
PLAUSIBLE: Final[dict[str, tuple[str, ...]]] = {
    "currency": ("USD", "JPY", "KWD", "EUR", "usd", "XXX", "US", "USDD"),
    "timezone": ("UTC", "Europe/Paris", "Asia/Kolkata", "Pacific/Kiritimati", "Etc/GMT+12", "utc", "Factory"),
    "email": ("a@b.co", "billing@acme.example", "a@b", "@b.co", "a@@b.co", "a b@c.de"),
    "due_date_window": ("7d", "2m", "1d", "9999d", "9999m", "10000d", "0d", "1y", "7D", " 7d", "7"),
    "country": ("US", "DE", "us", "USA", "U1", "ÄÖ"),
    "event_name": ("api_call", "bytes_sent", "region_call"),
    "property": ("bytes", "region"),
    "dimensions": ("region", "tier"),
    "dimension_values": ("eu", "us"),
    "idempotency_key": ("k1", "k2", "k3"),
}
_TIMESTAMP_MIN = -62_135_596_800
_TIMESTAMP_MAX = 253_402_300_799
SPECIAL_MESSAGES: Final = frozenset({"google.type.Date", "google.protobuf.Timestamp", "google.protobuf.Struct"})


def _ints(low: int, high: int) -> st.SearchStrategy[int]:
    edges = [
        n for n in (0, 1, -1, 2, 7, 30, 365, 366, 1_000, 1_000_001, low, low + 1, high - 1, high) if low <= n <= high
    ]
    return st.one_of(st.sampled_from(edges), st.integers(low, high))


def _date(year: int, month: int, day: int) -> date_pb2.Date:
    return date_pb2.Date(year=year, month=month, day=day)


def _recent_timestamp(offset_s: int) -> timestamp_pb2.Timestamp:
    return timestamp(dt.datetime.now(dt.UTC) + dt.timedelta(seconds=offset_s))


DATES: Final = st.one_of(
    st.builds(
        _date,
        st.one_of(st.sampled_from([0, 1, 1969, 1970, 2023, 2024, 2025, 9998, 9999, 10_000, -1]), _ints(*INT32)),
        st.one_of(st.sampled_from([0, 1, 2, 12, 13, -1]), _ints(*INT32)),
        st.one_of(st.sampled_from([0, 1, 28, 29, 30, 31, 32, -1]), _ints(*INT32)),
    ),
    st.dates().map(date),
    st.integers(-800, 800).map(lambda days: date(today_utc() + dt.timedelta(days=days))),
    st.sampled_from(
        [
            *(_date(9999, 12, 31), _date(9999, 12, 30), _date(9999, 1, 31), _date(9998, 12, 31)),
            *(_date(1, 1, 1), _date(1, 1, 2), _date(1, 12, 31), _date(2024, 2, 29), _date(2023, 2, 29)),
        ]
    ),
)
TIMESTAMPS: Final = st.one_of(
    st.builds(
        timestamp_pb2.Timestamp,
        seconds=st.one_of(
            st.sampled_from([_TIMESTAMP_MIN - 1, _TIMESTAMP_MIN, _TIMESTAMP_MAX, _TIMESTAMP_MAX + 1, 0, -1, *INT64]),
            _ints(*INT64),
        ),
        nanos=st.one_of(st.sampled_from([0, 999_999_999, 1_000_000_000, -1]), _ints(*INT32)),
    ),
    st.integers(-10 * 86_400, 2 * 86_400).map(_recent_timestamp),
)
_JSON_LEAVES: Final = st.one_of(
    st.none(),
    st.booleans(),
    st.floats(),
    st.sampled_from([math.nan, math.inf, -math.inf, 1e308, -0.0, 5e-324, 2.0**63, 0.1]),
    st.integers(-(10**6), 10**6).map(float),
    st.sampled_from(GARBAGE),
    st.text(max_size=12),
)
JSON_VALUES: Final = st.recursive(
    _JSON_LEAVES,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)),
    max_leaves=8,
)
STRUCTS: Final = st.one_of(
    st.dictionaries(
        st.one_of(st.sampled_from(["", "\x00", "bytes", "region", "x" * 300]), st.text(max_size=10)),
        JSON_VALUES,
        max_size=5,
    ).map(struct),
    st.integers(95, 110).map(lambda n: struct({f"p{i}": i for i in range(n)})),
)


class Values:
    """Strategies for the fields of any request, with real ids and resume tokens mixed in."""

    def __init__(self, ids: Sequence[str], tokens: Sequence[str]) -> None:
        self._ids = list(ids)
        self._tokens = list(tokens)
        self._strings: dict[str, st.SearchStrategy[str]] = {}
        self._messages: dict[tuple[str, int], st.SearchStrategy[Message]] = {}

    def strings(self, name: str) -> st.SearchStrategy[str]:
        """Strings for a field of this name: garbage, long, unicode, plausible values and real ids."""
        if name not in self._strings:
            options = [st.sampled_from(GARBAGE), st.sampled_from(LONG), st.text(max_size=24)]
            if name in PLAUSIBLE:
                options.insert(0, st.sampled_from(PLAUSIBLE[name]))
            if name == "id" or name.endswith(("_id", "_ids")):
                ids = st.sampled_from(self._ids)
                options[:0] = [ids, ids.map(lambda i: i + "x"), ids.map(str.upper)]
            if name == "resume_token":
                options.insert(0, st.sampled_from(self._tokens))
            self._strings[name] = st.one_of(options)
        return self._strings[name]

    def single(self, fd: FieldDescriptor, depth: int) -> st.SearchStrategy[Any]:
        """A value for one element of the field (the field itself unless it is repeated)."""
        if fd.type == FieldDescriptor.TYPE_STRING:
            return self.strings(fd.name)
        if fd.type == FieldDescriptor.TYPE_BYTES:
            return st.binary(max_size=32)
        if fd.type == FieldDescriptor.TYPE_BOOL:
            return st.booleans()
        if fd.type in (FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FLOAT):
            return st.floats(width=64 if fd.type == FieldDescriptor.TYPE_DOUBLE else 32)
        if fd.type == FieldDescriptor.TYPE_ENUM:
            assert fd.enum_type is not None
            numbers = [value.number for value in fd.enum_type.values]
            return st.one_of(st.sampled_from(numbers), st.sampled_from([max(numbers) + 1, -1, *INT32]), _ints(*INT32))
        if fd.type == FieldDescriptor.TYPE_MESSAGE:
            descriptor = _message_type(fd)
            name = descriptor.full_name
            if name == "google.type.Date":
                return DATES
            if name == "google.protobuf.Timestamp":
                return TIMESTAMPS
            if name == "google.protobuf.Struct":
                return STRUCTS
            if depth >= 3:
                return st.just(message_class(descriptor)())
            return self.message(descriptor, depth + 1)
        return _ints(*_INT_RANGES[fd.type])

    def message(self, descriptor: Descriptor, depth: int = 0) -> st.SearchStrategy[Message]:
        """A message with each field set or not, to any generated value."""
        key = (descriptor.full_name, depth)
        if key in self._messages:
            return self._messages[key]

        @st.composite
        def build(draw: st.DrawFn) -> Message:
            result = message_class(descriptor)()
            for fd in descriptor.fields:
                if draw(st.booleans()):
                    self.assign(draw, result, fd, depth)
            return result

        self._messages[key] = build()
        return self._messages[key]

    def assign(self, draw: Draw, target: Message, fd: FieldDescriptor, depth: int) -> None:
        """Set one field of target (a map, a repeated field or a single value) to generated content."""
        container = getattr(target, fd.name)
        if _is_map(fd):
            entry = _message_type(fd)
            key_fd, value_fd = entry.fields_by_name["key"], entry.fields_by_name["value"]
            entries = draw(
                st.one_of(
                    st.lists(st.tuples(self.single(key_fd, depth), self.single(value_fd, depth)), max_size=4),
                    st.integers(49, 52).map(lambda n: [(f"k{i}", "v") for i in range(n)]),
                )
            )
            container.clear()
            for key, value in entries:
                if value_fd.type == FieldDescriptor.TYPE_MESSAGE:
                    container[key].CopyFrom(value)
                else:
                    container[key] = value
        elif fd.is_repeated:
            items = draw(st.lists(self.single(fd, depth), max_size=3 if fd.type == FieldDescriptor.TYPE_MESSAGE else 5))
            del container[:]
            container.extend(items)
        elif fd.type == FieldDescriptor.TYPE_MESSAGE:
            container.SetInParent()
            container.CopyFrom(draw(self.single(fd, depth)))
        else:
            setattr(target, fd.name, draw(self.single(fd, depth)))

    def mutate(self, draw: Draw, target: Message, depth: int = 0) -> None:
        """Replace, clear or multiply up to three fields of target, at any depth."""
        fields: list[Any] = list(target.DESCRIPTOR.fields)
        if not fields:  # an empty request (GetAccountProfile) has nothing to mutate
            return
        for _ in range(draw(st.integers(0, 3))):
            fd: FieldDescriptor = draw(st.sampled_from(fields))
            container = getattr(target, fd.name)
            nested = (
                fd.type == FieldDescriptor.TYPE_MESSAGE
                and not _is_map(fd)
                and _message_type(fd).full_name not in SPECIAL_MESSAGES
            )
            if nested and depth < 3 and draw(st.booleans()):
                if fd.is_repeated and len(container):
                    self.mutate(draw, container[draw(st.integers(0, 1_000)) % len(container)], depth + 1)
                    continue
                if not fd.is_repeated and target.HasField(fd.name):
                    self.mutate(draw, container, depth + 1)
                    continue
            if fd.is_repeated and not _is_map(fd) and len(container) and draw(st.integers(0, 5)) == 0:
                _multiply(container, draw(st.sampled_from([51, 101, 501, 1_001])))
            elif draw(st.integers(0, 4)) == 0:
                target.ClearField(fd.name)
            else:
                self.assign(draw, target, fd, depth)


def _is_map(fd: FieldDescriptor) -> bool:
    return fd.type == FieldDescriptor.TYPE_MESSAGE and _message_type(fd).GetOptions().map_entry


def _message_type(fd: FieldDescriptor) -> Descriptor:
    assert fd.message_type is not None
    return fd.message_type


def _multiply(container: Any, size: int) -> None:
    """Grow a repeated field to size by repeating its first element (past every per-request bound)."""
    first = container[0]
    while len(container) < size:
        if isinstance(first, Message):
            container.add().CopyFrom(first)
        else:
            container.append(first)


def corrupt(valid: bytes) -> st.SearchStrategy[bytes]:
    """Bytes that do not decode as the request: random, truncated, bit-flipped, deeply nested or bad UTF-8.

    Positions are drawn independently of the valid request's length, which varies from call to call.
    """
    deep = b""
    for _ in range(150):
        deep = b"\x0a" + _varint(len(deep)) + deep
    positions = st.integers(0, 2**16)
    return st.one_of(
        st.binary(min_size=1, max_size=64),
        st.sampled_from([b"\x0a\x02\xff\xfe", b"\x0a\x05ab", b"\xff" * 11, deep]),
        positions.map(lambda cut: valid[: cut % max(len(valid), 1)]),
        st.tuples(positions, st.integers(1, 255)).map(lambda flip: _flip(valid, *flip)),
    )


def _flip(data: bytes, position: int, mask: int) -> bytes:
    if not data:
        return b"\xff"
    index = position % len(data)
    return data[:index] + bytes([data[index] ^ mask]) + data[index + 1 :]


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        low, value = value & 0x7F, value >> 7
        out.append(low | (0x80 if value else 0))
        if not value:
            return bytes(out)


# --- the two accounts ----------------------------------------------------------------------------


def _prices() -> list[price_pb2.Price]:
    """One valid price of every model, so that mutations reach each config's checks."""
    return [
        fixed_fee("Platform", "100.00", quantity="2", minimum_amount="1.00", maximum_amount="1000.00"),
        usage_price(
            "API calls",
            "0.10",
            discounts=[usage_off("10")],
        ),
        usage_price(
            "Bytes",
            billable=metric("bytes_sent", price_pb2.AGGREGATION_SUM, "bytes"),
            config=price_pb2.PackageConfig(package_amount="5.00", package_size=100),
        ),
        usage_price(
            "Tiered",
            billable=metric("bytes_sent", price_pb2.AGGREGATION_MAX, "bytes"),
            config=tiered(("0", "0.10"), ("100", "0.05")),
        ),
        usage_price(
            "Bulk",
            billable=metric("region_call", price_pb2.AGGREGATION_UNIQUE_COUNT, "region"),
            config=bulk(("100", "0.10"), ("", "0.05")),
        ),
        usage_price(
            "Matrix",
            billable=metric("region_call"),
            config=price_pb2.MatrixConfig(
                dimensions=["region"],
                matrix_values=[price_pb2.MatrixValue(dimension_values=["eu"], unit_amount="0.20")],
                default_unit_amount="0.10",
            ),
        ),
    ]


def _event(customer: customer_pb2.Customer, *, by_external: bool = False) -> usage_service_pb2.Event:
    return usage_service_pb2.Event(
        idempotency_key=uuid.uuid4().hex,
        customer_id="" if by_external else customer.id,
        external_customer_id=customer.external_customer_id if by_external else "",
        event_name="region_call",
        timestamp=_recent_timestamp(-3600),
        properties=struct({"bytes": 10, "region": "eu", "note": "x"}),
    )


async def _issued(api: Api, customer: customer_pb2.Customer) -> invoice_pb2.Invoice:
    return await issue(api, (await create_invoice(api, customer)).id)


async def _first_token(call: Any) -> str:
    """The resume token of a stream's first message."""
    async for response in call:
        token: str = response.resume_token
        call.cancel()
        return token
    raise AssertionError("the stream sent nothing")


@dataclass
class Other:
    """The second account: its resources, whose ids the fuzzer also sends, and their stored form."""

    api: Api
    customer: customer_pb2.Customer
    invoices: list[invoice_pb2.Invoice]
    credit_id: str
    plan: plan_service_pb2.Plan
    subscription: subscription_service_pb2.Subscription
    token: str
    note: credit_note_service_pb2.CreditNote

    @classmethod
    async def create(cls, api: Api) -> Other:
        customer = await create_customer(api)
        draft = await create_invoice(api, customer, line_items=[line(), line(name="Extra")])
        issued = await _issued(api, customer)
        note = await create_note(api, issued.id, (issued.line_items[0].id, "1.00"))
        issued = await api.invoices.GetInvoice(invoice_service_pb2.GetInvoiceRequest(invoice_id=issued.id))
        credit = await api.customers.CreateBalanceTransaction(
            customer_service_pb2.CreateBalanceTransactionRequest(
                customer_id=customer.id, amount="5.00", type=customer_pb2.BALANCE_TRANSACTION_TYPE_INCREMENT
            )
        )
        plan = await create_plan(api, *_prices(), external_plan_id=f"other-{uuid.uuid4().hex[:8]}")
        subscription = await subscribe(api, customer, plan, "2024-01-01")
        await api.usage.IngestEvents(usage_service_pb2.IngestEventsRequest(events=[_event(customer)]))
        token = await _first_token(
            api.invoices.ListInvoices(invoice_service_pb2.ListInvoicesRequest(status=ALL_STATUSES, limit=1))
        )
        return cls(api, customer, [draft, issued], credit.id, plan, subscription, token, note)

    def server_ids(self) -> set[str]:
        """Every id the server gave this account's resources."""
        ids = {self.customer.id, self.credit_id, self.plan.id, self.subscription.id, self.note.id}
        ids.update(price.id for price in self.plan.prices)
        for invoice in self.invoices:
            ids.add(invoice.id)
            ids.update(item.id for item in invoice.line_items)
        return ids

    def client_ids(self) -> set[str]:
        """The ids this account chose itself (another account may choose the same)."""
        return {self.customer.external_customer_id, self.plan.external_plan_id}

    async def stored(self) -> list[bytes]:
        """Everything the second account can read about its resources, serialized deterministically."""
        customers, plans, subscriptions = self.api.customers, self.api.plans, self.api.subscriptions
        found: list[Message] = [
            await customers.GetCustomer(customer_service_pb2.GetCustomerRequest(customer_id=self.customer.id)),
            await plans.GetPlan(plan_service_pb2.GetPlanRequest(plan_id=self.plan.id)),
            await subscriptions.GetSubscription(
                subscription_service_pb2.GetSubscriptionRequest(subscription_id=self.subscription.id)
            ),
        ]
        for invoice in self.invoices:
            found.append(
                await self.api.invoices.GetInvoice(invoice_service_pb2.GetInvoiceRequest(invoice_id=invoice.id))
            )
        streams: list[Any] = [
            customers.ListBalanceTransactions(
                customer_service_pb2.ListBalanceTransactionsRequest(customer_id=self.customer.id)
            ),
            self.api.invoices.ListInvoices(invoice_service_pb2.ListInvoicesRequest(status=ALL_STATUSES)),
            customers.ListCustomers(customer_service_pb2.ListCustomersRequest()),
            plans.ListPlans(plan_service_pb2.ListPlansRequest()),
            subscriptions.ListSubscriptions(subscription_service_pb2.ListSubscriptionsRequest()),
            self.api.credit_notes.ListCreditNotes(credit_note_service_pb2.ListCreditNotesRequest()),
            *(
                self.api.invoices.ListInvoiceVersions(invoice_service_pb2.ListInvoiceVersionsRequest(invoice_id=i.id))
                for i in self.invoices
            ),
        ]
        for call in streams:
            async for batch in call:
                batch.resume_token = ""  # sealed with a fresh nonce each time
                found.append(batch)
        return [message.SerializeToString(deterministic=True) for message in found]


@dataclass
class Home:
    """The fuzzed account: resources the valid requests name, and a way to make fresh ones."""

    api: Api
    customers: list[customer_pb2.Customer]
    drafts: list[invoice_pb2.Invoice]
    issued: list[invoice_pb2.Invoice]
    plans: list[plan_service_pb2.Plan]
    subscriptions: list[subscription_service_pb2.Subscription]
    notes: list[credit_note_service_pb2.CreditNote] = field(default_factory=list)
    tokens: dict[str, str] = field(default_factory=dict)

    @classmethod
    async def create(cls, api: Api) -> Home:
        """Customers in the farthest timezones, invoices, plans and subscriptions, some at the calendar's edges."""
        usd = await create_customer(api, timezone="Etc/GMT+12")
        jpy = await create_customer(api, currency="JPY", timezone="Pacific/Kiritimati")
        edge_lines = [line(start_date=date("0001-01-02"), end_date=date("9999-12-30"))]
        drafts = [
            await create_invoice(api, usd, line_items=[line(), line(name="Extra")]),
            await create_invoice(api, jpy),
            await create_invoice(api, usd, invoice_date=date("0001-01-02"), line_items=edge_lines),
        ]
        issued = [await _issued(api, usd)]
        await api.customers.CreateBalanceTransaction(
            customer_service_pb2.CreateBalanceTransactionRequest(
                customer_id=usd.id, amount="5.00", type=customer_pb2.BALANCE_TRANSACTION_TYPE_INCREMENT
            )
        )
        plans = [
            await create_plan(api, *_prices(), external_plan_id=f"home-{uuid.uuid4().hex[:8]}"),
            await create_plan(api, fixed_fee(amount="1000", cadence=price_pb2.CADENCE_ANNUAL), currency="JPY"),
        ]
        subscriptions = [
            await subscribe(api, usd, plans[0], "2024-01-01"),
            await subscribe(api, jpy, plans[1], "2024-03-31"),
            # The edges of the accepted start dates (within five years of today), one a month end.
            await subscribe(
                api, jpy, plans[1], f"{today_utc().year + 4}-12-31", align_billing_with_subscription_start_date=True
            ),
            await subscribe(api, usd, plans[0], f"{today_utc().year + 4}-12-30"),
            await subscribe(
                api, usd, plans[0], f"{today_utc().year - 4}-01-31", align_billing_with_subscription_start_date=True
            ),
        ]
        await api.usage.IngestEvents(
            usage_service_pb2.IngestEventsRequest(events=[_event(usd), _event(usd, by_external=True)])
        )
        await api.customers.GrantCredits(
            customer_service_pb2.GrantCreditsRequest(customer_id=usd.id, amount="25.00", currency="USD")
        )
        await api.subscriptions.UpdateFixedFeeQuantity(
            subscription_service_pb2.UpdateFixedFeeQuantityRequest(
                subscription_id=subscriptions[0].id,
                price_id=plans[0].prices[0].id,
                quantity="3",
                change_option=subscription_service_pb2.CHANGE_OPTION_END_OF_SUBSCRIPTION_TERM,
            )
        )
        home = cls(api, [usd, jpy], drafts, issued, plans, subscriptions)
        home.notes = [await home.fresh_note(0), await home.fresh_note(1)]  # an adjustment and a refund
        first_pages: list[tuple[Callable[[Any], Any], Message]] = [
            (api.invoices.ListInvoices, home.list_invoices_filters(limit=1)),
            (api.customers.ListCustomers, customer_service_pb2.ListCustomersRequest(limit=1)),
            (
                api.customers.ListBalanceTransactions,
                customer_service_pb2.ListBalanceTransactionsRequest(customer_id=usd.id, limit=1),
            ),
            (api.plans.ListPlans, plan_service_pb2.ListPlansRequest(limit=1)),
            (api.subscriptions.ListSubscriptions, subscription_service_pb2.ListSubscriptionsRequest(limit=1)),
            (api.customers.ListCreditBlocks, customer_service_pb2.ListCreditBlocksRequest(customer_id=usd.id, limit=1)),
            (api.customers.ListCreditLedger, customer_service_pb2.ListCreditLedgerRequest(customer_id=usd.id, limit=1)),
            (
                api.subscriptions.ListSubscriptionChanges,
                subscription_service_pb2.ListSubscriptionChangesRequest(subscription_id=subscriptions[0].id, limit=1),
            ),
            (api.credit_notes.ListCreditNotes, credit_note_service_pb2.ListCreditNotesRequest(limit=1)),
            (
                api.invoices.ListInvoiceVersions,
                invoice_service_pb2.ListInvoiceVersionsRequest(invoice_id=issued[0].id, limit=1),
            ),
        ]
        # Each List RPC's name (its request's, without "Request") → the token of its first one-record page.
        home.tokens = {
            type(request).__name__.removesuffix("Request"): await _first_token(rpc(request))
            for rpc, request in first_pages
        }
        return home

    def server_ids(self) -> list[str]:
        """Ids of this account's resources."""
        ids = [c.id for c in self.customers] + [p.id for p in self.plans] + [s.id for s in self.subscriptions]
        for invoice in [*self.drafts, *self.issued]:
            ids.append(invoice.id)
            ids.extend(item.id for item in invoice.line_items)
        ids.extend(price.id for plan in self.plans for price in plan.prices)
        for note in self.notes:
            ids += [note.id, note.invoice_id, *(item.invoice_line_item_id for item in note.line_items)]
        return ids

    def client_ids(self) -> list[str]:
        """External ids this account chose."""
        return [c.external_customer_id for c in self.customers] + [p.external_plan_id for p in self.plans]

    def list_invoices_filters(self, limit: int = 0) -> invoice_service_pb2.ListInvoicesRequest:
        """ListInvoices over every status of the account (the filters its token was issued for)."""
        return invoice_service_pb2.ListInvoicesRequest(status=ALL_STATUSES, limit=limit)

    async def draft(self, choice: int) -> invoice_pb2.Invoice:
        """A draft: a fresh one for most choices (earlier examples may have issued the others)."""
        if choice % 4 == 0:
            return pick(self.drafts, choice // 4)
        return await create_invoice(self.api, pick(self.customers, choice), line_items=[line(), line(name="Extra")])

    async def issued_invoice(self, choice: int) -> invoice_pb2.Invoice:
        """An issued invoice: a fresh one for most choices."""
        if choice % 4 == 0:
            return pick(self.issued, choice // 4)
        return await _issued(self.api, self.customers[0])

    async def creditable(self, choice: int) -> invoice_pb2.Invoice:
        """A fresh invoice a credit note can be issued on: issued (an adjustment), or for a third of the
        choices paid (a refund)."""
        invoice = await _issued(self.api, self.customers[choice % 2])
        if choice % 3 == 1:
            invoice = await mark_paid(self.api, invoice.id)
        return invoice

    async def fresh_note(self, choice: int) -> credit_note_service_pb2.CreditNote:
        """A live credit note on a fresh invoice (an adjustment, or a refund for a third of the choices)."""
        invoice = await self.creditable(choice)
        return await create_note(self.api, invoice.id, (invoice.line_items[0].id, "1"))

    async def subscription(self, choice: int) -> subscription_service_pb2.Subscription:
        """A subscription: a fresh one for half the choices."""
        if choice % 2 == 0:
            return pick(self.subscriptions, choice // 2)
        return await subscribe(
            self.api, self.customers[0], self.plans[0], (today_utc() - dt.timedelta(days=40)).isoformat()
        )


# --- valid requests, one builder per RPC -----------------------------------------------------------


def _request_id() -> str:
    return f"fz-{uuid.uuid4().hex}"


def _versioned(invoice: invoice_pb2.Invoice) -> dict[str, Any]:
    """The fields of a mutation guarded by the invoice's version: its expected_version and a request_id."""
    return {"expected_version": invoice.version, "request_id": _request_id()}


async def _create_invoice(home: Home, choice: int) -> list[Message]:
    customer = pick(home.customers, choice)
    discount = percentage_off("0.1")
    request = invoice_request(
        customer,
        line_items=[line(), line(name="Setup", quantity="1", unit_amount="99")],
        memo="Thanks",
        metadata={"po": "123"},
        net_terms=30,
        discount=discount,
        will_auto_issue=choice % 3 == 0,
        request_id=_request_id(),
    )
    if choice % 2:
        request.external_customer_id, request.customer_id = customer.external_customer_id, ""
    return [request]


async def _get_invoice(home: Home, choice: int) -> list[Message]:
    return [invoice_service_pb2.GetInvoiceRequest(invoice_id=pick([*home.drafts, *home.issued], choice).id)]


async def _invoice_document(home: Home, choice: int) -> list[Message]:
    invoice = pick([*home.drafts, *home.issued], choice)
    document_format = document_pb2.DOCUMENT_FORMAT_PDF if choice % 2 else document_pb2.DOCUMENT_FORMAT_UNSPECIFIED
    return [invoice_service_pb2.GetInvoiceDocumentRequest(invoice_id=invoice.id, format=document_format)]


async def _get_account_profile(home: Home, choice: int) -> list[Message]:
    return [account_service_pb2.GetAccountProfileRequest()]


async def _update_account_profile(home: Home, choice: int) -> list[Message]:
    return [
        account_service_pb2.UpdateAccountProfileRequest(
            name=f"Seller {choice}",
            email="billing@seller.example",
            address=common_pb2.Address(line1="1 Main St", city="Berlin", postal_code="10115", country="DE"),
            tax_id=common_pb2.CustomerTaxId(
                country=common_pb2.TAX_ID_COUNTRY_DE, type=common_pb2.TAX_ID_TYPE_EU_VAT, value="DE123456789"
            ),
            payment_instructions="IBAN DE89 3704 0044 0532 0130 00",
            request_id=_request_id(),
        )
    ]


async def _upcoming(home: Home, choice: int) -> list[Message]:
    active = [s for s in home.subscriptions if s.status == subscription_service_pb2.SUBSCRIPTION_STATUS_ACTIVE]
    return [invoice_service_pb2.GetUpcomingInvoiceRequest(subscription_id=pick(active, choice).id)]


async def _list_invoices(home: Home, choice: int) -> list[Message]:
    if choice % 3 == 0:
        return [invoice_service_pb2.ListInvoicesRequest(status=ALL_STATUSES, resume_token=home.tokens["ListInvoices"])]
    customer = pick(home.customers, choice)
    return [
        invoice_service_pb2.ListInvoicesRequest(
            customer_id=customer.id,
            status=ALL_STATUSES,
            date_type=invoice_pb2.INVOICE_DATE_TYPE_DUE_DATE
            if choice % 2
            else invoice_pb2.INVOICE_DATE_TYPE_INVOICE_DATE,
            invoice_date_gte=date("2024-01-01"),
            invoice_date_lt=date(today_utc() + dt.timedelta(days=1)),
            due_date_window="9999d",
            amount_gt="0",
            amount_lt="100000",
            is_recurring=False,
            limit=choice % 3,
        )
    ]


async def _update_invoice(home: Home, choice: int) -> list[Message]:
    draft = await home.draft(choice)
    return [
        invoice_service_pb2.UpdateInvoiceRequest(
            invoice_id=draft.id,
            metadata=common_pb2.MetadataChange(set={"a": "1"}, remove_keys=["po"]),
            net_terms=15,
            auto_collection=True,
            invoice_date=date("2024-02-02"),
            **_versioned(draft),
        )
    ]


async def _add_line(home: Home, choice: int) -> list[Message]:
    draft = await home.draft(choice)
    return [
        add_line_request(
            draft.id,
            "5",
            quantity="2",
            end_date=date("2024-01-06"),
            **_versioned(draft),
        )
    ]


async def _delete_line(home: Home, choice: int) -> list[Message]:
    draft = await home.draft(choice)
    return [
        invoice_service_pb2.DeleteInvoiceLineItemRequest(
            invoice_id=draft.id,
            line_item_id=pick(draft.line_items, choice).id,
            **_versioned(draft),
        )
    ]


async def _issue(home: Home, choice: int) -> list[Message]:
    draft = await home.draft(choice)
    return [invoice_service_pb2.IssueInvoiceRequest(invoice_id=draft.id, **_versioned(draft))]


async def _mark_paid(home: Home, choice: int) -> list[Message]:
    issued = await home.issued_invoice(choice)
    return [
        invoice_service_pb2.MarkInvoicePaidRequest(
            invoice_id=issued.id,
            payment_received_date=date(today_utc()),
            external_id=f"pay-{uuid.uuid4().hex[:12]}",
            notes="wire transfer",
            **_versioned(issued),
        )
    ]


async def _void(home: Home, choice: int) -> list[Message]:
    issued = await home.issued_invoice(choice)
    return [invoice_service_pb2.VoidInvoiceRequest(invoice_id=issued.id, **_versioned(issued))]


async def _watch(home: Home, choice: int) -> list[Message]:
    return [
        invoice_service_pb2.WatchInvoiceEventsRequest(
            after_sequence=choice % 3,
            customer_id=pick(home.customers, choice).id,
            types=[invoice_pb2.INVOICE_EVENT_TYPE_CREATED, invoice_pb2.INVOICE_EVENT_TYPE_ISSUED],
        )
    ]


async def _create_customer(home: Home, choice: int) -> list[Message]:
    address = common_pb2.Address(line1="1 Main St", city="Berlin", postal_code="10115", country="DE")
    return [
        customer_request(
            currency="EUR",
            timezone="Europe/Berlin",
            billing_address=address,
            shipping_address=address,
            tax_id=common_pb2.CustomerTaxId(
                country=common_pb2.TAX_ID_COUNTRY_DE, type=common_pb2.TAX_ID_TYPE_EU_VAT, value="DE123456789"
            ),
            auto_collection=True,
            auto_issuance=choice % 2 == 0,
            net_terms=15,
            metadata={"tier": "gold"},
            request_id=_request_id(),
        )
    ]


async def _get_customer(home: Home, choice: int) -> list[Message]:
    customer = pick(home.customers, choice)
    if choice % 2:
        return [customer_service_pb2.GetCustomerRequest(external_customer_id=customer.external_customer_id)]
    return [customer_service_pb2.GetCustomerRequest(customer_id=customer.id)]


async def _update_customer(home: Home, choice: int) -> list[Message]:
    # Currency and timezone may change only on a fresh customer (no balance, no invoices).
    fresh = choice % 2 == 1
    customer = await create_customer(home.api) if fresh else pick(home.customers, choice // 2)
    return [
        customer_service_pb2.UpdateCustomerRequest(
            customer_id=customer.id,
            name="Renamed",
            email="new@acme.example",
            currency="EUR" if fresh else None,
            timezone="Europe/Paris" if fresh else None,
            billing_address=common_pb2.Address(line1="2 Rue", city="Paris", country="FR"),
            tax_id=common_pb2.CustomerTaxId(),
            auto_collection=False,
            auto_issuance=True,
            net_terms=45,
            metadata=common_pb2.MetadataChange(set={"a": "b"}, clear=choice % 3 == 0),
            request_id=_request_id(),
        )
    ]


async def _list_customers(home: Home, choice: int) -> list[Message]:
    if choice % 2:
        return [customer_service_pb2.ListCustomersRequest(resume_token=home.tokens["ListCustomers"])]
    return [
        customer_service_pb2.ListCustomersRequest(
            created_at_gte=_recent_timestamp(-86_400), created_at_lt=_recent_timestamp(60), limit=choice % 4
        )
    ]


async def _balance_transaction(home: Home, choice: int) -> list[Message]:
    return [
        customer_service_pb2.CreateBalanceTransactionRequest(
            customer_id=pick(home.customers, choice).id,
            amount="12",
            type=customer_pb2.BALANCE_TRANSACTION_TYPE_INCREMENT
            if choice % 2
            else customer_pb2.BALANCE_TRANSACTION_TYPE_DECREMENT,
            description="goodwill",
            request_id=_request_id(),
        )
    ]


async def _list_balance_transactions(home: Home, choice: int) -> list[Message]:
    customer = home.customers[0]
    if choice % 2:
        token = home.tokens["ListBalanceTransactions"]
        return [
            customer_service_pb2.ListBalanceTransactionsRequest(customer_id=customer.id, limit=1, resume_token=token)
        ]
    return [
        customer_service_pb2.ListBalanceTransactionsRequest(
            external_customer_id=customer.external_customer_id,
            created_at_gt=_recent_timestamp(-86_400),
            created_at_lte=_recent_timestamp(60),
            limit=choice % 3,
        )
    ]


async def _grant_credits(home: Home, choice: int) -> list[Message]:
    customer = pick(home.customers, choice)
    request = customer_service_pb2.GrantCreditsRequest(
        amount="10" if customer.currency == "JPY" else "10.00",
        currency=customer.currency,
        per_unit_cost_basis="0.25" if choice % 3 else "",
        description="Prepaid",
        request_id=_request_id(),
    )
    if choice % 2:
        request.external_customer_id = customer.external_customer_id
    else:
        request.customer_id = customer.id
    if choice % 4 == 1:
        request.effective_date.CopyFrom(date(today_utc() + dt.timedelta(days=2)))
        request.expiry_date.CopyFrom(date(today_utc() + dt.timedelta(days=90)))
    return [request]


async def _list_credits(home: Home, choice: int, rpc: str) -> list[Message]:
    request_type = message_class(method_named(rpc).input_type)
    if choice % 2:
        return [request_type(customer_id=home.customers[0].id, resume_token=home.tokens[rpc])]
    customer = pick(home.customers, choice // 2)
    if choice % 4 == 2:
        return [request_type(external_customer_id=customer.external_customer_id, limit=choice % 3)]
    return [request_type(customer_id=customer.id, limit=choice % 3)]


async def _list_credit_blocks(home: Home, choice: int) -> list[Message]:
    return await _list_credits(home, choice, "ListCreditBlocks")


async def _list_credit_ledger(home: Home, choice: int) -> list[Message]:
    return await _list_credits(home, choice, "ListCreditLedger")


async def _create_plan(home: Home, choice: int) -> list[Message]:
    return [
        plan_request(
            *_prices(),
            external_plan_id=f"fz-{uuid.uuid4().hex[:12]}" if choice % 2 else "",
            metadata={"family": "pro"},
            request_id=_request_id(),
        )
    ]


async def _get_plan(home: Home, choice: int) -> list[Message]:
    if choice % 2:
        return [plan_service_pb2.GetPlanRequest(external_plan_id=home.plans[0].external_plan_id)]
    return [plan_service_pb2.GetPlanRequest(plan_id=pick(home.plans, choice // 2).id)]


async def _list_plans(home: Home, choice: int) -> list[Message]:
    token = home.tokens["ListPlans"] if choice % 2 else ""
    return [plan_service_pb2.ListPlansRequest(limit=choice % 3, resume_token=token)]


async def _create_subscription(home: Home, choice: int) -> list[Message]:
    index = choice % 2
    return [
        subscription_service_pb2.CreateSubscriptionRequest(
            customer_id=home.customers[index].id,
            plan_id=home.plans[index].id,
            start_date=date(today_utc() - dt.timedelta(days=choice % 90)),
            align_billing_with_subscription_start_date=choice % 3 == 0,
            net_terms=30,
            auto_issuance=False,
            metadata={"channel": "sales"},
            request_id=_request_id(),
            invoicing_threshold="1000" if choice % 4 == 3 else "",
        )
    ]


async def _get_subscription(home: Home, choice: int) -> list[Message]:
    return [subscription_service_pb2.GetSubscriptionRequest(subscription_id=pick(home.subscriptions, choice).id)]


async def _list_subscriptions(home: Home, choice: int) -> list[Message]:
    if choice % 2:
        return [subscription_service_pb2.ListSubscriptionsRequest(resume_token=home.tokens["ListSubscriptions"])]
    return [
        subscription_service_pb2.ListSubscriptionsRequest(
            customer_id=pick(home.customers, choice).id,
            status=[subscription_service_pb2.SUBSCRIPTION_STATUS_ACTIVE],
            limit=choice % 3,
        )
    ]


async def _cancel(home: Home, choice: int) -> list[Message]:
    subscription = await home.subscription(choice)
    options = [
        subscription_service_pb2.CANCEL_OPTION_END_OF_SUBSCRIPTION_TERM,
        subscription_service_pb2.CANCEL_OPTION_REQUESTED_DATE,
        subscription_service_pb2.CANCEL_OPTION_IMMEDIATE,
    ]
    option = pick(options, choice // 2)
    request = subscription_service_pb2.CancelSubscriptionRequest(
        subscription_id=subscription.id, cancel_option=option, request_id=_request_id()
    )
    if option == subscription_service_pb2.CANCEL_OPTION_REQUESTED_DATE:
        request.cancellation_date.CopyFrom(date(today_utc() + dt.timedelta(days=10)))
    return [request]


_CHANGE_OPTIONS: Final = [
    subscription_service_pb2.CHANGE_OPTION_IMMEDIATE,
    subscription_service_pb2.CHANGE_OPTION_END_OF_SUBSCRIPTION_TERM,
    subscription_service_pb2.CHANGE_OPTION_REQUESTED_DATE,
]


def _change_date(request: Any, choice: int) -> None:
    request.change_option = pick(_CHANGE_OPTIONS, choice)
    if request.change_option == subscription_service_pb2.CHANGE_OPTION_REQUESTED_DATE:
        request.change_date.CopyFrom(date(today_utc() + dt.timedelta(days=10)))


async def _change_plan(home: Home, choice: int) -> list[Message]:
    subscription = await home.subscription(choice)
    request = subscription_service_pb2.ChangeSubscriptionPlanRequest(
        subscription_id=subscription.id, plan_id=subscription.plan.id, request_id=_request_id()
    )
    _change_date(request, choice)
    return [request]


async def _change_quantity(home: Home, choice: int) -> list[Message]:
    subscription = await home.subscription(choice)
    request = subscription_service_pb2.UpdateFixedFeeQuantityRequest(
        subscription_id=subscription.id,
        price_id=subscription.plan.prices[0].id,
        quantity=str(1 + choice % 7),
        request_id=_request_id(),
    )
    _change_date(request, choice)
    return [request]


async def _update_subscription(home: Home, choice: int) -> list[Message]:
    subscription = await home.subscription(choice)
    request = subscription_service_pb2.UpdateSubscriptionRequest(
        subscription_id=subscription.id, request_id=_request_id()
    )
    if choice % 3 != 2:
        request.invoicing_threshold = "" if choice % 3 == 1 else "100"
    if choice % 3 != 0:
        request.metadata.CopyFrom(common_pb2.MetadataChange(set={"tier": "gold"}, remove_keys=["channel"]))
    return [request]


async def _list_changes(home: Home, choice: int) -> list[Message]:
    if choice % 2:
        return [
            subscription_service_pb2.ListSubscriptionChangesRequest(
                subscription_id=home.subscriptions[0].id, resume_token=home.tokens["ListSubscriptionChanges"]
            )
        ]
    return [
        subscription_service_pb2.ListSubscriptionChangesRequest(
            subscription_id=pick(home.subscriptions, choice // 2).id, limit=choice % 3
        )
    ]


async def _fresh_backfill(home: Home, choice: int) -> usage_service_pb2.Backfill:
    """A pending backfill of a minute somewhere in the last four years (two never overlap, in practice)."""
    minute = uuid.uuid4().int % (4 * 365 * 24 * 60)
    start = dt.datetime.now(dt.UTC).replace(second=0, microsecond=0) - dt.timedelta(minutes=minute + 10)
    backfill: usage_service_pb2.Backfill = await home.api.usage.CreateBackfill(
        usage_service_pb2.CreateBackfillRequest(
            customer_id=pick(home.customers, choice).id,
            timeframe_start=timestamp(start),
            timeframe_end=timestamp(start + dt.timedelta(minutes=1)),
        )
    )
    return backfill


async def _create_backfill(home: Home, choice: int) -> list[Message]:
    minute = uuid.uuid4().int % (4 * 365 * 24 * 60)
    start = dt.datetime.now(dt.UTC).replace(second=0, microsecond=0) - dt.timedelta(minutes=minute + 10)
    customer = pick(home.customers, choice)
    request = usage_service_pb2.CreateBackfillRequest(
        timeframe_start=timestamp(start),
        timeframe_end=timestamp(start + dt.timedelta(minutes=1 + choice % 30)),
        replace_existing_events=choice % 3 == 0,
        request_id=_request_id(),
    )
    if choice % 2:
        request.external_customer_id = customer.external_customer_id
    else:
        request.customer_id = customer.id
    return [request]


async def _get_backfill(home: Home, choice: int) -> list[Message]:
    return [usage_service_pb2.GetBackfillRequest(backfill_id=(await _fresh_backfill(home, choice)).id)]


async def _close_backfill(home: Home, choice: int) -> list[Message]:
    backfill = await _fresh_backfill(home, choice)
    return [usage_service_pb2.CloseBackfillRequest(backfill_id=backfill.id, request_id=_request_id())]


async def _revert_backfill(home: Home, choice: int) -> list[Message]:
    backfill = await _fresh_backfill(home, choice)
    return [usage_service_pb2.RevertBackfillRequest(backfill_id=backfill.id, request_id=_request_id())]


async def _ingest(home: Home, choice: int) -> list[Message]:
    usd = home.customers[0]
    return [usage_service_pb2.IngestEventsRequest(events=[_event(usd), _event(usd, by_external=True)])]


async def _ingest_stream(home: Home, choice: int) -> list[Message]:
    request_type = message_class(method_named("IngestEventStream").input_type)
    usd = home.customers[0]
    return [request_type(events=[_event(usd), _event(usd, by_external=True)]) for _ in range(1 + choice % 3)]


async def _create_credit_note(home: Home, choice: int) -> list[Message]:
    invoice = await home.creditable(choice)
    reasons = list(credit_note_service_pb2.CreditNoteReason.values())[1:]
    return [
        note_request(
            invoice.id,
            *((item.id, "1") for item in invoice.line_items),
            reason=pick(reasons, choice),
            memo="Returned goods",
            **_versioned(invoice),
        )
    ]


async def _get_credit_note(home: Home, choice: int) -> list[Message]:
    return [credit_note_service_pb2.GetCreditNoteRequest(credit_note_id=pick(home.notes, choice).id)]


async def _list_credit_notes(home: Home, choice: int) -> list[Message]:
    if choice % 3 == 0:
        return [credit_note_service_pb2.ListCreditNotesRequest(limit=1, resume_token=home.tokens["ListCreditNotes"])]
    note = pick(home.notes, choice)
    return [
        credit_note_service_pb2.ListCreditNotesRequest(
            customer_id=note.customer.id if choice % 2 else "",
            external_customer_id="" if choice % 2 else note.customer.external_customer_id,
            invoice_id=note.invoice_id if choice % 4 == 1 else "",
            created_at_gte=_recent_timestamp(-86_400),
            created_at_lt=_recent_timestamp(60),
            limit=choice % 3,
        )
    ]


async def _void_credit_note(home: Home, choice: int) -> list[Message]:
    note = await home.fresh_note(choice)
    invoice = await get_invoice(home.api, note.invoice_id)
    return [
        credit_note_service_pb2.VoidCreditNoteRequest(
            credit_note_id=note.id,
            **_versioned(invoice),
        )
    ]


async def _credit_note_document(home: Home, choice: int) -> list[Message]:
    document_format = document_pb2.DOCUMENT_FORMAT_PDF if choice % 2 else document_pb2.DOCUMENT_FORMAT_UNSPECIFIED
    note = pick(home.notes, choice)
    return [credit_note_service_pb2.GetCreditNoteDocumentRequest(credit_note_id=note.id, format=document_format)]


async def _list_invoice_versions(home: Home, choice: int) -> list[Message]:
    if choice % 3 == 0:
        token = home.tokens["ListInvoiceVersions"]
        return [
            invoice_service_pb2.ListInvoiceVersionsRequest(invoice_id=home.issued[0].id, limit=1, resume_token=token)
        ]
    invoice = pick([*home.drafts, *home.issued], choice)
    return [invoice_service_pb2.ListInvoiceVersionsRequest(invoice_id=invoice.id, limit=choice % 3)]


BUILDERS: Final = {
    "CreateInvoice": _create_invoice,
    "GetInvoice": _get_invoice,
    "GetUpcomingInvoice": _upcoming,
    "GetInvoiceDocument": _invoice_document,
    "ListInvoices": _list_invoices,
    "UpdateInvoice": _update_invoice,
    "CreateInvoiceLineItem": _add_line,
    "DeleteInvoiceLineItem": _delete_line,
    "IssueInvoice": _issue,
    "MarkInvoicePaid": _mark_paid,
    "VoidInvoice": _void,
    "WatchInvoiceEvents": _watch,
    "CreateCustomer": _create_customer,
    "GetCustomer": _get_customer,
    "UpdateCustomer": _update_customer,
    "ListCustomers": _list_customers,
    "CreateBalanceTransaction": _balance_transaction,
    "ListBalanceTransactions": _list_balance_transactions,
    "GrantCredits": _grant_credits,
    "ListCreditBlocks": _list_credit_blocks,
    "ListCreditLedger": _list_credit_ledger,
    "CreatePlan": _create_plan,
    "GetPlan": _get_plan,
    "ListPlans": _list_plans,
    "CreateSubscription": _create_subscription,
    "GetSubscription": _get_subscription,
    "ListSubscriptions": _list_subscriptions,
    "CancelSubscription": _cancel,
    "ChangeSubscriptionPlan": _change_plan,
    "UpdateFixedFeeQuantity": _change_quantity,
    "ListSubscriptionChanges": _list_changes,
    "UpdateSubscription": _update_subscription,
    "IngestEvents": _ingest,
    "IngestEventStream": _ingest_stream,
    "CreateBackfill": _create_backfill,
    "GetBackfill": _get_backfill,
    "CloseBackfill": _close_backfill,
    "RevertBackfill": _revert_backfill,
    "GetAccountProfile": _get_account_profile,
    "UpdateAccountProfile": _update_account_profile,
    "CreateCreditNote": _create_credit_note,
    "GetCreditNote": _get_credit_note,
    "ListCreditNotes": _list_credit_notes,
    "VoidCreditNote": _void_credit_note,
    "GetCreditNoteDocument": _credit_note_document,
    "ListInvoiceVersions": _list_invoice_versions,
}


def method_named(name: str) -> MethodDescriptor:
    """The descriptor of the RPC with this name."""
    return next(method for method in METHODS if method.name == name)


# --- calling any RPC -------------------------------------------------------------------------------


@dataclass
class Outcome:
    """How a call ended, and what it sent back before that."""

    code: grpc.StatusCode
    details: str
    responses: list[Message]


def _serialize(request: Message | bytes) -> bytes:
    return request if isinstance(request, bytes) else request.SerializeToString()


async def invoke(
    channel: grpc.aio.Channel,
    method: MethodDescriptor,
    requests: Sequence[Message | bytes],
    *,
    deadline_s: float | None = None,
) -> Outcome:
    """Call any RPC with the given request (or, for the client stream, requests); drain what it sends.

    The call sends whatever credentials the channel adds (`open_api`'s channel: its key; an anonymous one: none).
    """
    path = f"/{method.containing_service.full_name}/{method.name}"
    response_type = message_class(method.output_type)
    responses: list[Message] = []
    try:
        if method.client_streaming:
            call = channel.stream_unary(
                path, request_serializer=_serialize, response_deserializer=response_type.FromString
            )
            responses.append(await call(stream_of(requests), timeout=CALL_TIMEOUT_S))
        elif method.server_streaming:
            stream = channel.unary_stream(
                path, request_serializer=_serialize, response_deserializer=response_type.FromString
            )
            if deadline_s is None:
                deadline_s = WATCH_TIMEOUT_S if method.name == "WatchInvoiceEvents" else CALL_TIMEOUT_S
            async for response in stream(requests[0], timeout=deadline_s):
                responses.append(response)
        else:
            unary = channel.unary_unary(
                path, request_serializer=_serialize, response_deserializer=response_type.FromString
            )
            responses.append(await unary(requests[0], timeout=CALL_TIMEOUT_S))
    except grpc.aio.AioRpcError as error:
        return Outcome(error.code(), error.details() or "", responses)
    return Outcome(grpc.StatusCode.OK, "", responses)


def resource_ids(message: Message) -> set[str]:
    """The server-given resource ids a message names (`id`, `customer_id`, ... at any depth)."""
    found: set[str] = set()
    for fd, value in message.ListFields():
        if fd.type == FieldDescriptor.TYPE_MESSAGE and not _is_map(fd):
            for item in value if fd.is_repeated else [value]:
                found |= resource_ids(item)
        elif (
            fd.type == FieldDescriptor.TYPE_STRING
            and not fd.is_repeated
            and (fd.name == "id" or fd.name.endswith("_id"))
            and not fd.name.startswith("external")
            and fd.name != "request_id"
        ):
            found.add(value)
    return found


def names_by_id(method: MethodDescriptor, request: Message | bytes, ids: set[str]) -> bool:
    """True when a top-level id field of a request that needs the resource names one of ids."""
    if isinstance(request, bytes) or method.name in FILTER_RPCS:
        return False
    return any(
        fd.type == FieldDescriptor.TYPE_STRING
        and not fd.is_repeated
        and fd.name.endswith("_id")
        and not fd.name.startswith("external")
        and fd.name != "request_id"
        and value in ids
        for fd, value in request.ListFields()
    )


def describe(requests: Sequence[Message | bytes]) -> str:
    """The requests, shortened, for an assertion message."""
    parts = []
    for request in requests:
        text = repr(request) if isinstance(request, bytes) else text_format.MessageToString(request, as_utf8=True)
        parts.append(text if len(text) < 3_000 else text[:3_000] + " ...")
    return "\n---\n".join(parts)


# --- stored rows ----------------------------------------------------------------------------------


class Rows:
    """A fingerprint of every row an account owns, in every table, read in one query."""

    def __init__(self, conn: asyncpg.Connection, account_id: str, tables: list[str]) -> None:
        self._conn = conn
        self._account_id = account_id
        columns = ", ".join(
            f"(SELECT md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) FROM {table} t"
            f" WHERE t.account_id = $1) AS {table}"
            for table in tables
        )
        self._sql = f"SELECT {columns}"

    @classmethod
    async def open(cls, conn: asyncpg.Connection, account_id: str) -> Rows:
        """Fingerprints of the account's rows in every table that has an account_id (API keys aside)."""
        tables = await conn.fetch(
            "SELECT table_name FROM information_schema.columns WHERE column_name = 'account_id'"
            " AND table_schema = current_schema() AND table_name <> 'api_keys' ORDER BY table_name"
        )
        names = [row["table_name"] for row in tables]
        assert {"customers", "invoices", "invoice_line_items", "plans", "subscriptions", "usage_events"} <= set(names)
        return cls(conn, account_id, names)

    async def fingerprint(self) -> dict[str, str]:
        """One digest per table."""
        row = await self._conn.fetchrow(self._sql, self._account_id)
        assert row is not None
        return dict(row)


# --- checking the answers ------------------------------------------------------------------------


def context(method: MethodDescriptor, requests: Sequence[Message | bytes], outcome: Outcome) -> str:
    """What was sent and answered, for an assertion message."""
    return f"{method.name} answered {outcome.code.name} ({outcome.details!r}) to:\n{describe(requests)}"


def check(method: MethodDescriptor, requests: Sequence[Message | bytes], outcome: Outcome, foreign: set[str]) -> None:
    """The answer's code is one the contract allows; it names nothing of the other account, nor uses it."""
    allowed = ALLOWED if method.name == "WatchInvoiceEvents" else ALLOWED - {grpc.StatusCode.DEADLINE_EXCEEDED}
    assert outcome.code in allowed, context(method, requests, outcome)
    for response in outcome.responses:
        assert not resource_ids(response) & foreign, f"another account's resource: {context(method, requests, outcome)}"
    if any(names_by_id(method, request, foreign) for request in requests):
        assert outcome.code != grpc.StatusCode.OK, (
            f"another account's resource used: {context(method, requests, outcome)}"
        )


def oversized(descriptor: Descriptor, limit: int) -> Message:
    """A request with one string (perhaps inside a nested message) longer than the message size limit."""
    request = message_class(descriptor)()
    target = request
    while True:
        if not target.DESCRIPTOR.fields:  # nothing to fill (GetAccountProfile): an unknown field, kept as bytes
            payload = b"x" * (limit + 1)
            target.MergeFromString(b"\x0a" + _varint(len(payload)) + payload)
            return request
        strings = [fd for fd in target.DESCRIPTOR.fields if fd.type == FieldDescriptor.TYPE_STRING]
        if strings:
            fd = strings[0]
            if fd.is_repeated:
                getattr(target, fd.name).append("x" * (limit + 1))
            else:
                setattr(target, fd.name, "x" * (limit + 1))
            return request
        fd = next(fd for fd in target.DESCRIPTOR.fields if fd.type == FieldDescriptor.TYPE_MESSAGE)
        target = getattr(target, fd.name).add() if fd.is_repeated else getattr(target, fd.name)
