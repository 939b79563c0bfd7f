"""Conversions between protos and domain objects: the one place that knows both.

Requests become domain values (dates, addresses, tax ids, metadata patches);
domain records become response messages, money as decimal strings in plain
notation.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
from collections.abc import Iterator, Mapping, Sequence
from decimal import Decimal
from typing import Any, TypeVar

from google.protobuf import descriptor_pb2, json_format, timestamp_pb2
from google.protobuf.descriptor import FileDescriptor
from google.type import date_pb2
from invoicing.v1 import (
    account_service_pb2,
    common_pb2,
    credit_note_service_pb2,
    customer_pb2,
    document_pb2,
    invoice_pb2,
    invoice_service_pb2,
    plan_service_pb2,
    price_pb2,
    usage_service_pb2,
)

from server.api.invoice_diff import invoice_changes
from server.domain import money
from server.domain.accounts import AccountProfile, ProfileChanges
from server.domain.backfills import Backfill, BackfillStatus
from server.domain.credit_notes import CreditNote, CreditNoteReason, InvoiceCreditNote
from server.domain.credits import CreditBlock, LedgerEntry, LedgerEntryType
from server.domain.customers import Address, BalanceTransaction, Customer, CustomerRef
from server.domain.documents import DocumentFormat, RenderedDocument
from server.domain.errors import InvalidArgument, Violations
from server.domain.events import InvoiceEvent
from server.domain.history import InvoiceVersion
from server.domain.invoices import Discount, DiscountKind, Invoice, Line, LineAdjustment, Payment
from server.domain.periods import EPOCH, micros
from server.domain.plans import Plan, PlanRef
from server.domain.tax_ids import TaxId
from server.domain.validation import MetadataPatch
from server.usecases.subscription_billing import UpcomingInvoice

# --- scalars -----------------------------------------------------------------


def timestamp(value: dt.datetime | str | None) -> timestamp_pb2.Timestamp | None:
    """A Timestamp for a datetime (or an ISO string from JSON); None stays None."""
    if value is None:
        return None
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    seconds, rest = divmod(micros(value), 1_000_000)
    return timestamp_pb2.Timestamp(seconds=seconds, nanos=rest * 1000)


def date_pb(value: dt.date | str | None) -> date_pb2.Date | None:
    """A google.type.Date for a date (or a "YYYY-MM-DD" string); None stays None."""
    if value is None:
        return None
    if isinstance(value, str):
        return date_pb2.Date(year=int(value[0:4]), month=int(value[5:7]), day=int(value[8:10]))
    return date_pb2.Date(year=value.year, month=value.month, day=value.day)


# The database driver stores date.min and date.max as -infinity and infinity, which are no dates: the
# first and last day of Python's calendar are refused so that every accepted date is stored as itself.
FIRST_DATE = dt.date.min + dt.timedelta(days=1)
LAST_DATE = dt.date.max - dt.timedelta(days=1)


def date_from(value: date_pb2.Date, field: str, violations: Violations, *, required: bool = False) -> dt.date | None:
    """The date a google.type.Date names, or a violation if it is not a full calendar date in range."""
    if value.year == 0 and value.month == 0 and value.day == 0:
        if required:
            violations.add(field, "is required")
        return None
    try:
        day = dt.date(value.year, value.month, value.day)
    except ValueError:
        violations.add(field, f"is not a calendar date: {value.year:04d}-{value.month:02d}-{value.day:02d}")
        return None
    if not FIRST_DATE <= day <= LAST_DATE:
        violations.add(field, f"must be between {FIRST_DATE.isoformat()} and {LAST_DATE.isoformat()}")
        return None
    return day


def optional_date(message: Any, name: str, violations: Violations, *, field: str | None = None) -> dt.date | None:
    """A date sub-message that may be absent (HasField), validated when present."""
    if not message.HasField(name):
        return None
    return date_from(getattr(message, name), field or name, violations, required=True)


_MIN_TIMESTAMP_SECONDS = -62_135_596_800  # 0001-01-01T00:00:00Z, the Timestamp range
_MAX_TIMESTAMP_SECONDS = 253_402_300_799  # 9999-12-31T23:59:59Z


TIMESTAMP_RANGE = "must be a valid Timestamp between 0001-01-01 and 9999-12-31 (UTC)"


def datetime_from(value: timestamp_pb2.Timestamp) -> dt.datetime | None:
    """The UTC datetime of a Timestamp, to microsecond precision; None outside Timestamp's documented range.
    Each field is read once: an ingestion batch converts a thousand."""
    seconds, nanos = value.seconds, value.nanos
    if _MIN_TIMESTAMP_SECONDS <= seconds <= _MAX_TIMESTAMP_SECONDS and 0 <= nanos <= 999_999_999:
        return EPOCH + dt.timedelta(0, seconds, nanos // 1000)  # (days, seconds, microseconds)
    return None


def optional_timestamp(message: Any, name: str) -> dt.datetime | None:
    """A Timestamp sub-message as a datetime, or None when absent; InvalidArgument outside Timestamp's range."""
    if not message.HasField(name):
        return None
    value = datetime_from(getattr(message, name))
    if value is None:
        raise InvalidArgument.one(name, TIMESTAMP_RANGE)
    return value


