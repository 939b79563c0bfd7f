"""The period-end runner, asked for no account in particular, invoices the due periods of every account in one pass."""

from __future__ import annotations

import datetime as dt

from server.app import RunningServer
from tests.billing_builders import create_plan, fixed_fee, invoices_of, subscribe
from tests.billing_support import Clock
from tests.client import Api, open_api
from tests.conftest import new_account
from tests.factories import create_customer


async def test_one_pass_serves_every_account(
    clocked_api: Api, clocked_server: RunningServer, clock: Clock, migrated_dsn: str
) -> None:
    clock.set(dt.datetime(2024, 5, 10, 12, tzinfo=dt.UTC))
    second = await new_account(migrated_dsn)
    async with open_api(f"127.0.0.1:{clocked_server.port}", second.key) as other_api:
        subscribed = []
        for api in (clocked_api, other_api):
            customer = await create_customer(api, auto_issuance=False)
            plan = await create_plan(api, fixed_fee("Platform", "10.00"))
            await subscribe(api, customer, plan, "2024-05-01")
            subscribed.append((api, customer.id))

        clock.set(dt.datetime(2024, 6, 2, tzinfo=dt.UTC))
        await clocked_server.runner.run_once(clock.now)

        for api, customer_id in subscribed:
            dates = {
                (i.invoice_date.month, i.invoice_date.day) for i in await invoices_of(api, customer_id=customer_id)
            }
            assert {(5, 1), (6, 1)} <= dates, (customer_id, dates)
