"""The committed stubs in generated/ match protos/, and the check notices when they do not."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path("invoicing") / "v1"


def run_check(root: Path) -> subprocess.CompletedProcess[str]:
    """Run `tools/codegen.py check` of the project copy at root."""
    return subprocess.run(
        [sys.executable, str(root / "tools" / "codegen.py"), "check"],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.fixture
def project_copy(project_root: Path, tmp_path: Path) -> Path:
    """A copy of tools/, protos/ and generated/ that a test may change freely."""
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for folder in ("tools", "protos", "generated"):
        shutil.copytree(project_root / folder, tmp_path / folder, ignore=ignore)
    return tmp_path


def test_committed_generated_code_is_current(project_root: Path) -> None:
    """The repository itself passes the check."""
    result = run_check(project_root)

    assert result.returncode == 0, result.stderr
    assert "up to date" in result.stdout


def test_unchanged_copy_passes(project_copy: Path) -> None:
    """The copy used below is a faithful set-up: untouched, it passes."""
    result = run_check(project_copy)

    assert result.returncode == 0, result.stderr


def test_changed_comment_makes_the_descriptor_set_stale(project_copy: Path) -> None:
    """Comments reach reflection through the descriptor set, so a comment-only edit must be caught."""
    proto = project_copy / "protos" / PACKAGE / "invoice_service.proto"
    text = proto.read_text()
    phrase = "Streams the invoices that match the filters"
    assert phrase in text
    proto.write_text(text.replace(phrase, "Streams every invoice that matches the filters", 1))

    result = run_check(project_copy)

    assert result.returncode == 1
    assert "descriptor_set.binpb" in result.stderr
    assert "make generate" in result.stderr


def test_new_message_makes_the_stubs_stale(project_copy: Path) -> None:
    """A schema change appended to a .proto makes its Python module and type stub stale."""
    proto = project_copy / "protos" / PACKAGE / "invoice.proto"
    with proto.open("a") as out:
        out.write(
            "\n// Added after the stubs were generated.\nmessage AddedLater {\n  // A field.\n  string note = 1;\n}\n"
        )

    result = run_check(project_copy)

    assert result.returncode == 1
    assert "invoice_pb2.py" in result.stderr
    assert "invoice_pb2.pyi" in result.stderr
    assert "customer_pb2.py" not in result.stderr


def test_missing_generated_file_is_reported(project_copy: Path) -> None:
    """A generated file deleted by mistake fails the check and is named."""
    (project_copy / "generated" / PACKAGE / "customer_service_pb2_grpc.py").unlink()

    result = run_check(project_copy)

    assert result.returncode == 1
    assert "customer_service_pb2_grpc.py" in result.stderr


def test_leftover_generated_file_is_reported(project_copy: Path) -> None:
    """A stub whose .proto was removed must not linger in generated/."""
    (project_copy / "generated" / PACKAGE / "removed_pb2.py").write_text("# from a deleted .proto\n")

    result = run_check(project_copy)

    assert result.returncode == 1
    assert "removed_pb2.py" in result.stderr
