"""The wheel: it lists every package, carries the migrations, installs and starts."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import tomllib
import uuid
from pathlib import Path

import pytest
import trio

from tests.conftest import ROOT, _admin, with_database
from tests.integration.processes import Proc, base_env, free_port

pytestmark = pytest.mark.integration

_NOT_SOURCE = shutil.ignore_patterns(
    ".git",
    ".venv",
    "build",
    "dist",
    "*.egg-info",
    "__pycache__",
    ".*_cache",
    ".revaer-data",
    ".coverage*",
    "htmlcov",
)


# pip must not look anything up: no index, no version check, no user or site configuration.
_OFFLINE_PIP = {
    **{k: v for k, v in os.environ.items() if not k.startswith("PIP_")},
    "PIP_NO_INDEX": "1",
    "PIP_DISABLE_PIP_VERSION_CHECK": "1",
    "PIP_CONFIG_FILE": os.devnull,
}


def test_pyproject_lists_every_package() -> None:
    listed = set(
        tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
    )
    found = {
        ".".join(init.parent.relative_to(ROOT).parts)
        for top in ("revaer", "supervisors")
        for init in (ROOT / top).rglob("__init__.py")
    }
    assert listed == found | {"revaer.migrations"}


def _build_wheel(tmp_path: Path) -> Path:
    # A copy, so the build leaves no build/ or egg-info behind in the checkout.
    source = tmp_path / "src"
    shutil.copytree(ROOT, source, ignore=_NOT_SOURCE)
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
         "--no-index", "--wheel-dir", str(tmp_path / "dist"), str(source)],
        check=True, capture_output=True, timeout=300, env=_OFFLINE_PIP,
    )  # fmt: skip
    (wheel,) = (tmp_path / "dist").glob("revaer-*.whl")
    return wheel


def _venv_with(wheel: Path, tmp_path: Path) -> Path:
    """A fresh venv holding only the wheel; its dependencies come from the test venv."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True, capture_output=True, text=True,
    ).stdout.strip()  # fmt: skip
    # A plain path line: the test venv's own .pth files (the editable revaer) are not run.
    (Path(purelib) / "_test_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet", "--no-deps",
         "--no-index", str(wheel)],
        check=True, capture_output=True, timeout=300, env=_OFFLINE_PIP,
    )  # fmt: skip
    return venv


def test_a_built_wheel_installs_into_a_fresh_venv_and_the_daemon_starts_from_it(
    procs: list[Proc], pg_admin_url: str, tmp_path: Path
) -> None:
    wheel = _build_wheel(tmp_path)
    venv = _venv_with(wheel, tmp_path)
    python = str(venv / "bin" / "python")
    where = subprocess.run(
        [python, "-c", "import revaer, supervisors; print(revaer.__file__, supervisors.__file__)"],
        check=True, capture_output=True, text=True, cwd=tmp_path,
    ).stdout  # fmt: skip
    assert str(ROOT) not in where and str(venv) in where

    # An empty database: every migration must come from the wheel.
    name = f"revaer_wheel_{uuid.uuid4().hex[:12]}"
    trio.run(_admin, pg_admin_url, f'CREATE DATABASE "{name}"')
    try:
        port = free_port()
        proc = Proc(
            [str(venv / "bin" / "revaer-app"), "--data-dir", str(tmp_path / "data"),
             "--bind", "127.0.0.1", "--port", str(port)],
            base_env(DATABASE_URL=with_database(pg_admin_url, name)),
            tmp_path / "wheel.log",
            cwd=tmp_path,
        )  # fmt: skip
        procs.append(proc)
        health = proc.wait_healthy(f"http://127.0.0.1:{port}")
        assert health["status"] == "ok" and health["mode"] == "setup"
        versions = sorted(int(path.name[:4]) for path in (ROOT / "sql").glob("*.sql"))
        assert f"applied migrations {versions}" in proc.output()
        assert proc.stop() == 0
    finally:
        trio.run(_admin, pg_admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
