"""Imports flow one way: every module of sqlml/ and udfs/ sits in a layer, and imports only
from its own layer or those below it, with no cycle anywhere. Every import counts, also the
ones inside functions and under TYPE_CHECKING (README: Architecture)."""

from __future__ import annotations

import ast
import graphlib
from fnmatch import fnmatchcase
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# Lowest first. A module takes the first layer with a pattern that matches its name.
LAYERS: list[tuple[str, ...]] = [
    ("sqlml.errors", "sqlml.version", "sqlml.interrupts"),
    ("udfs", "udfs.*"),  # what runs inside the database
    ("sqlml._udfs_loader",),
    ("sqlml.catalog_upgrade",),
    ("sqlml.result",),
    ("sqlml.dialects", "sqlml.dialects.*"),
    ("sqlml.statements",),
    ("sqlml.parameters", "sqlml.positions", "sqlml.replacement_scans"),
    ("sqlml.backends.base",),
    ("sqlml.backends.server",),
    ("sqlml.backends.*",),
    ("sqlml.session",),
    ("sqlml.scope", "sqlml.show_filter"),
    ("sqlml.predict", "sqlml.predict.*"),
    ("sqlml.feature_tables", "sqlml.feature_tables.*"),
    ("sqlml.models", "sqlml.models.*"),
    ("sqlml.table_functions", "sqlml.table_functions.*"),
    ("sqlml.pipeline",),
    ("sqlml.connection",),
    ("sqlml.in_server", "sqlml.transfer", "sqlml.install", "sqlml.demo"),
    ("sqlml.integrations", "sqlml.integrations.*"),  # dbt
    ("sqlml",),  # the package imports its connection lazily, on first use
    ("sqlml.output", "sqlml.syntax", "sqlml.completion"),
    ("sqlml.script",),
    ("sqlml.shell_commands",),
    ("sqlml.shell",),
    ("sqlml.server", "sqlml.server.pg_types", "sqlml.server.wire", "sqlml.server.auth"),
    ("sqlml.server.pg_compat",),
    ("sqlml.server.pg_rewrite",),
    ("sqlml.server.values",),
    ("sqlml.server.encoding",),
    ("sqlml.server.protocol",),
    ("sqlml.server.pg_copy",),
    ("sqlml.server.engine",),
    ("sqlml.server.listener",),
    ("sqlml.cli",),
    ("sqlml.__main__",),
]


def _modules() -> dict[str, tuple[Path, bool]]:
    """Each module's dotted name, with its file and whether it is a package."""
    found = {}
    for package in ("sqlml", "udfs"):
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            is_package = parts[-1] == "__init__"
            if is_package:
                parts.pop()
            found[".".join(parts)] = (path, is_package)
    return found


def _imported_names(name: str, path: Path, is_package: bool, known: set[str]) -> set[str]:
    package = name if is_package else name.rpartition(".")[0]
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            for alias in node.names:  # `from pkg import submodule` imports the submodule
                submodule = f"{source}.{alias.name}"
                names.add(submodule if submodule in known else source)
    return names


def _import_graph() -> dict[str, set[str]]:
    modules = _modules()
    known = set(modules)
    graph = {}
    for name, (path, is_package) in modules.items():
        targets = set()
        for imported in _imported_names(name, path, is_package, known):
            while imported and imported not in known:  # sqlml.errors.X -> sqlml.errors
                imported = imported.rpartition(".")[0]
            if imported and imported != name:
                targets.add(imported)
        graph[name] = targets
    return graph


def _layer(module: str) -> int | None:
    for index, patterns in enumerate(LAYERS):
        if any(fnmatchcase(module, pattern) for pattern in patterns):
            return index
    return None


def test_every_module_has_a_layer():
    unplaced = [module for module in _import_graph() if _layer(module) is None]
    assert unplaced == [], f"add these to LAYERS: {unplaced}"


def test_no_module_imports_from_a_layer_above_its_own():
    upward = [
        f"{module} -> {target}"
        for module, targets in sorted(_import_graph().items())
        for target in sorted(targets)
        if (_layer(target) or 0) > (_layer(module) or 0)
    ]
    assert upward == []


def test_no_import_cycle():
    graphlib.TopologicalSorter(_import_graph()).prepare()  # raises CycleError on a cycle


def test_the_graph_sees_lazy_and_type_checking_imports():
    graph = _import_graph()
    assert "sqlml.connection" in graph["sqlml"]  # imported inside connect()
    assert "sqlml.connection" in graph["sqlml.in_server"]  # under TYPE_CHECKING
    assert "udfs.tasks" in graph["udfs.train"]  # `from udfs import tasks`, or its like
