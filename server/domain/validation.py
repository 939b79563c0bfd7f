"""Input limits and the checks shared by every request: text, metadata, keys, dates."""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Final

from server.domain.errors import FIELD_CONFLICT, FIELD_REQUIRED, InvalidArgument, Violations

MAX_REQUEST_ID_LENGTH: Final = 64
MAX_ID_LENGTH: Final = 64
# ASCII control characters (C0 and DEL), which no id may hold.
_CONTROL_CHARACTER: Final = re.compile(r"[\x00-\x1f\x7f]")
MAX_NAME_LENGTH: Final = 255
MAX_EMAIL_LENGTH: Final = 320
MAX_DESCRIPTION_LENGTH: Final = 1000
MAX_MEMO_LENGTH: Final = 4000
MAX_ADDRESS_FIELD_LENGTH: Final = 255
MAX_METADATA_ENTRIES: Final = 50
MAX_METADATA_KEY_LENGTH: Final = 40
MAX_METADATA_VALUE_LENGTH: Final = 500
MAX_LINE_ITEMS: Final = 500
MAX_NET_TERMS: Final = 365

_EMAIL_RE: Final = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
_REQUEST_ID_RE: Final = re.compile(r"[\x21-\x7e]+")


def check_text(value: str, field: str, violations: Violations, *, max_length: int, required: bool = False) -> None:
    """A string field: present when required, not longer than max_length, no control characters."""
    if required and not value.strip():
        violations.add(field, "is required")
    elif len(value) > max_length:
        violations.add(field, f"must be at most {max_length} characters")
    elif any(ord(ch) < 0x20 and ch not in "\n\t" for ch in value):
        violations.add(field, "must not contain control characters")


def check_request_id(value: str, violations: Violations) -> None:
    """An optional idempotency key: at most 64 printable ASCII characters."""
    if not value:
        return
    if len(value) > MAX_REQUEST_ID_LENGTH:
        violations.add("request_id", f"must be at most {MAX_REQUEST_ID_LENGTH} characters")
    elif not _REQUEST_ID_RE.fullmatch(value):
        violations.add("request_id", "must be printable ASCII without spaces")


def check_id(value: str, field: str, violations: Violations, *, required: bool = True) -> None:
    """A resource id from the client: required unless told otherwise, and bounded."""
    if not value:
        if required:
            violations.add(field, "is required")
    elif len(value) > MAX_ID_LENGTH:
        violations.add(field, f"must be at most {MAX_ID_LENGTH} characters")
    elif _CONTROL_CHARACTER.search(value):
        violations.add(field, "must not contain control characters")


def check_one_id(
    id_field: str, id_value: str, external_field: str, external_value: str, violations: Violations
) -> None:
    """Exactly one of an id and an external id names the object, and each is a valid id."""
    if bool(id_value) == bool(external_value):
        reason = FIELD_CONFLICT if id_value else FIELD_REQUIRED  # both given, or neither
        violations.add(id_field, f"set exactly one of {id_field} and {external_field}", reason=reason)
    check_id(id_value, id_field, violations, required=False)
    check_id(external_value, external_field, violations, required=False)


def check_email(value: str, field: str, violations: Violations, *, required: bool) -> None:
    """An e-mail address with one @ and a dotted domain."""
    if not value:
        if required:
            violations.add(field, "is required")
    elif len(value) > MAX_EMAIL_LENGTH or not _EMAIL_RE.fullmatch(value) or any(ord(ch) < 0x20 for ch in value):
        violations.add(field, "must be an e-mail address")


def check_metadata(entries: Mapping[str, str], field: str, violations: Violations) -> None:
    """Metadata: at most 50 entries, keys 1-40 and values up to 500 characters."""
    if len(entries) > MAX_METADATA_ENTRIES:
        violations.add(field, f"must have at most {MAX_METADATA_ENTRIES} entries")
        return
    for key, value in entries.items():
        if not key or len(key) > MAX_METADATA_KEY_LENGTH:
            violations.add(f"{field}[{key[:40]!r}]", f"keys must be 1 to {MAX_METADATA_KEY_LENGTH} characters")
        elif len(value) > MAX_METADATA_VALUE_LENGTH:
            violations.add(f"{field}[{key!r}]", f"values must be at most {MAX_METADATA_VALUE_LENGTH} characters")
        elif "\x00" in key or "\x00" in value:
            violations.add(f"{field}[{key!r}]", "keys and values must not contain NUL characters")


@dataclass(frozen=True)
class MetadataPatch:
    """A metadata change: clear everything, then remove keys, then set keys."""

    set: Mapping[str, str]
    remove_keys: Sequence[str]
    clear: bool

    def apply(self, current: Mapping[str, str]) -> dict[str, str]:
        """The metadata after the change; InvalidArgument if it would exceed the entry limit."""
        result = {} if self.clear else dict(current)
        for key in self.remove_keys:
            result.pop(key, None)
        result.update(self.set)
        if len(result) > MAX_METADATA_ENTRIES:
            raise InvalidArgument.one("metadata.set", f"would leave more than {MAX_METADATA_ENTRIES} entries")
        return result


def check_metadata_patch(patch: MetadataPatch, field: str, violations: Violations) -> None:
    """A metadata change: valid entries, and no key both removed and set."""
    check_metadata(patch.set, f"{field}.set", violations)
    if len(patch.remove_keys) > MAX_METADATA_ENTRIES * 2:
        violations.add(f"{field}.remove_keys", "has too many keys")
    both = sorted(set(patch.remove_keys) & set(patch.set))
    if both:
        violations.add(f"{field}.remove_keys", f"keys {both[:5]} are also in set")


@lru_cache(maxsize=1024)
def _known_timezone(name: str) -> bool:
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return False
    return True


def check_timezone(value: str, field: str, violations: Violations) -> None:
    """An IANA timezone name such as "Europe/Paris"."""
    if len(value) > 64 or not _known_timezone(value):
        violations.add(field, f'must be an IANA timezone such as "America/New_York", got {value[:64]!r}')


def check_net_terms(value: int, field: str, violations: Violations) -> None:
    """Payment terms in days, 0 to 365."""
    if not 0 <= value <= MAX_NET_TERMS:
        violations.add(field, f"must be between 0 and {MAX_NET_TERMS} days")


def check_limit(value: int, violations: Violations) -> None:
    """The `limit` of a List RPC: 0 (all) or a positive count."""
    if value < 0:
        violations.add("limit", "must not be negative (0 means no limit)")


def today_in(timezone: str, now: dt.datetime) -> dt.date:
    """The calendar date at instant `now` in the given IANA timezone."""
    return now.astimezone(zoneinfo.ZoneInfo(timezone)).date()


@dataclass(frozen=True)
class TimeRange:
    """Optional bounds on an instant (a list's created_at_* filters); None means unbounded."""

    gt: dt.datetime | None = None
    gte: dt.datetime | None = None
    lt: dt.datetime | None = None
    lte: dt.datetime | None = None
