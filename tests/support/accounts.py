"""Test tenants: every test works in an account of its own, so tests never see each other's data."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import asyncpg

from server.db import accounts
from server.keys import hash_key, new_api_key


@dataclass(frozen=True)
class Account:
    """A fresh tenant and its API key."""

    id: str
    name: str
    key: str
    key_id: str


async def new_account(dsn: str) -> Account:
    """Create an account with one API key (in one connection: every test makes one)."""
    name = f"test-{uuid.uuid4().hex[:12]}"
    key = new_api_key()
    conn = await asyncpg.connect(dsn)
    try:
        async with conn.transaction():
            account_id = await accounts.create_account(conn, name, "T" + uuid.uuid4().hex[:5].upper())
            key_id = await accounts.insert_api_key(conn, account_id, hash_key(key), "")
    finally:
        await conn.close()
    return Account(id=account_id, name=name, key=key, key_id=key_id)
