"""The layers of `server/` import in one direction only, and no two packages import each other.

The rule (docs/architecture.md): servicers (`server.api`) → use cases (`server.usecases`) → pure rules
(`server.domain`) and repositories (`server.db`); repositories use the domain's types; the domain imports
nothing of the service. Only `server.api` (and the composition root) knows the generated protobuf code.
This test reads the imports of every module with `ast`, so a new import that breaks the rule fails here,
not in review.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import pytest

SERVER = Path(__file__).resolve().parent.parent / "server"

# What each layer may import from the service (itself always allowed). Modules directly under server/
# count as their own layer, named by the module.
ALLOWED: dict[str, set[str]] = {
    "domain": set(),
    "context": set(),
    "db": {"domain", "context", "metrics"},
    "usecases": {"db", "domain", "context"},
    # The one mapping to statuses also tells database failures apart (a lost connection, a timeout).
    "errors": {"domain", "context", "db"},
    "metrics": set(),
    "logs": {"context"},
    "tracing": {"config"},
    "reflection": set(),
    "interceptors": {"context", "domain", "errors", "metrics", "usecases", "db", "keys"},
    "keys": {"db", "domain"},
    "api": {"usecases", "domain", "context", "metrics"},
    "config": {"api", "db"},
    "demo": {"keys", "config", "domain"},
    # The composition roots wire everything.
    "app": {"*"},
    "__main__": {"*"},
    # serve --workers: a parent of whole servers (app), each with its own metrics.
    "workers": {"app", "config", "metrics"},
}
PROTO_LAYERS = {"api", "interceptors", "app", "__main__", "reflection", "errors", "demo"}


def _layer(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def _modules() -> dict[str, Path]:
    found = {}
    for path in SERVER.rglob("*.py"):
        relative = path.relative_to(SERVER.parent).with_suffix("")
        name = ".".join(relative.parts).removesuffix(".__init__")
        found[name] = path
    return found


def _imports(path: Path, module: str) -> set[str]:
    tree = ast.parse(path.read_text())
    names: set[str] = set()
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base]) if base else ".".join(anchor)
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return names


def _dependencies() -> dict[str, set[str]]:
    modules = _modules()
    graph: dict[str, set[str]] = defaultdict(set)
    for module, path in modules.items():
        for imported in _imports(path, module):
            if imported.startswith("server.") and imported in modules:
                graph[module].add(imported)
    return graph


def test_layers_import_in_one_direction() -> None:
    wrong = []
    for module, imported in _dependencies().items():
        layer = _layer(module)
        allowed = ALLOWED.get(layer)
        assert allowed is not None, f"{module}: unknown layer {layer!r}; add it to ALLOWED and to docs/architecture.md"
        if "*" in allowed:
            continue
        for target in imported:
            target_layer = _layer(target)
            if target_layer != layer and target_layer not in allowed:
                wrong.append(f"{module} imports {target}")
    assert not wrong, "imports against the layering:\n" + "\n".join(sorted(wrong))


def test_no_two_packages_import_each_other() -> None:
    layers: dict[str, set[str]] = defaultdict(set)
    for module, imported in _dependencies().items():
        for target in imported:
            if _layer(target) != _layer(module):
                layers[_layer(module)].add(_layer(target))
    cycles = [(a, b) for a, targets in layers.items() for b in targets if a < b and a in layers.get(b, set())]
    assert not cycles, f"packages that import each other: {cycles}"


@pytest.mark.parametrize("layer", sorted(set(ALLOWED) - PROTO_LAYERS))
def test_only_the_api_layer_knows_the_wire_format(layer: str) -> None:
    offenders = []
    for module, path in _modules().items():
        if _layer(module) != layer:
            continue
        if any(name.startswith(("invoicing.", "grpc")) for name in _imports(path, module)):
            offenders.append(module)
    assert not offenders, f"{layer} modules import generated or gRPC code: {offenders}"
