"""Generate the Python stubs in generated/ from protos/, or check they are current.

`generate` rewrites generated/invoicing/v1/ with grpcio-tools' bundled protoc:
messages (*_pb2.py), type stubs (*_pb2.pyi), gRPC stubs (*_pb2_grpc.py) and a
descriptor set with source info (descriptor_set.binpb) that server reflection
serves so that `grpcurl describe` shows the .proto comments.

`check` generates into a temporary directory and fails if anything differs.
"""

from __future__ import annotations

import filecmp
import sys
import tempfile
from importlib import resources
from pathlib import Path

from grpc_tools import protoc

ROOT = Path(__file__).resolve().parent.parent
PROTO_ROOT = ROOT / "protos"
OUT_ROOT = ROOT / "generated"
PACKAGE_DIR = Path("invoicing") / "v1"
DESCRIPTOR_SET = "descriptor_set.binpb"
KEEP = {"__init__.py"}


def _include_paths() -> list[str]:
    """protos/, protoc's well-known types, and googleapis' common protos (google/type)."""
    well_known = resources.files("grpc_tools") / "_proto"
    import google.type.date_pb2 as date_pb2

    googleapis = Path(date_pb2.__file__).resolve().parent.parent.parent
    return [str(PROTO_ROOT), str(well_known), str(googleapis)]


def generate(out_root: Path) -> None:
    """Run protoc over every .proto of the package into out_root."""
    protos = sorted(str(p.relative_to(PROTO_ROOT)) for p in (PROTO_ROOT / PACKAGE_DIR).glob("*.proto"))
    (out_root / PACKAGE_DIR).mkdir(parents=True, exist_ok=True)
    for stale in (out_root / PACKAGE_DIR).iterdir():
        if stale.is_file() and stale.name not in KEEP:
            stale.unlink()
    args = ["protoc", *(f"-I{p}" for p in _include_paths())]
    args += [
        f"--python_out={out_root}",
        f"--pyi_out={out_root}",
        f"--grpc_python_out={out_root}",
        f"--descriptor_set_out={out_root / PACKAGE_DIR / DESCRIPTOR_SET}",
        "--include_imports",
        "--include_source_info",
        *protos,
    ]
    if protoc.main(args) != 0:
        raise SystemExit("protoc failed")


def check() -> int:
    """Return 0 when generated/ matches a fresh generation, 1 (listing the differences) otherwise."""
    with tempfile.TemporaryDirectory() as tmp:
        fresh = Path(tmp)
        generate(fresh)
        committed = OUT_ROOT / PACKAGE_DIR
        new = fresh / PACKAGE_DIR
        names = {p.name for p in committed.iterdir() if p.is_file()} | {p.name for p in new.iterdir() if p.is_file()}
        stale = sorted(
            n
            for n in names - KEEP
            if not (committed / n).exists()
            or not (new / n).exists()
            or not filecmp.cmp(committed / n, new / n, shallow=False)
        )
    if stale:
        print("generated/ is stale; run `make generate`. Differing files: " + ", ".join(stale), file=sys.stderr)
        return 1
    print("generated/ is up to date")
    return 0


if __name__ == "__main__":
    command = sys.argv[1] if len(sys.argv) > 1 else "generate"
    if command == "generate":
        generate(OUT_ROOT)
    elif command == "check":
        sys.exit(check())
    else:
        sys.exit(f"unknown command {command!r}: use generate or check")
