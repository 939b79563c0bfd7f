"""Account use cases: read and change the account's seller profile."""

from __future__ import annotations

from server.db import account_profiles as repo
from server.db.pool import Database
from server.domain.accounts import AccountProfile, ProfileChanges
from server.usecases.reads import read
from server.usecases.unit import Tx


async def get_account_profile(db: Database, account_id: str) -> AccountProfile:
    """GetAccountProfile."""
    return await read(db, repo.get, account_id)


async def update_account_profile(tx: Tx, changes: ProfileChanges) -> AccountProfile:
    """UpdateAccountProfile: the named fields; the profile row's lock serialises concurrent changes."""
    return await repo.update(tx.conn, tx.account_id, changes)
