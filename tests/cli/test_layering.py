"""The CLI's import rules, checked on its source."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import revaer.cli

CLI_DIR = Path(revaer.cli.__file__).parent
MODULES = sorted(CLI_DIR.glob("*.py"))
ENVIRONMENT_NAMES = {"environ", "environb", "getenv", "getenvb", "putenv", "unsetenv"}


def imported_modules(tree: ast.Module) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module is not None:
            names.add(node.module)
    return names


@pytest.mark.parametrize("path", MODULES, ids=lambda path: path.name)
def test_imports_only_api_models_from_the_rest_of_revaer(path: Path) -> None:
    imported = imported_modules(ast.parse(path.read_text(encoding="utf-8")))

    foreign = {
        name
        for name in imported
        if name.split(".")[0] == "revaer"
        and name != "revaer.api.models"
        and not name.startswith("revaer.cli")
    }
    assert foreign == set()


@pytest.mark.parametrize("path", MODULES, ids=lambda path: path.name)
def test_httpx_is_imported_only_by_the_http_module(path: Path) -> None:
    imported = imported_modules(ast.parse(path.read_text(encoding="utf-8")))

    uses_httpx = any(name.split(".")[0] == "httpx" for name in imported)
    assert uses_httpx == (path.name == "_http.py")


@pytest.mark.parametrize("path", MODULES, ids=lambda path: path.name)
def test_environment_is_read_only_through_click(path: Path) -> None:
    tree = ast.parse(path.read_text(encoding="utf-8"))

    touches = [
        node.lineno
        for node in ast.walk(tree)
        if (isinstance(node, ast.Attribute) and node.attr in ENVIRONMENT_NAMES)
        or (
            isinstance(node, ast.ImportFrom)
            and node.module == "os"
            and any(alias.name in ENVIRONMENT_NAMES for alias in node.names)
        )
    ]
    assert touches == []
