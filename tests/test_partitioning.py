"""The schema distributes by account: every account-scoped table is keyed by account_id, and the same
migrations build it hash-partitioned by account_id (PostgreSQL then enforces the rule Citus sets).

The catalog checks run on the session schema in whichever layout it has (`make test`: plain tables;
`make test-partitioned`: partitioned), so a new table or key that breaks the rule fails in both. A fresh
database is also migrated partitioned in every run, which proves each migration applies in that layout.
"""

from __future__ import annotations

import re
from pathlib import Path

import asyncpg
import pytest

from server.db import partitioning
from server.db.migrate import LayoutMismatch, migrate
from server.db.partitioning import DISTRIBUTION_COLUMN, GLOBAL_TABLES
from tests.support.serve import run_server_command

PARTITIONS = 4


async def _fetch(dsn: str, sql: str) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(dsn)
    try:
        return list(await conn.fetch(sql))
    finally:
        await conn.close()


async def tables(dsn: str) -> dict[str, set[str]]:
    """Table (not partition) → its column names, in the public schema."""
    rows = await _fetch(
        dsn,
        """
        SELECT c.relname AS name, array_agg(a.attname::text) AS columns
        FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
        WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p') AND NOT c.relispartition
        GROUP BY c.relname
        """,
    )
    return {r["name"]: set(r["columns"]) for r in rows}


async def unique_keys(dsn: str) -> list[tuple[str, str, list[str]]]:
    """(table, index, columns in key order) of every unique index (primary keys and unique constraints included)."""
    rows = await _fetch(
        dsn,
        """
        SELECT t.relname AS table_name, i.relname AS index_name,
            array(SELECT a.attname::text FROM unnest(x.indkey) WITH ORDINALITY k(n, o) JOIN pg_attribute a
                  ON a.attrelid = t.oid AND a.attnum = k.n ORDER BY k.o) AS columns
        FROM pg_index x JOIN pg_class t ON t.oid = x.indrelid JOIN pg_class i ON i.oid = x.indexrelid
        WHERE x.indisunique AND t.relnamespace = 'public'::regnamespace AND NOT t.relispartition
        """,
    )
    return [(r["table_name"], r["index_name"], r["columns"]) for r in rows]


async def foreign_keys(dsn: str) -> list[tuple[str, str, list[tuple[str, str]]]]:
    """(table, referenced table, [(column, referenced column), ...]) of every foreign key of a table."""
    rows = await _fetch(
        dsn,
        """
        SELECT t.relname AS table_name, r.relname AS referenced,
            array(SELECT a.attname::text FROM unnest(f.conkey) WITH ORDINALITY k(n, o)
                  JOIN pg_attribute a ON a.attrelid = f.conrelid AND a.attnum = k.n ORDER BY k.o) AS columns,
            array(SELECT a.attname::text FROM unnest(f.confkey) WITH ORDINALITY k(n, o)
                  JOIN pg_attribute a ON a.attrelid = f.confrelid AND a.attnum = k.n ORDER BY k.o) AS referenced_columns
        FROM pg_constraint f JOIN pg_class t ON t.oid = f.conrelid JOIN pg_class r ON r.oid = f.confrelid
        WHERE f.contype = 'f' AND f.conparentid = 0 AND t.relnamespace = 'public'::regnamespace
          AND NOT t.relispartition
        """,
    )
    return [
        (r["table_name"], r["referenced"], list(zip(r["columns"], r["referenced_columns"], strict=True))) for r in rows
    ]


def account_scoped(found: dict[str, set[str]]) -> set[str]:
    """The tables distributed by account: all but the global ones."""
    return set(found) - GLOBAL_TABLES


async def test_every_table_is_global_by_name_or_keyed_by_account(migrated_dsn: str) -> None:
    found = await tables(migrated_dsn)
    assert set(found) >= GLOBAL_TABLES, "a global table is gone: update server.db.partitioning.GLOBAL_TABLES"
    unkeyed = sorted(name for name in account_scoped(found) if DISTRIBUTION_COLUMN not in found[name])
    assert unkeyed == [], "tables without account_id (add it, or list the table in GLOBAL_TABLES if it spans accounts)"


async def keys_not_led_by_account(dsn: str) -> list[tuple[str, str, list[str]]]:
    """(table, index, columns) of every unique key of an account-scoped table that does not start with account_id."""
    scoped = account_scoped(await tables(dsn))
    return sorted(
        (table, index, columns)
        for table, index, columns in await unique_keys(dsn)
        if table in scoped and columns[0] != DISTRIBUTION_COLUMN
    )


