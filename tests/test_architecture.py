"""The layering rules of docs/architecture.md, checked on the source."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import ROOT

# Which revaer subpackages each layer may import (imports point down only).
ALLOWED: dict[str, set[str]] = {
    "errors": set(),
    "types": set(),
    "runtime": {"errors"},
    "telemetry": set(),
    "auth": {"errors"},
    "db": {"errors"},
    "config": {"errors", "types", "runtime", "telemetry", "auth", "db"},
    "events": {"errors", "types", "runtime", "telemetry", "db"},
    "torrent": {"errors", "types", "runtime", "telemetry", "config", "events"},
    "fsops": {"errors", "types", "runtime", "telemetry", "config", "events", "db"},
    "api": {
        "errors",
        "types",
        "runtime",
        "telemetry",
        "auth",
        "db",
        "config",
        "events",
        "torrent",
        "fsops",
    },
    "cli": {"api.models", "cli"},
}


def _modules(package: str) -> Iterator[Path]:
    yield from (ROOT / package).rglob("*.py")


def _imports(path: Path) -> Iterator[tuple[int, str]]:
    tree = ast.parse(path.read_text(), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.lineno, node.module


def test_only_the_composition_root_reads_the_environment() -> None:
    offenders = []
    for path in _modules("revaer"):
        source = path.read_text()
        for needle in ("os.environ", "getenv(", "environ.get("):
            if needle in source:
                offenders.append(f"{path.relative_to(ROOT)}: {needle}")
    assert offenders == [], "environment read outside supervisors/: " + ", ".join(offenders)


@pytest.mark.parametrize(
    ("module", "home"),
    [
        ("asyncpg", "revaer/db"),
        ("trio_asyncio", "revaer/db"),
        ("libtorrent", "revaer/torrent/_lt.py"),
    ],
)
def test_third_party_seams_are_imported_in_one_place(module: str, home: str) -> None:
    offenders = [
        f"{path.relative_to(ROOT)}:{line}"
        for package in ("revaer", "supervisors")
        for path in _modules(package)
        for line, name in _imports(path)
        if (name == module or name.startswith(module + "."))
        and not str(path.relative_to(ROOT)).startswith(home)
    ]
    assert offenders == []


def test_imports_point_down_the_layers() -> None:
    offenders = []
    for path in _modules("revaer"):
        parts = path.relative_to(ROOT / "revaer").with_suffix("").parts
        layer = parts[0]
        if layer == "__init__":
            continue
        allowed = ALLOWED[layer] | {layer}
        for line, name in _imports(path):
            if not name.startswith("revaer.") or name == "revaer":
                continue
            target = name.removeprefix("revaer.")
            if not any(target == a or target.startswith(a + ".") for a in allowed):
                offenders.append(f"{path.relative_to(ROOT)}:{line} imports {name}")
    assert offenders == []


def test_product_code_has_no_test_hooks() -> None:
    # Faults are injected through seams the tests provide (tests/torrent/faults.py), never by
    # methods or flags that exist only for tests.
    needles = ("inject_failure", "InjectedFailure", "test hook", "_fail_next")
    offenders = [
        f"{path.relative_to(ROOT)}: {needle}"
        for package in ("revaer", "supervisors")
        for path in _modules(package)
        for needle in needles
        if needle in path.read_text()
    ]
    assert offenders == []
