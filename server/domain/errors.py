"""Domain errors: what went wrong, in business terms.

Each class corresponds to one gRPC status; `server.errors` is the only place that
turns them into statuses with rich details. Nothing here knows gRPC.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

# The reasons of field violations (BadRequest.FieldViolation.reason and, when every violation of an
# error agrees, ErrorInfo.reason), told apart by how the description starts. The README's error table
# lists them; anything not matched is FIELD_INVALID.
FIELD_REQUIRED = "FIELD_REQUIRED"
FIELD_TOO_LONG = "FIELD_TOO_LONG"
FIELD_OUT_OF_RANGE = "FIELD_OUT_OF_RANGE"
FIELD_CONFLICT = "FIELD_CONFLICT"
FIELD_INVALID = "FIELD_INVALID"
_FIELD_REASONS = [
    (FIELD_REQUIRED, re.compile(r"^is required\b|^must have at least one\b")),
    (
        FIELD_TOO_LONG,
        re.compile(
            r"\bat most \d+ (printable )?characters\b|^must have at most \d+|^is too long\b|^has too many\b"
            r"|^would leave more than \d+|^keys must be 1 to \d+ characters|^a batch has 1 to \d+"
        ),
    ),
    (
        FIELD_OUT_OF_RANGE,
        re.compile(
            r"^must be between\b|^must not be negative\b|^must be greater than zero\b|^must not be (before|below)\b"
            r"|^must be at most one year in the future\b|^must be within\b|^must not be in the future\b"
            r"|^has more (than \d+|decimal places)\b|^is beyond\b"
        ),
    ),
    (FIELD_CONFLICT, re.compile(r"^set (exactly|at most) one of\b|\bnot both\b|\bare also in set\b")),
]


def field_reason(description: str) -> str:
    """The stable reason of a field violation, from its description (FIELD_INVALID when nothing more precise)."""
    for reason, pattern in _FIELD_REASONS:
        if pattern.search(description):
            return reason
    return FIELD_INVALID


@dataclass(frozen=True)
class FieldViolation:
    """One bad field of a request: its path (`line_items[2].quantity`), why, and a stable reason."""

    field: str
    description: str
    reason: str = ""

    def __post_init__(self) -> None:
        if not self.reason:
            object.__setattr__(self, "reason", field_reason(self.description))


class DomainError(Exception):
    """Base of every error a client can cause. `reason` is stable UPPER_SNAKE."""

    reason: str = "ERROR"

    def __init__(self, message: str, *, reason: str | None = None, metadata: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        if reason is not None:
            self.reason = reason
        self.metadata: dict[str, str] = dict(metadata or {})


class InvalidArgument(DomainError):
    """Malformed or missing input; carries one violation per bad field.

    Its reason is the one given, else the violations' reason when they all share one, else FIELD_INVALID.
    """

    reason = FIELD_INVALID

    def __init__(self, violations: list[FieldViolation], *, reason: str | None = None) -> None:
        message = "; ".join(f"{v.field}: {v.description}" for v in violations)
        shared = {v.reason for v in violations}
        super().__init__(message, reason=reason or (shared.pop() if len(shared) == 1 else None))
        self.violations = violations

    @classmethod
    def one(cls, field_path: str, description: str, *, reason: str | None = None) -> InvalidArgument:
        """An error about a single field."""
        return cls([FieldViolation(field_path, description)], reason=reason)


class NotFound(DomainError):
    """The resource does not exist, or belongs to another account."""

    reason = "NOT_FOUND"

    def __init__(self, resource: str, identifier: str) -> None:
        super().__init__(
            f"{resource} {identifier!r} not found",
            reason=f"{resource.upper()}_NOT_FOUND",
            metadata={"resource": resource, "id": identifier},
        )
        self.resource = resource
        self.identifier = identifier


class ReasonedError(DomainError):
    """A domain error whose raiser names its reason: made as (reason, message)."""

    def __init__(self, reason: str, message: str, *, metadata: dict[str, str] | None = None) -> None:
        super().__init__(message, reason=reason, metadata=metadata)


class FailedPrecondition(ReasonedError):
    """A state rule forbids the operation (`INVOICE_NOT_DRAFT`, ...)."""

    def __init__(self, reason: str, message: str, *, subject: str = "", metadata: dict[str, str] | None = None) -> None:
        super().__init__(reason, message, metadata=metadata)
        self.subject = subject


class AlreadyExists(ReasonedError):
    """A unique key is taken (external id, reused request_id)."""


class Aborted(ReasonedError):
    """A concurrency conflict: a version mismatch or a lost lock race."""

    def __init__(
        self, reason: str, message: str, *, retry_after_ms: int | None = None, metadata: dict[str, str] | None = None
    ) -> None:
        super().__init__(reason, message, metadata=metadata)
        self.retry_after_ms = retry_after_ms


class OutOfRange(ReasonedError):
    """A position outside what is kept, such as a change-stream sequence past its retention."""


class Unauthenticated(DomainError):
    """Missing, malformed, unknown or revoked credentials."""

    reason = "UNAUTHENTICATED"


class Unavailable(DomainError):
    """A dependency (the database) cannot be reached, or a commit's outcome is unknown; retryable.

    Reason `COMMIT_UNKNOWN`: the connection was lost while the transaction committed, so the change may or
    may not have been made; retrying with the same `request_id` is safe (it replays or redoes the change).
    """

    reason = "DATABASE_UNAVAILABLE"

    def __init__(self, message: str, *, reason: str | None = None, retry_after_ms: int | None = None) -> None:
        super().__init__(message, reason=reason)
        self.retry_after_ms = retry_after_ms


class ResourceExhausted(DomainError):
    """The server or the caller's account is at a capacity limit; retry after the delay given.

    Reasons: `SERVER_CONCURRENCY_LIMIT`, `ACCOUNT_CONCURRENCY_LIMIT` (calls in flight), `POOL_EXHAUSTED`
    (no database connection became free within the server's own bound).
    """

    def __init__(
        self, reason: str, message: str, *, retry_after_ms: int, metadata: dict[str, str] | None = None
    ) -> None:
        super().__init__(message, reason=reason, metadata=metadata)
        self.retry_after_ms = retry_after_ms


class StreamStalled(Aborted):
    """A List stream whose client stopped reading was ended to free its database connection.

    `resume_token` (also in the error's metadata) continues right after the last record the stream sent;
    empty when it sent none (start again without a token).
    """

    def __init__(self, message: str, *, resume_token: str, retry_after_ms: int) -> None:
        super().__init__(
            "STREAM_STALLED", message, retry_after_ms=retry_after_ms, metadata={"resume_token": resume_token}
        )
        self.resume_token = resume_token


class DeadlineExceeded(DomainError):
    """The caller's deadline passed while the database was working."""

    reason = "DEADLINE_EXCEEDED"


class Unimplemented(DomainError):
    """The RPC is declared in the contract but not yet served."""

    reason = "NOT_IMPLEMENTED"


@dataclass
class Violations:
    """Collects field violations so a request reports all its problems at once."""

    items: list[FieldViolation] = field(default_factory=list)

    def add(self, field_path: str, description: str, *, reason: str = "") -> None:
        """Record one bad field (its reason follows from the description unless given)."""
        self.items.append(FieldViolation(field_path, description, reason))

    def raise_if_any(self) -> None:
        """Raise InvalidArgument if anything was recorded."""
        if self.items:
            raise InvalidArgument(self.items)
