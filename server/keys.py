"""API keys: their form and hash, and their administration (command line, demo set-up).

Keys look like `sk_<43 random characters>`; only their SHA-256 is stored (a
fast hash is right for 256-bit random secrets).
"""

from __future__ import annotations

import hashlib
import re
import secrets

import asyncpg

from server.db import accounts

KEY_PREFIX = "sk_"
_PREFIX_RE = re.compile(r"[A-Z0-9]{1,12}")


def new_api_key() -> str:
    """A fresh random API key (shown once, never stored)."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


def hash_key(key: str) -> bytes:
    """What is stored and looked up for a key."""
    return hashlib.sha256(key.encode()).digest()


def default_prefix(account_name: str) -> str:
    """An invoice prefix derived from the account name ("Acme Corp" → "ACMECORP")."""
    letters = re.sub(r"[^A-Z0-9]", "", account_name.upper())[:8]
    return letters or "INV"


async def create_key(
    dsn: str, account_name: str, *, invoice_prefix: str | None = None, description: str = ""
) -> tuple[str, str]:
    """Create a key for the named account (creating the account if needed); return (key id, key)."""
    prefix = invoice_prefix or default_prefix(account_name)
    if not _PREFIX_RE.fullmatch(prefix):
        raise ValueError("invoice prefix must be 1 to 12 characters A-Z or 0-9")
    conn = await asyncpg.connect(dsn)
    try:
        async with conn.transaction():
            account_id = await accounts.find_account_by_name(conn, account_name)
            if account_id is None:
                account_id = await accounts.create_account(conn, account_name, prefix)
            key = new_api_key()
            key_id = await accounts.insert_api_key(conn, account_id, hash_key(key), description)
    finally:
        await conn.close()
    return key_id, key


async def revoke_key(dsn: str, key_id: str) -> bool:
    """Revoke a key by id; False if there is no such active key."""
    conn = await asyncpg.connect(dsn)
    try:
        return await accounts.revoke_api_key(conn, key_id)
    finally:
        await conn.close()


async def key_is_active(dsn: str, key: str) -> bool:
    """True if the key exists and is not revoked."""
    conn = await asyncpg.connect(dsn)
    try:
        found = await accounts.key_by_hash(conn, hash_key(key))
    finally:
        await conn.close()
    return found is not None and found.revoked_at is None
