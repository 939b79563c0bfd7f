"""Bulk data for benchmarks, written with set-based SQL (the API path is measured, not used to seed)."""

from __future__ import annotations

import asyncpg


async def seed_invoices(dsn: str, account_name: str, count: int) -> str:
    """Create 100 customers and `count` issued-looking invoices with 5 lines each; return one invoice id."""
    conn = await asyncpg.connect(dsn)
    try:
        account_id = await conn.fetchval("SELECT id FROM accounts WHERE name = $1", account_name)
        async with conn.transaction():
            await conn.execute(
                """
                INSERT INTO customers (account_id, id, external_customer_id, name, email, currency, timezone,
                    auto_collection, net_terms, balance)
                SELECT $1, 'cus_bench_' || g, 'bench-' || g, 'Customer ' || g, 'c' || g || '@bench.example',
                    'USD', 'UTC', false, 30, 0.00
                FROM generate_series(1, 100) g
                """,
                account_id,
            )
            await conn.execute(
                """
                INSERT INTO invoices (account_id, id, customer_id, invoice_source, status, invoice_number, currency,
                    invoice_date, due_date, net_terms, subtotal, total, amount_due, auto_collection, memo, metadata,
                    issued_at, paid_at)
                SELECT $1, 'inv_bench_' || lpad(g::text, 9, '0'), 'cus_bench_' || (g % 100 + 1), 'one_off',
                    CASE WHEN g % 3 = 0 THEN 'paid' ELSE 'issued' END, 'BENCH-' || lpad(g::text, 7, '0'), 'USD',
                    date '2020-01-01' + (g % 1500), date '2020-01-31' + (g % 1500), 30, 62.50, 62.50, 62.50,
                    false, 'benchmark invoice', '{"source": "bench"}', now(), CASE WHEN g % 3 = 0 THEN now() END
                FROM generate_series(1, $2) g
                """,
                account_id,
                count,
            )
            await conn.execute(
                """
                INSERT INTO invoice_line_items (account_id, invoice_id, id, position, name, quantity, unit_amount,
                    start_date, end_date, subtotal, adjusted_subtotal, amount, price, is_one_off)
                SELECT $1, i.id, i.id || '_' || p, p, 'Line ' || p, 5, 2.50, i.invoice_date - 30, i.invoice_date,
                    12.50, 12.50, 12.50,
                    jsonb_build_object('id', 'price_bench_' || p, 'name', 'Line ' || p, 'model_type', 'unit',
                        'price_type', 'fixed_price', 'cadence', 'one_time', 'billing_mode', 'in_advance',
                        'currency', 'USD', 'fixed_price_quantity', '5', 'unit_config',
                        jsonb_build_object('unit_amount', '2.50')),
                    true
                FROM invoices i CROSS JOIN generate_series(0, 4) p
                WHERE i.account_id = $1
                """,
                account_id,
            )
        await conn.execute("ANALYZE")
        invoice_id: str = await conn.fetchval(
            "SELECT id FROM invoices WHERE account_id = $1 ORDER BY id LIMIT 1", account_id
        )
        return invoice_id
    finally:
        await conn.close()