# --- enums -------------------------------------------------------------------


def _enum_codes(enum: Any, prefix: str, lower: bool) -> tuple[dict[int, str], dict[str, Any]]:
    by_number = {}
    for name, number in enum.items():
        if number:
            code = name.removeprefix(prefix)
            by_number[number] = code.lower() if lower else code
    return by_number, {code: number for number, code in by_number.items()}


TAX_COUNTRIES, TAX_COUNTRY_NUMBERS = _enum_codes(common_pb2.TaxIdCountry, "TAX_ID_COUNTRY_", lower=False)
TAX_TYPES, TAX_TYPE_NUMBERS = _enum_codes(common_pb2.TaxIdType, "TAX_ID_TYPE_", lower=True)
INVOICE_STATUSES, INVOICE_STATUS_NUMBERS = _enum_codes(invoice_pb2.InvoiceStatus, "INVOICE_STATUS_", lower=True)
INVOICE_SOURCES, INVOICE_SOURCE_NUMBERS = _enum_codes(invoice_pb2.InvoiceSource, "INVOICE_SOURCE_", lower=True)
ADJUSTMENT_TYPES, ADJUSTMENT_TYPE_NUMBERS = _enum_codes(invoice_pb2.AdjustmentType, "ADJUSTMENT_TYPE_", lower=True)
ACTIONS, ACTION_NUMBERS = _enum_codes(customer_pb2.BalanceTransactionAction, "BALANCE_TRANSACTION_ACTION_", lower=True)
DIRECTIONS, DIRECTION_NUMBERS = _enum_codes(
    customer_pb2.BalanceTransactionType, "BALANCE_TRANSACTION_TYPE_", lower=True
)
_PRICE_ENUMS = {
    "model_type": _enum_codes(price_pb2.PriceModelType, "PRICE_MODEL_TYPE_", lower=True)[1],
    "price_type": _enum_codes(price_pb2.PriceType, "PRICE_TYPE_", lower=True)[1],
    "cadence": _enum_codes(price_pb2.Cadence, "CADENCE_", lower=True)[1],
    "billing_mode": _enum_codes(price_pb2.BillingMode, "BILLING_MODE_", lower=True)[1],
}
DISCOUNT_TYPES, DISCOUNT_TYPE_NUMBERS = _enum_codes(price_pb2.DiscountType, "DISCOUNT_TYPE_", lower=True)
SUB_LINE_TYPES, SUB_LINE_TYPE_NUMBERS = _enum_codes(invoice_pb2.SubLineItemType, "SUB_LINE_ITEM_TYPE_", lower=True)
EVENT_TYPES, EVENT_TYPE_NUMBERS = _enum_codes(invoice_pb2.InvoiceEventType, "INVOICE_EVENT_TYPE_", lower=True)
CREDIT_NOTE_TYPES, CREDIT_NOTE_TYPE_NUMBERS = _enum_codes(
    credit_note_service_pb2.CreditNoteType, "CREDIT_NOTE_TYPE_", lower=True
)
CREDIT_NOTE_REASONS, CREDIT_NOTE_REASON_NUMBERS = _enum_codes(
    credit_note_service_pb2.CreditNoteReason, "CREDIT_NOTE_REASON_", lower=True
)


# --- shared messages -----------------------------------------------------------


def address_from(message: common_pb2.Address) -> Address:
    """The domain address of an Address message (the same parts by the same names)."""
    return Address(**{part.name: getattr(message, part.name) for part in dataclasses.fields(Address)})


def address_pb(value: Address | None) -> common_pb2.Address | None:
    """An Address message (None stays None)."""
    return None if value is None else common_pb2.Address(**dataclasses.asdict(value))


def tax_id_from(message: common_pb2.CustomerTaxId, field: str, violations: Violations) -> TaxId:
    """The domain tax id of a CustomerTaxId; unknown enum numbers are violations."""
    country = TAX_COUNTRIES.get(message.country, "")
    kind = TAX_TYPES.get(message.type, "")
    if message.country and not country:
        violations.add(f"{field}.country", f"unknown country enum value {message.country}")
    if message.type and not kind:
        violations.add(f"{field}.type", f"unknown type enum value {message.type}")
    return TaxId(country=country, type=kind, value=message.value)


