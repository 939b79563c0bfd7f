"""Account seller profiles (SQL only).

The seller a document prints comes from the SQL function `account_seller` (migration 0005), which
falls back to the account's name; the profile is read through it so that both agree.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import asyncpg

from server.db.customers import assignments
from server.db.records import record_from
from server.domain.accounts import AccountProfile, ProfileChanges, Seller

_PROFILE_SELECT = """
SELECT a.name AS account_name, account_seller(a.id) AS seller, p.updated_at
FROM accounts a LEFT JOIN account_profiles p ON p.account_id = a.id
WHERE a.id = $1
"""


def seller_from(data: Mapping[str, Any]) -> Seller:
    """The seller stored as JSON (account_seller's output)."""
    return record_from(Seller, data)


async def get(conn: asyncpg.Connection, account_id: str) -> AccountProfile:
    """The account's profile (its defaults until one is set)."""
    row = await conn.fetchrow(_PROFILE_SELECT, account_id)
    assert row is not None, "an authenticated account exists"
    return AccountProfile(
        account_name=row["account_name"], seller=seller_from(row["seller"]), updated_at=row["updated_at"]
    )


async def update(conn: asyncpg.Connection, account_id: str, changes: ProfileChanges) -> AccountProfile:
    """Write the named changes, creating the profile row on first use, and return the profile."""
    args: list[Any] = [account_id]
    plain = {"name": changes.name, "email": changes.email, "payment_instructions": changes.payment_instructions}
    changed = ["updated_at = now()", *assignments(args, plain, {"address": changes.address, "tax_id": changes.tax_id})]
    # The row is created on first use; the update then holds its lock until commit, so concurrent changes
    # serialise on it.
    await conn.execute(
        "INSERT INTO account_profiles (account_id) VALUES ($1) ON CONFLICT (account_id) DO NOTHING", account_id
    )
    await conn.execute(f"UPDATE account_profiles SET {', '.join(changed)} WHERE account_id = $1", *args)
    return await get(conn, account_id)
