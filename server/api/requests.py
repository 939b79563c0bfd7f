"""The checks of a request that names only ids (and perhaps a request id or a list limit)."""

from __future__ import annotations

from typing import Any

from server.domain.errors import Violations
from server.domain.validation import check_id, check_limit, check_request_id


def check_fields(request: Any, *fields: str) -> None:
    """INVALID_ARGUMENT naming every bad one of the request's named fields: each a required id, except
    `request_id` (an optional idempotency key) and `limit` (a List RPC's limit)."""
    v = Violations()
    for field in fields:
        if field == "request_id":
            check_request_id(request.request_id, v)
        elif field == "limit":
            check_limit(request.limit, v)
        else:
            check_id(getattr(request, field), field, v)
    v.raise_if_any()
