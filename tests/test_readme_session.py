"""The README's session runs as written, against a fresh `make run`-style server with a fresh demo key.

The session is read from README.md itself (the ```sh blocks under "## A session"), not from a copy. Each
command's output is shown under it as `#=>` comments: lines of text the output must contain, or a JSON
document the output must match (objects by the keys shown, lists element by element, a string ending in
"…" by its prefix). The test runs the whole session in one bash, keeping each step's output, and checks
every shown result.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.support.cli import ROOT, json_documents, run
from tests.support.serve import KEY_LINE, Launcher

SECTION = "## A session"
ELLIPSIS = "…"


@dataclass
class Step:
    """Commands and what their output must show."""

    commands: list[str] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)
    document: Any = None

    @property
    def checked(self) -> bool:
        return bool(self.lines) or self.document is not None


def session_script(readme: str) -> str:
    """The ```sh blocks of the README's session section, in order."""
    start = readme.index(f"\n{SECTION}\n")
    end = readme.find("\n## ", start + 1)
    section = readme[start : end if end != -1 else None]
    blocks = re.findall(r"^```sh\n(.*?)^```", section, re.MULTILINE | re.DOTALL)
    assert blocks, "the session section has no ```sh block"
    return "".join(blocks)


def parse_steps(script: str) -> list[Step]:
    """Split the session into steps: the commands since the last shown output, and the output shown."""
    steps: list[Step] = [Step()]
    lines = script.splitlines()
    index = 0
    while index < len(lines):
        line = lines[index]
        index += 1
        if not line.startswith("#=> "):
            if steps[-1].checked:
                steps.append(Step())
            steps[-1].commands.append(line)
            continue
        shown = line.removeprefix("#=> ")
        if not shown.startswith(("{", "[")):
            steps[-1].lines.append(shown.strip())
            continue
        text = shown
        while True:
            try:
                steps[-1].document = json.loads(text)
                break
            except json.JSONDecodeError:
                assert index < len(lines), f"unfinished JSON: {text}"
                assert lines[index].startswith("#"), f"unfinished JSON: {text}"
                text += lines[index].lstrip("#")
                index += 1
    return [s for s in steps if s.commands]


def mismatches(expected: Any, actual: Any, path: str = "") -> list[str]:
    """Where actual differs from what the README shows (an empty list when it shows the truth)."""
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return [f"{path or '.'}: expected an object, got {actual!r}"]
        found: list[str] = []
        for key, value in expected.items():
            if key not in actual:
                found.append(f"{path}.{key}: missing")
            else:
                found += mismatches(value, actual[key], f"{path}.{key}")
        return found
    if isinstance(expected, list):
        if not isinstance(actual, list) or len(actual) != len(expected):
            return [f"{path}: expected {len(expected)} items, got {actual!r}"]
        return [
            m for n, (e, a) in enumerate(zip(expected, actual, strict=True)) for m in mismatches(e, a, f"{path}[{n}]")
        ]
    if isinstance(expected, str) and expected.endswith(ELLIPSIS):
        prefix = expected.removesuffix(ELLIPSIS)
        ok = isinstance(actual, str) and actual.startswith(prefix) and len(actual) > len(prefix)
        return [] if ok else [f"{path}: expected {expected!r}, got {actual!r}"]
    return [] if expected == actual else [f"{path}: expected {expected!r}, got {actual!r}"]


def test_the_session_parser_reads_text_and_json_outputs() -> None:
    steps = parse_steps('a\n#=> x is a method:\nb \\\n  c\n#=> {"id": "inv_…",\n#    "n": [1]}\nd\n')

    assert [(s.commands, s.lines, s.document) for s in steps] == [
        (["a"], ["x is a method:"], None),
        (["b \\", "  c"], [], {"id": "inv_…", "n": [1]}),
        (["d"], [], None),
    ]
    assert mismatches({"id": "inv_…", "n": [1]}, {"id": "inv_1", "n": [1], "more": 2}) == []
    assert mismatches({"id": "inv_…"}, {"id": "cus_1"}) == [".id: expected 'inv_…', got 'cus_1'"]
    assert mismatches({"n": [1]}, {"n": [1, 2]})


def test_the_session_uses_no_ids_from_another_run(project_root: Path) -> None:
    script = session_script((project_root / "README.md").read_text())

    literal_ids = re.findall(r"\b(?:cus|inv|ili|sub|pay|plan|price|adj)_[0-9a-z]{16,}\b", script)
    assert literal_ids == []


@pytest.mark.slow
@pytest.mark.timeout(600)  # a serve process (started within 180 s) and the session's commands (300 s)
async def test_the_readme_session_runs_as_written(project_root: Path, tmp_path: Path, empty_dsn: str) -> None:
    """The README's session, step by step, against a server on a new, empty database (migrated by the server,
    as `make run` does)."""
    steps = parse_steps(session_script((project_root / "README.md").read_text()))
    assert sum(s.checked for s in steps) >= 15
    launcher = Launcher(project_root, tmp_path)
    try:
        data_dir = launcher.fresh_data_dir()
        server = await launcher.serve(data_dir, "--demo", until=KEY_LINE, DATABASE_URL=empty_dsn)
        outputs = tmp_path / "outputs"
        outputs.mkdir()
        script = "".join(
            "{\n" + "\n".join(step.commands) + f"\n}} > {outputs / str(n)}\n" for n, step in enumerate(steps)
        )
        session = await run(
            "bash",
            "-c",
            script,
            env={"INVOICING_DATA_DIR": str(data_dir), "INVOICING_LISTEN": server.target},
            cwd=ROOT,
            limit_s=300,
        )
        assert session.stderr == "", session.stderr
    finally:
        await launcher.close()

    problems = []
    for n, step in enumerate(steps):
        output = (outputs / str(n)).read_text()
        where = next(c for c in step.commands if c.strip() and not c.startswith(("#", " ", "{")))
        for line in step.lines:
            if line not in {shown.strip() for shown in output.splitlines()}:
                problems.append(f"{where}: no line {line!r} in:\n{output}")
        if step.document is not None:
            printed = json_documents(output)
            actual = printed[0] if len(printed) == 1 else printed
            problems += [f"{where}: {m}" for m in mismatches(step.document, actual)]
    assert problems == [], "\n".join(problems)
