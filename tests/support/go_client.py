"""Builds the Go client (clients/go/cmd/smoke) against Debian's grpc-go, in GOPATH mode and offline.

`make go-tools` installs Go, grpc-go (under /usr/share/gocode), protoc and the Go plugins when missing.
The client code is generated here with protoc + protoc-gen-go + protoc-gen-go-grpc into a temporary GOPATH,
together with the vendored Google protos (google/rpc/*, google/type/date), which shadow Debian's older
genproto copies, so the client decodes exactly the error details this repository ships.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.support.cli import ROOT

MODULE = "github.com/invoicing/invoicing-service/clients/go"


def go_environment(gopath: Path) -> dict[str, str]:
    """Environment for `go build` in GOPATH mode against Debian's packaged Go code, with no network."""
    return {"GOPATH": f"{gopath}:/usr/share/gocode", "GO111MODULE": "off", "GOFLAGS": "", "GOPROXY": "off"}


def install_go_tools() -> None:
    """`make go-tools`: installs the Debian packages only when something is missing."""
    subprocess.run(["make", "--no-print-directory", "-s", "go-tools"], cwd=ROOT, check=True)


def build_go_client(workdir: Path) -> Path:
    """Generate the client code and build the smoke program; return its path."""
    go, protoc = shutil.which("go"), shutil.which("protoc")
    assert go is not None, "make go-tools did not install go"
    assert protoc is not None, "make go-tools did not install protoc"
    src = workdir / "src"
    src.mkdir(parents=True)
    third_party = ROOT / "third_party" / "googleapis"
    protos = [
        str(p.relative_to(ROOT / "protos")) for p in sorted((ROOT / "protos" / "invoicing" / "v1").glob("*.proto"))
    ]
    google = [str(p.relative_to(third_party)) for p in sorted((third_party / "google").rglob("*.proto"))]
    subprocess.run(
        [protoc, "-I", "protos", "-I", str(third_party), f"--go_out={src}", f"--go-grpc_out={src}", *protos, *google],
        cwd=ROOT,
        check=True,
    )
    program = src / MODULE / "cmd" / "smoke"
    program.mkdir(parents=True)
    shutil.copy(ROOT / "clients" / "go" / "cmd" / "smoke" / "main.go", program / "main.go")
    binary = workdir / "smoke"
    subprocess.run(
        [go, "build", "-o", str(binary), f"{MODULE}/cmd/smoke"],
        cwd=workdir,
        env={**os.environ, **go_environment(workdir)},
        check=True,
    )
    return binary


@pytest.fixture(scope="session")
def go_tools() -> None:
    """Go, grpc-go, protoc and the Go plugins are installed."""
    install_go_tools()


@pytest.fixture(scope="session")
def go_client(go_tools: None, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The built Go smoke client, once per session."""
    return build_go_client(tmp_path_factory.mktemp("go"))
