"""The client kit: `buf generate` (buf.gen.yaml) writes Go and Python clients at the paths the options name,
the vendored Google protos are there for any generator, and the npm lock file installs as is everywhere."""

from __future__ import annotations

import json
import re
import shutil
import sys
from pathlib import Path

import pytest

from tests.support.cli import BUF, ROOT, run
from tests.support.go_client import MODULE, go_environment

GO_PACKAGE = re.compile(r'^option go_package = "([^";]+);(\w+)";$', re.MULTILINE)


def test_go_package_is_inside_the_go_module_of_clients_go() -> None:
    module = re.search(r"^module (\S+)$", (ROOT / "clients" / "go" / "go.mod").read_text(), re.MULTILINE)
    assert module is not None
    assert module.group(1) == MODULE
    for proto in sorted((ROOT / "protos").rglob("*.proto")):
        found = GO_PACKAGE.search(proto.read_text())
        assert found is not None, proto
        assert found.groups() == (f"{MODULE}/invoicing/v1", "invoicingv1"), proto


def test_every_imported_and_error_detail_proto_is_vendored() -> None:
    """Imports outside the well-known types resolve in third_party/, and so do google.rpc's status details."""
    vendored = ROOT / "third_party" / "googleapis"
    pending = [p.relative_to(ROOT / "protos") for p in (ROOT / "protos").rglob("*.proto")]
    pending += [Path("google/rpc/status.proto"), Path("google/rpc/error_details.proto")]
    seen: set[Path] = set()
    while pending:
        name = pending.pop()
        if name in seen or str(name).startswith("google/protobuf/"):
            continue
        seen.add(name)
        path = ROOT / "protos" / name if str(name).startswith("invoicing/") else vendored / name
        assert path.is_file(), f"{name} is imported but not vendored"
        pending += [Path(i) for i in re.findall(r'^import "([^"]+)";', path.read_text(), re.MULTILINE)]
    assert {Path("google/type/date.proto"), Path("google/rpc/status.proto")} <= seen


@pytest.mark.usefixtures("go_tools")
@pytest.mark.slow
@pytest.mark.timeout(900)  # buf generate and go build, 300 s each, after perhaps installing the Go toolchain
async def test_buf_generate_writes_go_and_python_clients(tmp_path: Path) -> None:
    generated = await run(BUF, "generate", "--output", tmp_path, limit_s=300)
    assert generated.returncode == 0, generated.stderr

    go_dir = tmp_path / "clients" / "go" / "invoicing" / "v1"
    assert {"invoice_service.pb.go", "invoice_service_grpc.pb.go", "customer.pb.go"} <= {
        p.name for p in go_dir.iterdir()
    }
    assert "package invoicingv1" in (go_dir / "invoice_service_grpc.pb.go").read_text()
    # The Go package compiles where its import path says it lives (GOPATH mode, Debian's grpc-go).
    gopath = tmp_path / "gopath"
    (gopath / "src" / Path(MODULE)).parent.mkdir(parents=True)
    (gopath / "src" / Path(MODULE)).symlink_to(tmp_path / "clients" / "go")
    go = shutil.which("go")
    assert go is not None
    built = await run(go, "build", f"{MODULE}/invoicing/v1", env=go_environment(gopath), cwd=gopath, limit_s=300)
    assert built.returncode == 0, built.stderr

    python_dir = tmp_path / "clients" / "python"
    probe = "from invoicing.v1 import invoice_service_pb2_grpc as g; print(g.InvoiceServiceStub.__name__)"
    imported = await run(sys.executable, "-I", "-c", f"import sys; sys.path.insert(0, {str(python_dir)!r}); {probe}")
    assert imported.returncode == 0, imported.stderr
    assert imported.stdout.strip() == "InvoiceServiceStub"


@pytest.mark.parametrize(
    ("os_name", "cpu"), [("linux", "x64"), ("linux", "arm64"), ("darwin", "x64"), ("darwin", "arm64")]
)
async def test_npm_ci_accepts_the_lock_file_on_linux_and_macos(tmp_path: Path, os_name: str, cpu: str) -> None:
    """`npm ci` installs exactly package-lock.json on each platform (buf's native package included) and never
    rewrites it."""
    for name in ("package.json", "package-lock.json"):
        shutil.copy(ROOT / name, tmp_path / name)
    installed = await run(
        "npm",
        "ci",
        "--dry-run",
        "--ignore-scripts",
        "--no-audit",
        "--no-fund",
        f"--os={os_name}",
        f"--cpu={cpu}",
        cwd=tmp_path,
    )
    assert installed.returncode == 0, installed.stderr
    lock = json.loads((ROOT / "package-lock.json").read_text())
    buf = lock["packages"]["node_modules/@bufbuild/buf"]
    native = [n for n in buf["optionalDependencies"] if lock["packages"][f"node_modules/{n}"]["os"] == [os_name]]
    assert any(f"add {n} " in installed.stdout for n in native), installed.stdout
    assert (tmp_path / "package-lock.json").read_bytes() == (ROOT / "package-lock.json").read_bytes()