async def foreign_keys_against_distribution(dsn: str) -> list[tuple[str, str, list[tuple[str, str]]]]:
    """Foreign keys a schema distributed by account cannot hold: between account-scoped tables, one whose first
    column pair is not (account_id, account_id); to a global table, anything but account_id → accounts.id; from
    a global table, any to an account-scoped one."""
    scoped = account_scoped(await tables(dsn))
    wrong = []
    for table, referenced, pairs in await foreign_keys(dsn):
        if table in scoped and referenced in scoped:
            ok = pairs[0] == (DISTRIBUTION_COLUMN, DISTRIBUTION_COLUMN)
        elif referenced in GLOBAL_TABLES:
            # To a reference table: only the account itself (on Citus, a distributed table may reference one).
            ok = (referenced == "accounts" and pairs == [(DISTRIBUTION_COLUMN, "id")]) or table in GLOBAL_TABLES
        else:  # a global table referencing an account-scoped one cannot be a reference table
            ok = False
        if not ok:
            wrong.append((table, referenced, pairs))
    return wrong


async def test_every_unique_key_of_an_account_scoped_table_leads_with_account_id(migrated_dsn: str) -> None:
    keys = await unique_keys(migrated_dsn)
    assert ("invoices", [DISTRIBUTION_COLUMN, "id"]) in [(t, c) for t, _, c in keys], "the catalog query is wrong"
    assert await keys_not_led_by_account(migrated_dsn) == []


async def test_every_foreign_key_between_account_scoped_tables_leads_with_account_id(migrated_dsn: str) -> None:
    assert await foreign_keys(migrated_dsn), "no foreign keys found: the catalog query is wrong"
    assert await foreign_keys_against_distribution(migrated_dsn) == []


async def test_the_checks_find_keys_that_hold_account_id_without_leading_with_it(empty_dsn: str) -> None:
    """A key that includes account_id second is valid for partitioning but not the rule: the checks name it."""
    await migrate(empty_dsn)
    conn = await asyncpg.connect(empty_dsn)
    try:
        await conn.execute(
            """
            CREATE TABLE widget_owners (account_id text NOT NULL, id text NOT NULL, PRIMARY KEY (id, account_id));
            CREATE TABLE widgets (
                account_id text NOT NULL, id text NOT NULL, owner_id text NOT NULL,
                PRIMARY KEY (account_id, id),
                FOREIGN KEY (owner_id, account_id) REFERENCES widget_owners (id, account_id)
            );
            """
        )
    finally:
        await conn.close()
    assert await keys_not_led_by_account(empty_dsn) == [
        ("widget_owners", "widget_owners_pkey", ["id", DISTRIBUTION_COLUMN])
    ]
    assert await foreign_keys_against_distribution(empty_dsn) == [
        ("widgets", "widget_owners", [("owner_id", "id"), (DISTRIBUTION_COLUMN, DISTRIBUTION_COLUMN)])
    ]


async def test_the_migrations_build_every_account_scoped_table_hash_partitioned_by_account(
    empty_dsn: str,
    migrated_dsn: str,
) -> None:
    applied = await migrate(empty_dsn, PARTITIONS)
    assert applied

    rows = await _fetch(
        empty_dsn,
        """
        SELECT c.relname AS name, p.partstrat::text AS strategy,
            array(SELECT a.attname::text FROM unnest(p.partattrs::int2[]) k
                  JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = k) AS columns,
            (SELECT count(*) FROM pg_inherits i WHERE i.inhparent = c.oid) AS partitions
        FROM pg_partitioned_table p JOIN pg_class c ON c.oid = p.partrelid
        WHERE c.relnamespace = 'public'::regnamespace
        """,
    )
    partitioned = {r["name"]: (r["strategy"], tuple(r["columns"]), r["partitions"]) for r in rows}
    found = await tables(empty_dsn)
    assert set(partitioned) == account_scoped(found)
    assert set(partitioned.values()) == {("h", (DISTRIBUTION_COLUMN,), PARTITIONS)}
    assert set(found) == set(await tables(migrated_dsn)), "the layouts differ in tables, not only in partitions"
    # The keys of the partitioned layout are the plain layout's keys, on every partition.
    assert sorted((t, c) for t, _, c in await unique_keys(empty_dsn)) == sorted(
        (t, c) for t, _, c in await unique_keys(migrated_dsn)
    )

    # The layout is the database's: later runs follow it, and asking for another one is refused.
    assert await migrate(empty_dsn) == []
    assert await migrate(empty_dsn, PARTITIONS) == []
    with pytest.raises(LayoutMismatch):
        await migrate(empty_dsn, PARTITIONS * 2)