def tax_id_pb(value: TaxId | None) -> common_pb2.CustomerTaxId | None:
    """A CustomerTaxId message (None stays None)."""
    if value is None:
        return None
    return common_pb2.CustomerTaxId(
        country=TAX_COUNTRY_NUMBERS[value.country], type=TAX_TYPE_NUMBERS[value.type], value=value.value
    )


def metadata_patch_from(message: common_pb2.MetadataChange) -> MetadataPatch:
    """The domain form of a MetadataChange."""
    return MetadataPatch(set=dict(message.set), remove_keys=list(message.remove_keys), clear=message.clear)


# --- customers -----------------------------------------------------------------


def customer_pb(customer: Customer) -> customer_pb2.Customer:
    """A Customer message."""
    return customer_pb2.Customer(
        id=customer.id,
        external_customer_id=customer.external_customer_id,
        name=customer.name,
        email=customer.email,
        currency=customer.currency,
        timezone=customer.timezone,
        billing_address=address_pb(customer.billing_address),
        shipping_address=address_pb(customer.shipping_address),
        tax_id=tax_id_pb(customer.tax_id),
        auto_collection=customer.auto_collection,
        auto_issuance=customer.auto_issuance,
        net_terms=customer.net_terms,
        metadata=customer.metadata,
        balance=money.to_wire(customer.balance),
        created_at=timestamp(customer.created_at),
        updated_at=timestamp(customer.updated_at),
        credit_balance=money.to_wire(customer.credit_balance),
    )


def balance_transaction_pb(transaction: BalanceTransaction) -> customer_pb2.BalanceTransaction:
    """A BalanceTransaction message."""
    return customer_pb2.BalanceTransaction(
        **_ledger_row(transaction),
        action=ACTION_NUMBERS[transaction.action.value],
        type=DIRECTION_NUMBERS[transaction.direction.value],
        credit_note=common_pb2.CreditNoteRef(id=transaction.credit_note_id) if transaction.credit_note_id else None,
    )


def _ledger_row(row: BalanceTransaction | LedgerEntry) -> dict[str, Any]:
    """The fields a row of either ledger (the balance's, the credits') has in its message."""
    return {
        "id": row.id,
        "customer_id": row.customer_id,
        "amount": money.to_wire(row.amount),
        "starting_balance": money.to_wire(row.starting_balance),
        "ending_balance": money.to_wire(row.ending_balance),
        "invoice": common_pb2.InvoiceRef(id=row.invoice_id) if row.invoice_id else None,
        "description": row.description,
        "created_at": timestamp(row.created_at),
    }


# --- invoices ------------------------------------------------------------------


_ENTRY_TYPES = {
    LedgerEntryType.INCREMENT: customer_pb2.CREDIT_LEDGER_ENTRY_TYPE_INCREMENT,
    LedgerEntryType.DECREMENT: customer_pb2.CREDIT_LEDGER_ENTRY_TYPE_DECREMENT,
    LedgerEntryType.EXPIRY: customer_pb2.CREDIT_LEDGER_ENTRY_TYPE_CREDIT_BLOCK_EXPIRY,
    LedgerEntryType.RETURN_FROM_VOIDING: customer_pb2.CREDIT_LEDGER_ENTRY_TYPE_RETURN_FROM_VOIDING,
}


def credit_block_pb(block: CreditBlock) -> customer_pb2.CreditBlock:
    """A CreditBlock message."""
    cost = block.per_unit_cost_basis
    return customer_pb2.CreditBlock(
        id=block.id,
        customer_id=block.customer_id,
        currency=block.currency,
        amount=money.to_wire(block.amount),
        remaining=money.to_wire(block.remaining),
        per_unit_cost_basis="" if cost is None else money.to_wire(cost),
        effective_date=date_pb(block.effective_date),
        expiry_date=date_pb(block.expiry_date),
        description=block.description,
        created_at=timestamp(block.created_at),
    )


def credit_ledger_entry_pb(entry: LedgerEntry) -> customer_pb2.CreditLedgerEntry:
    """A CreditLedgerEntry message."""
    return customer_pb2.CreditLedgerEntry(
        **_ledger_row(entry),
        entry_type=_ENTRY_TYPES[entry.entry_type],
        credit_block=credit_block_pb(entry.block),
        line_item_id=entry.line_item_id,
    )


_BACKFILL_STATUSES = {
    BackfillStatus.PENDING: usage_service_pb2.BACKFILL_STATUS_PENDING,
    BackfillStatus.REFLECTED: usage_service_pb2.BACKFILL_STATUS_REFLECTED,
    BackfillStatus.REVERTED: usage_service_pb2.BACKFILL_STATUS_REVERTED,
}


