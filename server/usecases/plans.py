"""Plan use cases."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncGenerator

from server.db import plans as repo
from server.db import snapshots
from server.db.pool import Database
from server.domain.pages import Page
from server.domain.plans import NewPlan, Plan, PlanRef
from server.usecases.reads import read
from server.usecases.unit import Tx


async def create_plan(tx: Tx, plan: NewPlan) -> Plan:
    """CreatePlan: a plan and its validated prices."""
    return await repo.insert(tx.conn, tx.account_id, plan)


async def get_plan(db: Database, account_id: str, ref: PlanRef) -> Plan:
    """GetPlan: by id or external id."""
    return await read(db, repo.get_named, account_id, ref)


def list_plans(db: Database, account_id: str, page: Page[tuple[dt.datetime, str]]) -> AsyncGenerator[list[Plan], None]:
    """ListPlans: newest first, from one snapshot, in batches."""
    return snapshots.batches(db, repo.list_query(account_id, page.after), page)
