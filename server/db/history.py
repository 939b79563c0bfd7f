"""Invoice versions (SQL only): written in the mutation's transaction, read back by version or as a list.

Each list row carries the wire form of the version recorded before it, so that the changes between the
two can be shown without a second query, from any position a stream resumes at.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import asyncpg

from server.db.records import record_from
from server.db.snapshots import ListQuery
from server.domain.history import InvoiceVersion, PendingVersion
from server.domain.invoices import InvoiceHeader


async def invoice_at(conn: asyncpg.Connection, account_id: str, invoice_id: str, version: int) -> bytes | None:
    """The wire form of one recorded version, or None if that version is not recorded."""
    data: bytes | None = await conn.fetchval(
        "SELECT invoice FROM invoice_versions WHERE account_id = $1 AND invoice_id = $2 AND version = $3",
        account_id,
        invoice_id,
        version,
    )
    return data


def _version_from(row: Mapping[str, Any]) -> InvoiceVersion:
    return record_from(InvoiceVersion, row)


def versions_query(account_id: str, invoice_id: str, after: int | None) -> ListQuery[InvoiceVersion]:
    """SQL and arguments listing an invoice's recorded versions, oldest first, after a version."""
    return ListQuery(
        """
        SELECT v.invoice_id, v.version, v.changed_at, v.method, v.key_id, v.request_id, v.invoice,
            (SELECT p.invoice FROM invoice_versions p
              WHERE p.account_id = v.account_id AND p.invoice_id = v.invoice_id AND p.version < v.version
                AND p.invoice IS NOT NULL
              ORDER BY p.version DESC LIMIT 1) AS previous
        FROM invoice_versions v
        WHERE v.account_id = $1 AND v.invoice_id = $2 AND v.invoice IS NOT NULL AND v.version > $3
        ORDER BY v.version
        """,
        [account_id, invoice_id, after or 0],
        _version_from,
    )


async def lock_pending(conn: asyncpg.Connection, limit: int) -> list[PendingVersion]:
    """Lock up to `limit` first versions still waiting for their wire form (skipping those others hold)."""
    rows = await conn.fetch(
        """
        SELECT account_id, invoice_id, version FROM invoice_versions WHERE invoice IS NULL
        ORDER BY account_id, invoice_id LIMIT $1 FOR NO KEY UPDATE SKIP LOCKED
        """,
        limit,
    )
    return [PendingVersion(r["account_id"], r["invoice_id"], r["version"]) for r in rows]


async def complete_pending(
    conn: asyncpg.Connection, pending: PendingVersion, header: InvoiceHeader, invoice: bytes
) -> None:
    """Give a locked pending version its wire form: the invoice as it is now, read under its lock.

    Normally the invoice is still at the pending version. If something changed it since the migration
    without recording history (a process of an older release), the record becomes the current version;
    and if that version is already recorded, the pending record goes (history starts there).
    """
    if header.version != pending.version:
        taken = await conn.fetchval(
            "SELECT EXISTS (SELECT 1 FROM invoice_versions WHERE account_id = $1 AND invoice_id = $2 AND version = $3)",
            pending.account_id,
            pending.invoice_id,
            header.version,
        )
        if taken:
            await conn.execute(
                "DELETE FROM invoice_versions WHERE account_id = $1 AND invoice_id = $2 AND version = $3",
                pending.account_id,
                pending.invoice_id,
                pending.version,
            )
            return
    await conn.execute(
        """
        UPDATE invoice_versions SET version = $4, changed_at = $5, invoice = $6
        WHERE account_id = $1 AND invoice_id = $2 AND version = $3
        """,
        pending.account_id,
        pending.invoice_id,
        pending.version,
        header.version,
        header.updated_at,
        invoice,
    )