def backfill_pb(backfill: Backfill) -> usage_service_pb2.Backfill:
    """A Backfill message."""
    return usage_service_pb2.Backfill(
        id=backfill.id,
        customer=common_pb2.CustomerRef(id=backfill.customer_id, external_customer_id=backfill.external_customer_id),
        timeframe_start=timestamp(backfill.timeframe_start),
        timeframe_end=timestamp(backfill.timeframe_end),
        replace_existing_events=backfill.replace_existing_events,
        status=_BACKFILL_STATUSES[backfill.status],
        events_ingested=backfill.events_ingested,
        created_at=timestamp(backfill.created_at),
        closed_at=timestamp(backfill.closed_at),
        reverted_at=timestamp(backfill.reverted_at),
        adjustments=[
            usage_service_pb2.BackfillAdjustment(
                invoice_id=a.invoice_id,
                price_id=a.price_id,
                name=a.name,
                start_date=date_pb(a.start_date),
                end_date=date_pb(a.end_date),
                amount=money.to_wire(a.amount),
                adjustment_invoice_id=a.adjustment_invoice_id,
                balance_transaction_id=a.balance_transaction_id,
            )
            for a in backfill.adjustments
        ],
    )


def discount_pb(discount: Discount) -> price_pb2.Discount:
    """A Discount message for an invoice-level discount."""
    value = money.to_wire(discount.value)
    return price_pb2.Discount(
        discount_type=DISCOUNT_TYPE_NUMBERS[discount.kind.value],
        percentage_discount=value if discount.kind is DiscountKind.PERCENTAGE else "",
        amount_discount=value if discount.kind is DiscountKind.AMOUNT else "",
        reason=discount.reason,
    )


_ENUM_PREFIXES = {
    "model_type": "PRICE_MODEL_TYPE_",
    "price_type": "PRICE_TYPE_",
    "cadence": "CADENCE_",
    "billing_mode": "BILLING_MODE_",
}
# Parts of a price that go through json_format (rare, so its cost stays off the hot path).
_GENERIC_PRICE_PARTS = (
    "package_config",
    "tiered_config",
    "bulk_config",
    "matrix_config",
    "billable_metric",
    "discounts",
)


def price_pb(value: Mapping[str, Any]) -> price_pb2.Price:
    """A Price message from its stored JSON (lower-case enum codes, decimal strings)."""
    price = price_pb2.Price(
        id=value["id"],
        name=value["name"],
        currency=value["currency"],
        fixed_price_quantity=value.get("fixed_price_quantity", ""),
        minimum_amount=value.get("minimum_amount", ""),
        maximum_amount=value.get("maximum_amount", ""),
        **{name: numbers[value[name]] for name, numbers in _PRICE_ENUMS.items() if value.get(name)},
    )
    if "unit_config" in value:
        price.unit_config.unit_amount = value["unit_config"]["unit_amount"]
    generic = {key: value[key] for key in _GENERIC_PRICE_PARTS if value.get(key)}
    if generic:
        if "billable_metric" in generic:
            metric = dict(generic["billable_metric"])
            metric["aggregation"] = "AGGREGATION_" + metric["aggregation"].upper()
            generic["billable_metric"] = metric
        if "discounts" in generic:
            generic["discounts"] = [
                {**d, "discount_type": "DISCOUNT_TYPE_" + d["discount_type"].upper()} for d in generic["discounts"]
            ]
        json_format.ParseDict(generic, price, ignore_unknown_fields=True)
    created = timestamp(value.get("created_at"))
    if created is not None:
        price.created_at.CopyFrom(created)
    return price


def price_data(message: price_pb2.Price) -> dict[str, Any]:
    """The stored form of a Price message: proto JSON names, lower-case enum codes, decimal strings.

    Unknown enum numbers become "?" so that validation names the field. The output-only `id` and
    `created_at` are ignored (never converted: a client may send a Timestamp JSON cannot express), and
    an empty sub-message (`unit_config {}`) is the same as an absent one.
    """
    given = price_pb2.Price()
    given.CopyFrom(message)
    given.ClearField("id")
    given.ClearField("created_at")
    converted = json_format.MessageToDict(given, preserving_proto_field_name=True)
    data: dict[str, Any] = {key: value for key, value in converted.items() if value != {}}
    for name, prefix in _ENUM_PREFIXES.items():
        if name in data:
            data[name] = str(data[name]).removeprefix(prefix).lower() if isinstance(data[name], str) else "?"
    if "billable_metric" in data and "aggregation" in data["billable_metric"]:
        aggregation = data["billable_metric"]["aggregation"]
        data["billable_metric"]["aggregation"] = (
            aggregation.removeprefix("AGGREGATION_").lower() if isinstance(aggregation, str) else "?"
        )
    for discount in data.get("discounts", []):
        kind = discount.get("discount_type", "")
        discount["discount_type"] = kind.removeprefix("DISCOUNT_TYPE_").lower() if isinstance(kind, str) else "?"
    if "package_config" in data and "package_size" in data["package_config"]:
        data["package_config"]["package_size"] = int(data["package_config"]["package_size"])
    return data


