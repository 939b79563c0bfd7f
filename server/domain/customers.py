"""Customer rules: what a valid customer is, and how a balance transaction moves the balance."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from server.domain import money
from server.domain.errors import FailedPrecondition, Violations
from server.domain.tax_ids import TaxId, check_tax_id
from server.domain.validation import (
    MAX_ADDRESS_FIELD_LENGTH,
    MAX_NAME_LENGTH,
    MetadataPatch,
    check_email,
    check_id,
    check_metadata,
    check_metadata_patch,
    check_net_terms,
    check_one_id,
    check_text,
    check_timezone,
)

DEFAULT_NET_TERMS = 30
DEFAULT_TIMEZONE = "UTC"


@dataclass(frozen=True)
class Address:
    """A postal address; every part optional."""

    line1: str = ""
    line2: str = ""
    city: str = ""
    state: str = ""
    postal_code: str = ""
    country: str = ""

    def is_empty(self) -> bool:
        """True when no part is set (used to remove an address)."""
        return not any((self.line1, self.line2, self.city, self.state, self.postal_code, self.country))


def check_address(address: Address, field: str, violations: Violations) -> None:
    """Every part bounded; the country, when set, a two-letter code."""
    for part in ("line1", "line2", "city", "state", "postal_code"):
        check_text(getattr(address, part), f"{field}.{part}", violations, max_length=MAX_ADDRESS_FIELD_LENGTH)
    if address.country and not (len(address.country) == 2 and address.country.isalpha() and address.country.isupper()):
        violations.add(f"{field}.country", 'must be a two-letter ISO 3166-1 code such as "US"')


@dataclass(frozen=True)
class CustomerRef:
    """A customer named by its id or its external id (exactly one is set)."""

    customer_id: str = ""
    external_customer_id: str = ""

    def check(self, violations: Violations) -> None:
        """Exactly one of the two is set, and each is a valid id."""
        check_one_id("customer_id", self.customer_id, "external_customer_id", self.external_customer_id, violations)


@dataclass(frozen=True)
class CustomerSettings:
    """What a customer is created with and may change later: who it is, where it is billed, how its invoices
    are issued and fall due, and its metadata."""

    name: str
    email: str
    currency: str
    timezone: str
    billing_address: Address | None
    shipping_address: Address | None
    tax_id: TaxId | None
    auto_collection: bool
    auto_issuance: bool | None
    net_terms: int
    metadata: Mapping[str, str]


@dataclass(frozen=True)
class NewCustomer(CustomerSettings):
    """A customer to create, after its fields were read from the request."""

    external_customer_id: str

    def validate(self) -> None:
        """Raise InvalidArgument naming every bad field."""
        v = Violations()
        check_text(self.name, "name", v, max_length=MAX_NAME_LENGTH, required=True)
        check_email(self.email, "email", v, required=True)
        check_id(self.external_customer_id, "external_customer_id", v, required=False)
        check_currency(self.currency, "currency", v)
        check_timezone(self.timezone, "timezone", v)
        if self.billing_address is not None:
            check_address(self.billing_address, "billing_address", v)
        if self.shipping_address is not None:
            check_address(self.shipping_address, "shipping_address", v)
        if self.tax_id is not None:
            check_tax_id(self.tax_id, "tax_id", v)
        check_net_terms(self.net_terms, "net_terms", v)
        check_metadata(self.metadata, "metadata", v)
        v.raise_if_any()


@dataclass(frozen=True)
class CustomerChanges:
    """The fields an update names; None means "leave alone".

    For addresses and the tax id, an empty value means "remove".
    """

    name: str | None = None
    email: str | None = None
    currency: str | None = None
    timezone: str | None = None
    billing_address: Address | None = None
    shipping_address: Address | None = None
    tax_id: TaxId | None = None
    auto_collection: bool | None = None
    auto_issuance: bool | None = None
    net_terms: int | None = None
    metadata: MetadataPatch | None = None

    def validate(self) -> None:
        """Raise InvalidArgument naming every bad field that is present."""
        v = Violations()
        if self.name is not None:
            check_text(self.name, "name", v, max_length=MAX_NAME_LENGTH, required=True)
        if self.email is not None:
            check_email(self.email, "email", v, required=True)
        if self.currency is not None:
            check_currency(self.currency, "currency", v)
        if self.timezone is not None:
            check_timezone(self.timezone, "timezone", v)
        for part in ("billing_address", "shipping_address"):
            address = getattr(self, part)
            if address is not None and not address.is_empty():
                check_address(address, part, v)
        if self.tax_id is not None and any((self.tax_id.country, self.tax_id.type, self.tax_id.value)):
            check_tax_id(self.tax_id, "tax_id", v)
        if self.net_terms is not None:
            check_net_terms(self.net_terms, "net_terms", v)
        if self.metadata is not None:
            check_metadata_patch(self.metadata, "metadata", v)
        v.raise_if_any()

    def check_allowed(
        self, *, current_currency: str, current_timezone: str, has_invoices: bool, balance: Decimal
    ) -> None:
        """Currency and timezone are frozen once the customer has invoices; currency also while a balance remains."""
        if self.currency is not None and self.currency != current_currency and balance != 0:
            raise FailedPrecondition(
                "CUSTOMER_HAS_BALANCE",
                "currency cannot change while the customer has a non-zero balance",
                subject="currency",
            )
        if not has_invoices:
            return
        if self.currency is not None and self.currency != current_currency:
            raise FailedPrecondition(
                "CUSTOMER_HAS_INVOICES",
                "currency cannot change once the customer has invoices",
                subject="currency",
            )
        if self.timezone is not None and self.timezone != current_timezone:
            raise FailedPrecondition(
                "CUSTOMER_HAS_INVOICES",
                "timezone cannot change once the customer has invoices",
                subject="timezone",
            )


def check_same_currency(currency: str, customer_currency: str, *, what: str, subject: str) -> None:
    """Whatever bills a customer (an invoice, a plan) bills in the customer's currency."""
    if currency != customer_currency:
        raise FailedPrecondition(
            "CURRENCY_MISMATCH",
            f"{what} bills in {currency}, the customer in {customer_currency}",
            subject=subject,
            metadata={"customer_currency": customer_currency},
        )


