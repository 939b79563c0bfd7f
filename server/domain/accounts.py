"""The account's seller profile: who its invoices say they are from, and what a change to it may hold."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Final

from server.domain.customers import Address, check_address
from server.domain.errors import Violations
from server.domain.tax_ids import TaxId, check_tax_id
from server.domain.validation import MAX_DESCRIPTION_LENGTH, MAX_NAME_LENGTH, check_email, check_text

MAX_PAYMENT_INSTRUCTIONS_LENGTH: Final = MAX_DESCRIPTION_LENGTH


@dataclass(frozen=True)
class Seller:
    """The seller block of a document: name (the account's name until a profile sets one), contact, address."""

    name: str
    email: str = ""
    address: Address | None = None
    tax_id: TaxId | None = None
    payment_instructions: str = ""


@dataclass(frozen=True)
class AccountProfile:
    """An account's profile: its own name, the seller it prints on documents, and when that last changed."""

    account_name: str
    seller: Seller
    updated_at: dt.datetime | None  # None until the profile is first set


@dataclass(frozen=True)
class ProfileChanges:
    """The fields an UpdateAccountProfile names; None leaves a field alone.

    An empty name goes back to the account's name; an empty e-mail, address, tax id or payment
    instructions removes them.
    """

    name: str | None = None
    email: str | None = None
    address: Address | None = None
    tax_id: TaxId | None = None
    payment_instructions: str | None = None

    def validate(self, violations: Violations) -> None:
        """Record every bad field that is present."""
        if self.name is not None:
            check_text(self.name, "name", violations, max_length=MAX_NAME_LENGTH)
        if self.email is not None:
            check_email(self.email, "email", violations, required=False)
        if self.address is not None and not self.address.is_empty():
            check_address(self.address, "address", violations)
        if self.tax_id is not None and any((self.tax_id.country, self.tax_id.type, self.tax_id.value)):
            check_tax_id(self.tax_id, "tax_id", violations)
        if self.payment_instructions is not None:
            check_text(
                self.payment_instructions,
                "payment_instructions",
                violations,
                max_length=MAX_PAYMENT_INSTRUCTIONS_LENGTH,
            )
