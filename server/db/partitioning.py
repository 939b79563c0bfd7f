"""The schema hash-partitioned by account: the same migrations, each account-scoped table partitioned.

PostgreSQL's native partitioning enforces the rule a distributed database (Citus) sets for a table
distributed by `account_id`: every primary key and unique constraint includes `account_id` (and so every
foreign key to such a table does too). Running the service on the partitioned schema proves the plain
schema distributes by account without redesign.

There is one set of migrations. With partitions, `partitioned()` rewrites each migration before it runs:
every `CREATE TABLE` of a table that has an `account_id` column, unless it is one of GLOBAL_TABLES, gains
`PARTITION BY HASH (account_id)` and is followed at once by its partitions (`<table>_p0` ...), so later
statements of the same migration can already write to it. A future migration gets the same treatment with
no work of its author; a key it declares without `account_id` fails to apply in the partitioned layout, and
tests/test_partitioning.py fails for the plain one.

GLOBAL_TABLES span accounts: looked up before an account is known (API keys, by their hash), or about no
account at all. On Citus they are reference tables (or stay on the coordinator).
"""

from __future__ import annotations

import re

import asyncpg

GLOBAL_TABLES = frozenset({"accounts", "api_keys", "server_secrets", "schema_migrations"})
DISTRIBUTION_COLUMN = "account_id"
# The table every other account-scoped table is co-located with on Citus.
COLOCATION_ANCHOR = "customers"

_CREATE_TABLE = re.compile(r"\s*CREATE\s+TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?(\S+?)\s*\(", re.IGNORECASE)
_DOLLAR_QUOTE = re.compile(r"\$[A-Za-z_]*\$")
_NAME = re.compile(r"[a-z_][a-z0-9_]*")


def code_only(sql: str) -> str:
    """The SQL with comments, string literals and dollar-quoted bodies blanked out (same length, same
    positions), so that its structure (statements, parentheses, commas) can be read with plain string search."""
    out = list(sql)
    i = 0
    while i < len(sql):
        if sql.startswith("--", i):
            end = _past(sql, "\n", i + 2)
        elif sql.startswith("/*", i):
            end = _past(sql, "*/", i + 2)
        elif sql[i] == "'":
            end = _past(sql, "'", i + 1)
        elif dollar := _DOLLAR_QUOTE.match(sql, i):
            end = _past(sql, dollar.group(0), dollar.end())
        else:
            i += 1
            continue
        out[i:end] = [c if c == "\n" else " " for c in sql[i:end]]
        i = end
    return "".join(out)


def _past(sql: str, closer: str, i: int) -> int:
    """The position just past the next `closer` from i (a doubled quote inside a string literal is part of it)."""
    while True:
        found = sql.find(closer, i)
        if found < 0:
            return len(sql)
        i = found + len(closer)
        if closer != "'" or not sql.startswith("'", i):
            return i
        i += 1


def statements(sql: str) -> list[str]:
    """The statements of a migration, each with its `;` (the last may lack one)."""
    code = code_only(sql)
    found: list[str] = []
    start = 0
    while (end := code.find(";", start)) >= 0:
        found.append(sql[start : end + 1])
        start = end + 1
    if code[start:].strip():
        found.append(sql[start:])
    return found


def _closing_paren(code: str, opening: int) -> int:
    depth = 0
    for i in range(opening, len(code)):
        depth += {"(": 1, ")": -1}.get(code[i], 0)
        if depth == 0:
            return i
    raise ValueError(f"unbalanced parentheses in: {code.strip()[:80]}")


def _defines_account_column(columns: str) -> bool:
    """True when a column list (code only) defines DISTRIBUTION_COLUMN."""
    depth, start, items = 0, 0, []
    for i, char in enumerate(columns):
        depth += {"(": 1, ")": -1}.get(char, 0)
        if char == "," and depth == 0:
            items.append(columns[start:i])
            start = i + 1
    items.append(columns[start:])
    return any(item.split()[:1] in ([DISTRIBUTION_COLUMN], [f'"{DISTRIBUTION_COLUMN}"']) for item in items)