def check_currency(code: str, field: str, violations: Violations) -> None:
    """A known ISO 4217 code in upper case."""
    if not code:
        violations.add(field, "is required")
    elif not money.is_currency(code):
        violations.add(field, f'must be an ISO 4217 currency code such as "USD", got {code[:8]!r}')


class BalanceAction(StrEnum):
    """Why a customer balance changed (Orb's action values)."""

    APPLIED_TO_INVOICE = "applied_to_invoice"
    MANUAL_ADJUSTMENT = "manual_adjustment"
    PRORATED_REFUND = "prorated_refund"
    REVERT_PRORATED_REFUND = "revert_prorated_refund"
    RETURN_FROM_VOIDING = "return_from_voiding"
    CREDIT_NOTE_APPLIED = "credit_note_applied"
    CREDIT_NOTE_VOIDED = "credit_note_voided"
    OVERPAYMENT_REFUND = "overpayment_refund"
    EXTERNAL_PAYMENT = "external_payment"
    SMALL_INVOICE_CARRYOVER = "small_invoice_carryover"


class BalanceDirection(StrEnum):
    """Whether a transaction raises or lowers the balance."""

    INCREMENT = "increment"
    DECREMENT = "decrement"


@dataclass(frozen=True)
class BalanceMove:
    """One ledger row to write: the balance before and after, and the signed change."""

    direction: BalanceDirection
    amount: Decimal
    starting_balance: Decimal
    ending_balance: Decimal


def move_balance(starting_balance: Decimal, direction: BalanceDirection, amount: Decimal) -> BalanceMove:
    """The ledger row for changing a balance by a non-negative amount in one direction."""
    delta = amount if direction is BalanceDirection.INCREMENT else -amount
    return BalanceMove(direction, amount, starting_balance, starting_balance + delta)


@dataclass(frozen=True)
class Customer(CustomerSettings):
    """A customer as stored, with its current balance and prepaid credit balance."""

    id: str
    external_customer_id: str  # "" when none
    balance: Decimal
    created_at: dt.datetime
    updated_at: dt.datetime
    credit_balance: Decimal = Decimal(0)  # prepaid credits left: the sum of the credits ledger


@dataclass(frozen=True)
class BalanceTransaction:
    """One immutable row of a customer's balance ledger."""

    id: str
    customer_id: str
    action: BalanceAction
    direction: BalanceDirection
    amount: Decimal
    starting_balance: Decimal
    ending_balance: Decimal
    invoice_id: str | None
    credit_note_id: str | None
    description: str
    created_at: dt.datetime