async def test_a_key_without_account_id_cannot_be_created_in_the_partitioned_layout(migrated_dsn: str) -> None:
    """What makes a future migration that breaks the rule fail: PostgreSQL refuses the partitioned table."""
    breaking = "CREATE TABLE widgets (account_id text NOT NULL, id text PRIMARY KEY, name text);"
    keyed = "CREATE TABLE widgets (account_id text NOT NULL, id text NOT NULL, PRIMARY KEY (account_id, id));"
    conn = await asyncpg.connect(migrated_dsn)
    try:
        with pytest.raises(asyncpg.FeatureNotSupportedError, match="partition"):
            async with conn.transaction():
                await conn.execute(partitioning.partitioned(breaking, PARTITIONS))
        tx = conn.transaction()
        await tx.start()
        try:
            await conn.execute(partitioning.partitioned(keyed, PARTITIONS))
            assert await conn.fetchval("SELECT count(*) FROM pg_inherits WHERE inhparent = 'widgets'::regclass") == 4
        finally:
            await tx.rollback()
    finally:
        await conn.close()


def test_the_rewrite_reads_sql_not_text() -> None:
    """Comments, strings and function bodies that look like SQL are left alone; only real CREATE TABLE
    statements of account-scoped tables are partitioned, each followed by its partitions."""
    sql = """
-- A comment with a quote ' and a CREATE TABLE fake (account_id text); inside.
CREATE TABLE IF NOT EXISTS widgets (
    account_id  text NOT NULL, -- the tenant; (parenthesised) and 'quoted' words
    id          text NOT NULL,
    note        text NOT NULL DEFAULT 'a; b (c',
    PRIMARY KEY (account_id, id)
);
CREATE TABLE accounts_like_global (id text PRIMARY KEY, name text);
CREATE TABLE api_keys (id text PRIMARY KEY, account_id text NOT NULL);
/* CREATE TABLE in_a_block_comment (account_id text); */
CREATE FUNCTION f() RETURNS text LANGUAGE sql AS $$ SELECT 'CREATE TABLE x (account_id text);' $$;
CREATE TABLE gadgets ("account_id" text NOT NULL, n integer CHECK (n > (0)), PRIMARY KEY (account_id, n))
"""
    out = partitioning.partitioned(sql, 2)

    assert out.count("PARTITION BY HASH (account_id)") == 2
    assert "'a; b (c',\n    PRIMARY KEY (account_id, id)\n) PARTITION BY HASH (account_id);" in out
    assert "CREATE TABLE widgets_p0 PARTITION OF widgets FOR VALUES WITH (MODULUS 2, REMAINDER 0);" in out
    assert "CREATE TABLE widgets_p1 PARTITION OF widgets FOR VALUES WITH (MODULUS 2, REMAINDER 1);" in out
    assert "PRIMARY KEY (account_id, n)) PARTITION BY HASH (account_id)" in out
    assert "gadgets_p1 PARTITION OF gadgets" in out
    assert "CREATE TABLE api_keys (id text PRIMARY KEY, account_id text NOT NULL);" in out  # global
    assert "accounts_like_global (id text PRIMARY KEY, name text);" in out  # no account_id
    assert out.count(" PARTITION OF ") == 4
    assert sql.splitlines()[1] in out  # the comment, as it was
    assert "/* CREATE TABLE in_a_block_comment (account_id text); */" in out
    assert "$$ SELECT 'CREATE TABLE x (account_id text);' $$;" in out


async def test_citus_statements_distribute_every_table_after_what_it_references(
    project_root: Path, migrated_dsn: str
) -> None:
    """`python -m server citus-sql` prints one call per table but schema_migrations, in an order Citus accepts."""
    code, out, err = await run_server_command(project_root, "citus-sql", DATABASE_URL=migrated_dsn)
    assert code == 0, err
    calls = [re.fullmatch(r"SELECT (create_\w+)\('(\w+)'(.*)\);", line) for line in out.splitlines()]
    assert all(calls), out
    kinds = {m.group(2): m.group(1) for m in calls if m}
    found = await tables(migrated_dsn)
    assert len(kinds) == len(calls) == len(found) - 1
    assert {t for t, kind in kinds.items() if kind == "create_reference_table"} == GLOBAL_TABLES - {"schema_migrations"}
    assert {t for t, kind in kinds.items() if kind == "create_distributed_table"} == account_scoped(found)
    distributed = [m for m in calls if m and m.group(1) == "create_distributed_table"]
    assert distributed[0].group(3) == ", 'account_id'"
    assert all(m.group(3) == f", 'account_id', colocate_with => '{distributed[0].group(2)}'" for m in distributed[1:])
    position = {name: n for n, name in enumerate(kinds)}
    for table, referenced, _ in await foreign_keys(migrated_dsn):
        if table != referenced:
            assert position[referenced] < position[table], (table, referenced)
