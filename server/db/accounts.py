"""Accounts, their API keys and server-wide secrets (SQL only)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import asyncpg

from server.domain.ids import new_id


async def create_account(conn: asyncpg.Connection, name: str, invoice_prefix: str) -> str:
    """Insert an account and return its id."""
    account_id = new_id("acct")
    await conn.execute(
        "INSERT INTO accounts (id, name, invoice_prefix) VALUES ($1, $2, $3)", account_id, name, invoice_prefix
    )
    return account_id


async def find_account_by_name(conn: asyncpg.Connection, name: str) -> str | None:
    """The id of the account with this name, if any."""
    value: str | None = await conn.fetchval("SELECT id FROM accounts WHERE name = $1", name)
    return value


async def insert_api_key(conn: asyncpg.Connection, account_id: str, key_hash: bytes, description: str) -> str:
    """Store the hash of a new key; return the key's id."""
    key_id = new_id("key")
    await conn.execute(
        "INSERT INTO api_keys (id, account_id, key_hash, description) VALUES ($1, $2, $3, $4)",
        key_id,
        account_id,
        key_hash,
        description,
    )
    return key_id


async def revoke_api_key(conn: asyncpg.Connection, key_id: str) -> bool:
    """Mark a key revoked; False if there is no such active key."""
    status: str = await conn.execute(
        "UPDATE api_keys SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL", key_id
    )
    return status == "UPDATE 1"


@dataclass(frozen=True)
class ApiKey:
    """An API key as stored (its hash only)."""

    id: str
    account_id: str
    revoked_at: dt.datetime | None


async def key_by_hash(conn: asyncpg.Connection, key_hash: bytes) -> ApiKey | None:
    """The key with this hash, or None."""
    row = await conn.fetchrow("SELECT id, account_id, revoked_at FROM api_keys WHERE key_hash = $1", key_hash)
    return None if row is None else ApiKey(id=row["id"], account_id=row["account_id"], revoked_at=row["revoked_at"])


async def server_secret(conn: asyncpg.Connection, name: str, candidate: bytes) -> bytes:
    """The stored secret called name; the first caller's candidate wins, so all processes agree."""
    await conn.execute(
        "INSERT INTO server_secrets (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING", name, candidate
    )
    value: bytes = await conn.fetchval("SELECT value FROM server_secrets WHERE name = $1", name)
    return value


async def revoked_key_ids(conn: asyncpg.Connection, key_ids: list[str]) -> set[str]:
    """Those of key_ids that are revoked or no longer exist."""
    rows = await conn.fetch(
        "SELECT wanted.id FROM unnest($1::text[]) AS wanted(id)"
        " LEFT JOIN api_keys k ON k.id = wanted.id WHERE k.id IS NULL OR k.revoked_at IS NOT NULL",
        key_ids,
    )
    return {row["id"] for row in rows}


async def account_ids(conn: asyncpg.Connection, *, unswept_for: str | None = None) -> list[str]:
    """Every account's id, in id order; with `unswept_for`, only the accounts whose stored invoice forms the
    background sweep has not yet found current under that rendering schema."""
    rows = await conn.fetch(
        "SELECT id FROM accounts WHERE $1::text IS NULL OR wire_schema_swept IS DISTINCT FROM $1 ORDER BY id",
        unswept_for,
    )
    return [row["id"] for row in rows]


async def mark_swept(conn: asyncpg.Connection, account_id: str, schema: str) -> None:
    """Record that every stored invoice form of the account was found current under `schema` (or rendered)."""
    await conn.execute("UPDATE accounts SET wire_schema_swept = $2 WHERE id = $1", account_id, schema)
