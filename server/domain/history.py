"""The history of an invoice: one record per version, with who made it and the invoice as it was then.

The invoice of a version is kept in its wire form (the bytes the API answered with), which only the API
layer reads; here it is opaque.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

# The method recorded for the state an invoice had when its history began (invoices older than history).
HISTORY_START = "history-start"


@dataclass(frozen=True)
class InvoiceVersion:
    """One recorded version of an invoice, and the wire form of the version recorded before it (if any)."""

    invoice_id: str
    version: int
    changed_at: dt.datetime
    method: str  # the RPC ("IssueInvoice"), "billing-runner" or HISTORY_START
    key_id: str  # "" for the service's own work
    request_id: str  # "" when none
    invoice: bytes
    previous: bytes | None  # the invoice at the version recorded before, None for the first


@dataclass(frozen=True)
class PendingVersion:
    """A first version the migration recorded without its wire form (rendered at start-up)."""

    account_id: str
    invoice_id: str
    version: int
