"""The one mapping from errors to gRPC statuses with rich details.

Domain errors become their status with an ErrorInfo (stable reason, our
domain) plus BadRequest, PreconditionFailure or RetryInfo as they call for.
Database failures become UNAVAILABLE, DEADLINE_EXCEEDED or ABORTED: running out
of time is always DEADLINE_EXCEEDED (checked before connection errors, since
TimeoutError is an OSError), and only a database that does not answer is
UNAVAILABLE. Anything else is a bug: it is logged with its traceback and
reported as INTERNAL.
"""

from __future__ import annotations

import asyncio
import logging

import asyncpg
import grpc
from google.protobuf import any_pb2, duration_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

from server.context import remaining_seconds
from server.db.pool import is_connection_loss
from server.domain import errors as e

log = logging.getLogger(__name__)

ERROR_DOMAIN = "invoicing.v1"

_CODES: list[tuple[type[e.DomainError], int]] = [
    (e.InvalidArgument, code_pb2.INVALID_ARGUMENT),
    (e.NotFound, code_pb2.NOT_FOUND),
    (e.FailedPrecondition, code_pb2.FAILED_PRECONDITION),
    (e.AlreadyExists, code_pb2.ALREADY_EXISTS),
    (e.Aborted, code_pb2.ABORTED),
    (e.Unauthenticated, code_pb2.UNAUTHENTICATED),
    (e.OutOfRange, code_pb2.OUT_OF_RANGE),
    (e.Unavailable, code_pb2.UNAVAILABLE),
    (e.ResourceExhausted, code_pb2.RESOURCE_EXHAUSTED),
    (e.DeadlineExceeded, code_pb2.DEADLINE_EXCEEDED),
    (e.Unimplemented, code_pb2.UNIMPLEMENTED),
]

# PostgreSQL conditions that mean "try again": lock_timeout, serialization, deadlock.
_RETRYABLE_SQLSTATES = {"55P03": "LOCK_TIMEOUT", "40001": "SERIALIZATION_FAILURE", "40P01": "DEADLOCK_DETECTED"}
_RETRY_AFTER_MS = 50
_UNAVAILABLE_RETRY_AFTER_MS = 500


def to_domain_error(exc: BaseException) -> e.DomainError | None:
    """Translate a database or timeout failure into a domain error; None if it is not one."""
    if isinstance(exc, e.DomainError):
        return exc
    if isinstance(exc, asyncpg.PostgresError):
        state = getattr(exc, "sqlstate", "") or ""
        if state in _RETRYABLE_SQLSTATES:
            return e.Aborted(
                _RETRYABLE_SQLSTATES[state], "lost a race for a lock; retry", retry_after_ms=_RETRY_AFTER_MS
            )
        if state in {"22021", "22P05"}:  # text the database cannot store (NUL, bad encoding)
            return e.InvalidArgument.one("request", "contains characters that cannot be stored (such as NUL)")
        if state == "57014":  # query_canceled: statement_timeout from the call's deadline
            return e.DeadlineExceeded("the deadline passed while the database was working")
        if is_connection_loss(exc) or state == "53300":  # 53300: the database refuses more connections
            return e.Unavailable("the database is unavailable; retry")
        return None
    # TimeoutError before OSError: since Python 3.11 asyncio's TimeoutError is the builtin one, an OSError.
    if isinstance(exc, (TimeoutError, asyncio.TimeoutError)):
        left = remaining_seconds()
        if left is not None and left <= 0.05:  # cut short by the caller's own deadline
            return e.DeadlineExceeded("the deadline passed while waiting for the database")
        # Not the caller's deadline: a statement got no answer within the server's command timeout.
        return e.Unavailable("the database did not answer in time; retry")
    if is_connection_loss(exc):
        return e.Unavailable("the database is unavailable; retry")
    return None


def to_status(error: e.DomainError) -> grpc.Status:
    """The gRPC status, with details, for a domain error."""
    code = next(c for cls, c in _CODES if isinstance(error, cls))
    details = [
        error_details_pb2.ErrorInfo(reason=error.reason, domain=ERROR_DOMAIN, metadata=error.metadata),
    ]
    if isinstance(error, e.InvalidArgument):
        details.append(
            error_details_pb2.BadRequest(
                field_violations=[
                    error_details_pb2.BadRequest.FieldViolation(
                        field=v.field, description=v.description, reason=v.reason
                    )
                    for v in error.violations
                ]
            )
        )
    elif isinstance(error, e.FailedPrecondition):
        details.append(
            error_details_pb2.PreconditionFailure(
                violations=[
                    error_details_pb2.PreconditionFailure.Violation(
                        type=error.reason, subject=error.subject, description=error.message
                    )
                ]
            )
        )
    elif isinstance(error, (e.Aborted, e.Unavailable, e.ResourceExhausted)):
        retry_ms = error.retry_after_ms or (
            _RETRY_AFTER_MS if isinstance(error, e.Aborted) else _UNAVAILABLE_RETRY_AFTER_MS
        )
        details.append(
            error_details_pb2.RetryInfo(
                retry_delay=duration_pb2.Duration(seconds=retry_ms // 1000, nanos=(retry_ms % 1000) * 1_000_000)
            )
        )
    packed = []
    for detail in details:
        holder = any_pb2.Any()
        holder.Pack(detail)
        packed.append(holder)
    return rpc_status.to_status(status_pb2.Status(code=code, message=error.message, details=packed))


def status_for_exception(exc: BaseException, method: str) -> grpc.Status:
    """The status to send for any exception a handler raised."""
    domain_error = to_domain_error(exc)
    if domain_error is None:
        log.error("unexpected error in %s", method, exc_info=exc)
        return rpc_status.to_status(
            status_pb2.Status(code=code_pb2.INTERNAL, message="internal error; it has been logged")
        )
    if isinstance(domain_error, e.Unavailable):
        log.warning("database unavailable in %s (%s): %r", method, domain_error.reason, exc)
    return to_status(domain_error)
