"""Subscriptions as stored: the plan they bill and the customer settings billing needs."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass

from server.domain.plans import Plan


@dataclass(frozen=True)
class SubscriptionRecord:
    """A subscription row with its customer's billing settings and its plan."""

    id: str
    customer_id: str
    external_customer_id: str  # "" when none
    timezone: str  # the customer's: it decides which instant a billing date means
    customer_auto_issuance: bool | None
    plan: Plan
    start_date: dt.date
    end_date: dt.date | None  # exclusive: billing stops at the start of this day
    align_to_start: bool
    net_terms: int
    auto_issuance: bool | None
    metadata: Mapping[str, str]
    next_boundary: int
    created_at: dt.datetime
