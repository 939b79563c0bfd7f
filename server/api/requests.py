"""The checks every request shares: the ids it names, its request id, its list limit, the customer it names."""

from __future__ import annotations

from typing import Any

from server.api.converters import customer_ref
from server.domain.customers import CustomerRef
from server.domain.errors import Violations
from server.domain.validation import check_id, check_limit, check_request_id


def field_violations(request: Any, *fields: str) -> Violations:
    """The violations of the request's named fields, in the order named: each a required id, except
    `request_id` (an optional idempotency key) and `limit` (a List RPC's limit). The servicer adds its
    own checks and raises them all at once."""
    v = Violations()
    _check_fields_into(request, fields, v)
    return v


def check_fields(request: Any, *fields: str) -> None:
    """INVALID_ARGUMENT naming every bad one of the request's named fields (as `field_violations` checks them)."""
    field_violations(request, *fields).raise_if_any()


def customer_request(request: Any, *fields: str) -> tuple[CustomerRef, Violations]:
    """The customer the request names (customer_id or external_customer_id) and the violations of that name
    and then of the request's other named fields (as `field_violations` checks them), for the servicer to add
    its own checks to."""
    v = Violations()
    ref = customer_ref(request, v)
    _check_fields_into(request, fields, v)
    return ref, v


def _check_fields_into(request: Any, fields: tuple[str, ...], v: Violations) -> None:
    for field in fields:
        if field == "request_id":
            check_request_id(request.request_id, v)
        elif field == "limit":
            check_limit(request.limit, v)
        else:
            check_id(getattr(request, field), field, v)
