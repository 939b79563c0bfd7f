"""Domain errors: what went wrong, in business terms.

Each class corresponds to one gRPC status; `server.errors` is the only place that
turns them into statuses with rich details. Nothing here knows gRPC.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class FieldViolation:
    """One bad field of a request: its path (`line_items[2].quantity`) and why."""

    field: str
    description: str


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
    """Malformed or missing input; carries one violation per bad field."""

    reason = "INVALID_ARGUMENT"

    def __init__(self, violations: list[FieldViolation], *, reason: str | None = None) -> None:
        message = "; ".join(f"{v.field}: {v.description}" for v in violations)
        super().__init__(message, reason=reason)
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


class FailedPrecondition(DomainError):
    """A state rule forbids the operation (`INVOICE_NOT_DRAFT`, ...)."""

    def __init__(self, reason: str, message: str, *, subject: str = "", metadata: dict[str, str] | None = None) -> None:
        super().__init__(message, reason=reason, metadata=metadata)
        self.subject = subject


class AlreadyExists(DomainError):
    """A unique key is taken (external id, reused request_id)."""

    def __init__(self, reason: str, message: str, *, metadata: dict[str, str] | None = None) -> None:
        super().__init__(message, reason=reason, metadata=metadata)


class Aborted(DomainError):
    """A concurrency conflict: a version mismatch or a lost lock race."""

    def __init__(
        self, reason: str, message: str, *, retry_after_ms: int | None = None, metadata: dict[str, str] | None = None
    ) -> None:
        super().__init__(message, reason=reason, metadata=metadata)
        self.retry_after_ms = retry_after_ms


class OutOfRange(DomainError):
    """A position outside what is kept, such as a change-stream sequence past its retention."""

    def __init__(self, reason: str, message: str, *, metadata: dict[str, str] | None = None) -> None:
        super().__init__(message, reason=reason, metadata=metadata)


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

    def add(self, field_path: str, description: str) -> None:
        """Record one bad field."""
        self.items.append(FieldViolation(field_path, description))

    def raise_if_any(self) -> None:
        """Raise InvalidArgument if anything was recorded."""
        if self.items:
            raise InvalidArgument(self.items)