def partitioned(sql: str, partitions: int) -> str:
    """The migration with every account-scoped table it creates hash-partitioned by account_id into
    `partitions` partitions, created right after it."""
    out: list[str] = []
    for statement in statements(sql):
        code = code_only(statement)
        match = _CREATE_TABLE.match(code)
        if match is None:
            out.append(statement)
            continue
        name = match.group(1)
        close = _closing_paren(code, match.end() - 1)
        if name in GLOBAL_TABLES or not _defines_account_column(code[match.end() : close]):
            out.append(statement)
            continue
        if not _NAME.fullmatch(name):
            raise ValueError(f"cannot partition table {name!r}: give it a plain lower-case name")
        if "PARTITION BY" in code[close:].upper():
            raise ValueError(f"table {name} declares its own partitioning")
        table = f"{statement[: close + 1]} PARTITION BY HASH ({DISTRIBUTION_COLUMN}){statement[close + 1 :]}"
        out.append(table if code.rstrip().endswith(";") else table + "\n;")  # the last statement may lack one
        out.extend(
            f"\nCREATE TABLE {name}_p{k} PARTITION OF {name} FOR VALUES WITH (MODULUS {partitions}, REMAINDER {k});"
            for k in range(partitions)
        )
    return "".join(out)


async def partitions_of(conn: asyncpg.Connection) -> int:
    """How many hash partitions the account-scoped tables of this schema have (0: plain tables)."""
    count: int = await conn.fetchval(
        """
        SELECT coalesce(max(n), 0) FROM (
            SELECT count(*) AS n FROM pg_partitioned_table p
            JOIN pg_class c ON c.oid = p.partrelid
            JOIN pg_inherits i ON i.inhparent = c.oid
            WHERE c.relnamespace = current_schema()::regnamespace
            GROUP BY c.oid) per_table
        """
    )
    return count


async def citus_statements(conn: asyncpg.Connection) -> list[str]:
    """The Citus calls that distribute this (plain) schema by account, in an order Citus accepts: the global
    tables as reference tables, then every account-scoped table distributed by account_id and co-located
    with the first (COLOCATION_ANCHOR), each after the tables its foreign keys reference. schema_migrations
    stays on the coordinator."""
    rows = await conn.fetch(
        """
        SELECT c.relname AS name,
            array(SELECT DISTINCT r.relname::text FROM pg_constraint f JOIN pg_class r ON r.oid = f.confrelid
                  WHERE f.conrelid = c.oid AND f.contype = 'f' AND f.conparentid = 0 AND r.oid <> c.oid)
                AS referenced
        FROM pg_class c
        WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind IN ('r', 'p') AND NOT c.relispartition
        """
    )
    references = {r["name"]: set(r["referenced"]) for r in rows}
    order: list[str] = []
    while len(order) < len(references):
        ready = sorted(t for t, refs in references.items() if t not in order and refs <= set(order))
        if not ready:
            raise ValueError(f"foreign keys form a cycle among {sorted(set(references) - set(order))}")
        # Reference tables first: a distributed table may reference them, never the other way round.
        order.append(next((t for t in ready if t in GLOBAL_TABLES), ready[0]))
    reference = [t for t in order if t in GLOBAL_TABLES and t != "schema_migrations"]
    distributed = [t for t in order if t not in GLOBAL_TABLES]
    if COLOCATION_ANCHOR in distributed and references[COLOCATION_ANCHOR] <= GLOBAL_TABLES:
        distributed.remove(COLOCATION_ANCHOR)
        distributed.insert(0, COLOCATION_ANCHOR)
    return [f"SELECT create_reference_table('{t}');" for t in reference] + [
        f"SELECT create_distributed_table('{t}', '{DISTRIBUTION_COLUMN}'"
        + ("" if i == 0 else f", colocate_with => '{distributed[0]}'")
        + ");"
        for i, t in enumerate(distributed)
    ]