def sub_line_item_pb(value: Mapping[str, Any]) -> invoice_pb2.SubLineItem:
    """A SubLineItem message from its stored JSON."""
    item = invoice_pb2.SubLineItem(
        type=SUB_LINE_TYPE_NUMBERS.get(value["type"], 0),
        name=value["name"],
        quantity=value["quantity"],
        amount=value["amount"],
    )
    if "tier_config" in value:
        item.tier_config.CopyFrom(invoice_pb2.SubLineTierConfig(**value["tier_config"]))
    if "matrix_config" in value:
        item.matrix_config.dimension_values.extend(value["matrix_config"]["dimension_values"])
    return item


_ADJUSTMENT_CONFIG_FIELD = {
    "usage_discount": "usage_discount",
    "amount_discount": "amount_discount",
    "percentage_discount": "percentage_discount",
    "minimum": "minimum_amount",
    "maximum": "maximum_amount",
}


def adjustment_pb(adjustment: LineAdjustment) -> invoice_pb2.Adjustment:
    """An Adjustment message."""
    message = invoice_pb2.Adjustment(
        id=adjustment.id,
        adjustment_type=ADJUSTMENT_TYPE_NUMBERS[adjustment.kind.value],
        amount=money.to_wire(adjustment.amount),
        is_invoice_level=adjustment.is_invoice_level,
        reason=adjustment.reason,
    )
    setattr(message, _ADJUSTMENT_CONFIG_FIELD[adjustment.kind.value], money.to_wire(adjustment.configured))
    return message


def line_item_pb(line: Line) -> invoice_pb2.InvoiceLineItem:
    """An InvoiceLineItem message, for a stored line or a computed one (the upcoming invoice's, without id)."""
    return invoice_pb2.InvoiceLineItem(
        id=line.id,
        name=line.name,
        quantity=money.to_wire(line.quantity),
        start_date=date_pb(line.start_date),
        end_date=date_pb(line.end_date),
        subtotal=money.to_wire(line.subtotal),
        adjustments=[adjustment_pb(a) for a in line.adjustments],
        adjusted_subtotal=money.to_wire(line.adjusted_subtotal),
        # Never populated yet: shown at the line's scale ("0.00").
        credits_applied=money.to_wire(line.credits_applied + line.subtotal * 0),
        partially_invoiced_amount=money.to_wire(line.partially_invoiced_amount + line.subtotal * 0),
        amount=money.to_wire(line.amount),
        sub_line_items=[sub_line_item_pb(item) for item in line.sub_line_data],
        price=price_pb(line.price_data) if line.price_data is not None else None,
        is_one_off=line.is_one_off,
    )


def payment_pb(payment: Payment) -> invoice_pb2.Payment:
    """A Payment message."""
    return invoice_pb2.Payment(
        id=payment.id,
        amount=money.to_wire(payment.amount),
        payment_received_date=date_pb(payment.received),
        external_id=payment.external_id,
        notes=payment.notes,
        created_at=timestamp(payment.created_at),
    )


_DOCUMENT_RPC = invoice_service_pb2.DESCRIPTOR.services_by_name["InvoiceService"].methods_by_name["GetInvoiceDocument"]


def invoice_document_locator(invoice_id: str, version: int) -> str:
    """Invoice.invoice_pdf: the call that fetches the invoice's document, and the version it shows.

    It depends on the invoice alone (ids are URL-safe), as the invoice's stored wire form requires.
    """
    return _locator(_DOCUMENT_RPC, invoice_id=invoice_id, version=version)


def _locator(method: Any, **query: object) -> str:
    """A grpc:// locator naming an RPC and its request fields (ids are URL-safe)."""
    path = f"{method.containing_service.full_name}/{method.name}"
    return f"grpc://{path}?" + "&".join(f"{name}={value}" for name, value in query.items())


_CREDIT_NOTE_DOCUMENT_RPC = credit_note_service_pb2.DESCRIPTOR.services_by_name["CreditNoteService"].methods_by_name[
    "GetCreditNoteDocument"
]


def credit_note_summary_pb(note: InvoiceCreditNote) -> invoice_pb2.CreditNoteSummary:
    """A CreditNoteSummary message (a note as its invoice lists it)."""
    return invoice_pb2.CreditNoteSummary(
        id=note.id,
        credit_note_number=note.number,
        memo=note.memo,
        reason=note.reason.value,
        total=money.to_wire(note.total),
        type=note.kind.value,
        voided_at=timestamp(note.voided_at),
    )


def credit_note_pb(note: CreditNote) -> credit_note_service_pb2.CreditNote:
    """A CreditNote message."""
    total = money.to_wire(note.total)
    return credit_note_service_pb2.CreditNote(
        id=note.id,
        credit_note_number=note.number,
        invoice_id=note.invoice_id,
        invoice_number=note.invoice_number,
        customer=common_pb2.CustomerRef(id=note.customer_id, external_customer_id=note.external_customer_id),
        currency=note.currency,
        type=CREDIT_NOTE_TYPE_NUMBERS[note.kind.value],
        reason=CREDIT_NOTE_REASON_NUMBERS[note.reason.value],
        memo=note.memo,
        subtotal=total,
        total=total,
        line_items=[
            credit_note_service_pb2.CreditNoteLineItem(
                id=line.id,
                invoice_line_item_id=line.invoice_line_item_id,
                name=line.name,
                amount=money.to_wire(line.amount),
                start_date=date_pb(line.start_date),
                end_date=date_pb(line.end_date),
            )
            for line in note.lines
        ],
        applied_to_amount_due=money.to_wire(note.applied_to_amount_due),
        credited_to_balance=money.to_wire(note.credited_to_balance),
        customer_balance_transactions=[balance_transaction_pb(t) for t in note.balance_transactions],
        created_at=timestamp(note.created_at),
        voided_at=timestamp(note.voided_at),
        version=note.version,
        credit_note_pdf=_locator(_CREDIT_NOTE_DOCUMENT_RPC, credit_note_id=note.id, version=note.version),
    )


def credit_note_reason_from(number: int, violations: Violations) -> CreditNoteReason | None:
    """The reason a CreateCreditNote request names (required)."""
    code = CREDIT_NOTE_REASONS.get(number)
    if code is None:
        violations.add("reason", "is required" if number == 0 else f"is not a credit note reason: {number}")
        return None
    return CreditNoteReason(code)


def invoice_version_pb(record: InvoiceVersion) -> invoice_pb2.InvoiceVersion:
    """An InvoiceVersion message: the recorded invoice, and its changes from the version recorded before it."""
    invoice = invoice_pb2.Invoice.FromString(record.invoice)
    before = None if record.previous is None else invoice_pb2.Invoice.FromString(record.previous)
    return invoice_pb2.InvoiceVersion(
        version=record.version,
        changed_at=timestamp(record.changed_at),
        method=record.method,
        api_key_id=record.key_id,
        request_id=record.request_id,
        changes=invoice_changes(before, invoice),
        invoice=invoice,
    )


def _optional_money(amount: Decimal | None) -> str:
    return "" if amount is None else money.to_wire(amount)


def invoice_pb(invoice: Invoice) -> invoice_pb2.Invoice:
    """An Invoice message."""
    h = invoice.header
    discounts = [discount_pb(d) for d in h.discounts]
    message = invoice_pb2.Invoice(
        id=h.id,
        version=h.version,
        status=INVOICE_STATUS_NUMBERS[h.status.value],
        invoice_source=INVOICE_SOURCE_NUMBERS[h.source.value],
        invoice_number=h.invoice_number,
        customer=common_pb2.CustomerRef(id=h.customer_id, external_customer_id=invoice.external_customer_id),
        subscription=common_pb2.SubscriptionRef(id=h.subscription_id) if h.subscription_id else None,
        currency=h.currency,
        invoice_date=date_pb(h.invoice_date),
        due_date=date_pb(h.due_date),
        net_terms=h.net_terms,
        subtotal=money.to_wire(h.subtotal),
        total=money.to_wire(h.total),
        amount_due=money.to_wire(h.amount_due),
        line_items=[line_item_pb(li) for li in invoice.lines],
        discounts=discounts,
        discount=discounts[0] if discounts else None,
        minimum_amount=_optional_money(h.minimum_amount),
        maximum_amount=_optional_money(h.maximum_amount),
        memo=h.memo,
        metadata=h.metadata,
        auto_collection=invoice_pb2.AutoCollection(enabled=h.auto_collection),
        billing_address=address_pb(h.billing_address),
        shipping_address=address_pb(h.shipping_address),
        customer_tax_id=tax_id_pb(h.customer_tax_id),
        customer_balance_transactions=[balance_transaction_pb(t) for t in invoice.balance_transactions],
        credit_notes=[credit_note_summary_pb(n) for n in invoice.credit_notes],
        payments=[payment_pb(p) for p in invoice.payments],
        will_auto_issue=h.will_auto_issue,
        eligible_to_issue_at=timestamp(h.eligible_to_issue_at),
        scheduled_issue_at=timestamp(h.scheduled_issue_at),
        issued_at=timestamp(h.issued_at),
        paid_at=timestamp(h.paid_at),
        voided_at=timestamp(h.voided_at),
        issue_failed_at=timestamp(h.issue_failed_at),
        payment_started_at=timestamp(h.payment_started_at),
        payment_failed_at=timestamp(h.payment_failed_at),
        sync_failed_at=timestamp(h.sync_failed_at),
        hosted_invoice_url=h.hosted_invoice_url,
        invoice_pdf=invoice_document_locator(h.id, h.version),
        created_at=timestamp(h.created_at),
        updated_at=timestamp(h.updated_at),
    )
    if h.minimum_amount is not None:
        message.minimum.minimum_amount = money.to_wire(h.minimum_amount)
    if h.maximum_amount is not None:
        message.maximum.maximum_amount = money.to_wire(h.maximum_amount)
    return message


def upcoming_invoice_pb(upcoming: UpcomingInvoice) -> invoice_pb2.UpcomingInvoice:
    """An UpcomingInvoice message: the subscription's next invoice as it stands now (a draft with no id)."""
    sub, customer = upcoming.subscription, upcoming.customer
    eligible = timestamp(upcoming.eligible_to_issue_at)
    invoice = invoice_pb2.Invoice(
        status=invoice_pb2.INVOICE_STATUS_DRAFT,
        invoice_source=invoice_pb2.INVOICE_SOURCE_SUBSCRIPTION,
        customer=common_pb2.CustomerRef(id=sub.customer_id, external_customer_id=sub.external_customer_id),
        subscription=common_pb2.SubscriptionRef(id=sub.id),
        currency=sub.plan.currency,
        invoice_date=date_pb(upcoming.invoice_date),
        net_terms=upcoming.net_terms,
        subtotal=money.to_wire(upcoming.totals.subtotal),
        total=money.to_wire(upcoming.totals.total),
        amount_due=money.to_wire(upcoming.totals.total),
        line_items=[line_item_pb(line) for line in upcoming.lines],
        auto_collection=invoice_pb2.AutoCollection(enabled=customer.auto_collection),
        billing_address=address_pb(customer.billing_address),
        shipping_address=address_pb(customer.shipping_address),
        customer_tax_id=tax_id_pb(customer.tax_id),
        will_auto_issue=upcoming.will_auto_issue,
        eligible_to_issue_at=eligible,
        scheduled_issue_at=eligible if upcoming.will_auto_issue else None,
    )
    return invoice_pb2.UpcomingInvoice(target_date=date_pb(upcoming.invoice_date), invoice=invoice)


def invoice_wire(invoice: Invoice) -> bytes:
    """The invoice's wire form: its message, serialized deterministically (map entries in one order)."""
    return invoice_pb(invoice).SerializeToString(deterministic=True)


# Bump when invoice_pb changes what it writes for the same invoice (a new field filled, a format changed):
# stored wire forms of the previous revision are then stale and are rendered again.
RENDER_REVISION = 2  # 2: Invoice.credit_notes filled


def _descriptor_digest(root: FileDescriptor) -> str:
    """A digest of a proto file and every file it imports (their descriptors, comments left out)."""
    files: dict[str, FileDescriptor] = {}
    todo = [root]
    while todo:
        file = todo.pop()
        if file.name not in files:
            files[file.name] = file
            todo.extend(file.dependencies)
    digest = hashlib.sha256()
    for name in sorted(files):
        proto = descriptor_pb2.FileDescriptorProto()
        files[name].CopyToProto(proto)
        digest.update(proto.SerializeToString(deterministic=True))
    return digest.hexdigest()[:16]


class InvoiceWire:
    """The renderer of stored invoice wire forms, named by the schema it renders (see publish.InvoiceRenderer)."""

    schema = f"r{RENDER_REVISION}-{_descriptor_digest(invoice_pb2.DESCRIPTOR)}"

    def __call__(self, invoice: Invoice) -> bytes:
        return invoice_wire(invoice)


def _varint(value: int) -> bytes:
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


# The tags of ListInvoicesResponse's fields: 1 `invoices` and 2 `resume_token`, both length-delimited.
_INVOICES_TAG = bytes([(1 << 3) | 2])
_TOKEN_TAG = bytes([(2 << 3) | 2])


def list_invoices_response(wires: Sequence[bytes], token: str) -> bytes:
    """A ListInvoicesResponse in wire form, from the invoices' stored wire forms, without building messages.

    Protobuf's encoding of a repeated message field is the concatenation of (tag, length, bytes) per element.
    """
    parts: list[bytes] = []
    for wire in wires:
        parts += (_INVOICES_TAG, _varint(len(wire)), wire)
    encoded = token.encode()
    if encoded:
        parts += (_TOKEN_TAG, _varint(len(encoded)), encoded)
    return b"".join(parts)


def invoice_event_pb(event: InvoiceEvent) -> invoice_pb2.InvoiceEvent:
    """An InvoiceEvent message (the invoice is stored in its wire form)."""
    return invoice_pb2.InvoiceEvent(
        sequence=event.sequence,
        type=EVENT_TYPE_NUMBERS[event.kind.value],
        invoice_id=event.invoice_id,
        customer_id=event.customer_id,
        version=event.version,
        occurred_at=timestamp(event.occurred_at),
        invoice=invoice_pb2.Invoice.FromString(event.invoice),
    )


def plan_pb(plan: Plan) -> plan_service_pb2.Plan:
    """A Plan message."""
    return plan_service_pb2.Plan(
        id=plan.id,
        name=plan.name,
        currency=plan.currency,
        prices=[price_pb(p) for p in plan.prices],
        external_plan_id=plan.external_plan_id,
        metadata=plan.metadata,
        created_at=timestamp(plan.created_at),
    )


# --- documents and the account profile ----------------------------------------------------------

_DOCUMENT_FORMATS: dict[int, DocumentFormat] = {
    document_pb2.DOCUMENT_FORMAT_UNSPECIFIED: DocumentFormat.PDF,
    document_pb2.DOCUMENT_FORMAT_PDF: DocumentFormat.PDF,
}
DOCUMENT_CHUNK_BYTES = 64 * 1024


def document_format_from(number: int, violations: Violations) -> DocumentFormat | None:
    """The format a document request asks for; a violation for a number that names no format served."""
    found = _DOCUMENT_FORMATS.get(number)
    if found is None:
        violations.add("format", f"is not a document format served: {number} (DOCUMENT_FORMAT_PDF is)")
    return found


def document_chunks(
    document: RenderedDocument, size: int = DOCUMENT_CHUNK_BYTES
) -> Iterator[document_pb2.DocumentChunk]:
    """A document as a stream of chunks: the first says what it is, every one carries the next bytes."""
    data = document.data
    yield document_pb2.DocumentChunk(
        content_type=document.media_type,
        filename=document.filename,
        version=document.version,
        size_bytes=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        data=data[:size],
    )
    for start in range(size, len(data), size):
        yield document_pb2.DocumentChunk(data=data[start : start + size])


def account_profile_pb(profile: AccountProfile) -> account_service_pb2.AccountProfile:
    """An AccountProfile message."""
    seller = profile.seller
    return account_service_pb2.AccountProfile(
        account_name=profile.account_name,
        name=seller.name,
        email=seller.email,
        address=address_pb(seller.address),
        tax_id=tax_id_pb(seller.tax_id),
        payment_instructions=seller.payment_instructions,
        updated_at=timestamp(profile.updated_at),
    )


def profile_changes_from(
    request: account_service_pb2.UpdateAccountProfileRequest, violations: Violations
) -> ProfileChanges:
    """The changes an UpdateAccountProfile request names (presence decides)."""
    return ProfileChanges(
        name=request.name if request.HasField("name") else None,
        email=request.email if request.HasField("email") else None,
        address=address_from(request.address) if request.HasField("address") else None,
        tax_id=tax_id_from(request.tax_id, "tax_id", violations) if request.HasField("tax_id") else None,
        payment_instructions=request.payment_instructions if request.HasField("payment_instructions") else None,
    )


R = TypeVar("R", CustomerRef, PlanRef)


def customer_ref(request: Any, v: Violations | None = None) -> CustomerRef:
    """The customer a request names by customer_id or external_customer_id, checked into `v` (without `v`:
    INVALID_ARGUMENT at once)."""
    return _checked(CustomerRef(request.customer_id, request.external_customer_id), v)


def plan_ref(request: Any, v: Violations | None = None) -> PlanRef:
    """The plan a request names by plan_id or external_plan_id, checked into `v` (without `v`: INVALID_ARGUMENT
    at once)."""
    return _checked(PlanRef(request.plan_id, request.external_plan_id), v)


def _checked(ref: R, v: Violations | None) -> R:
    violations = Violations() if v is None else v
    ref.check(violations)
    if v is None:
        violations.raise_if_any()
    return ref
