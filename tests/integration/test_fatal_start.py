"""Start-up failures end in one actionable line: what failed, where, what to do; no traceback."""

from __future__ import annotations

import fcntl
import os
import shutil
import socket
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.integration.processes import BIN, LOG_KEYS, Proc, base_env, free_port

pytestmark = pytest.mark.integration


@dataclass
class Exited:
    code: int
    records: list[dict[str, Any]]
    text: str

    @property
    def first_error(self) -> str:
        errors: list[str] = [r["msg"] for r in self.records if r["level"] in ("ERROR", "CRITICAL")]
        assert errors, self.text
        return errors[0]


def run_app(tmp_path: Path, *args: str, prefix: tuple[str, ...] = (), **env: str) -> Exited:
    """``revaer-app`` with piped output (so JSON lines) until it exits by itself."""
    log = tmp_path / "app.log"
    proc = Proc([*prefix, str(BIN / "revaer-app"), *args], base_env(**env), log, cwd=tmp_path)
    try:
        code = proc.popen.wait(60)
    finally:
        if proc.popen.poll() is None:
            proc.popen.kill()
        proc.close()
    records = proc.json_lines()
    for record in records:
        assert set(record) >= LOG_KEYS, record
        assert "exc" not in record, record["exc"]
    text = proc.output()
    assert "Traceback" not in text, text
    return Exited(code=code, records=records, text=text)


def data_dir(tmp_path: Path) -> list[str]:
    return ["--data-dir", str(tmp_path / "data"), "--bind", "127.0.0.1", "--port", "0"]


def test_unreachable_database_names_the_address_and_what_to_check(tmp_path: Path) -> None:
    port = free_port()  # nothing listens there
    done = run_app(
        tmp_path,
        *data_dir(tmp_path),
        DATABASE_URL=f"postgresql://revaer:hunter2@127.0.0.1:{port}/revaer",
    )

    assert done.code == 1
    line = done.first_error
    assert line.startswith(
        f"revaer stopped: cannot connect to PostgreSQL at 127.0.0.1:{port}, database revaer: "
    )
    assert "Connect call failed" in line
    assert line.endswith(
        "check that the server runs, the host and port are right and the user may log in"
    )
    assert "hunter2" not in done.text
    assert f"database: PostgreSQL at 127.0.0.1:{port}, database revaer (DATABASE_URL)" in [
        r["msg"] for r in done.records
    ]


@pytest.mark.skipif(shutil.which("unshare") is None, reason="needs unshare(1)")
def test_unknown_database_host_names_the_host(tmp_path: Path) -> None:
    # A name lookup would ask the host's resolver: run where there is no network at all.
    if subprocess.run(["unshare", "-n", "true"], check=False).returncode != 0:
        pytest.skip("unshare -n is not permitted here (needs root or user namespaces)")
    done = run_app(
        tmp_path,
        *data_dir(tmp_path),
        prefix=("unshare", "-n"),
        DATABASE_URL="postgresql://revaer@db.example.invalid/revaer",
    )

    assert done.code == 1
    line = done.first_error
    assert "cannot connect to PostgreSQL at db.example.invalid:5432" in line
    assert "name resolution" in line or "not known" in line
    assert line.endswith("the user may log in")


@pytest.mark.parametrize(
    ("url", "says"),
    [
        (
            "mysql://revaer@db/revaer",
            "it must start with postgresql:// (e.g. postgresql://user@host/db)",
        ),
        ("postgresql://revaer@db:99999/revaer", "its port is not a number from 1 to 65535"),
    ],
)
def test_a_malformed_database_url_says_what_is_wrong(tmp_path: Path, url: str, says: str) -> None:
    done = run_app(tmp_path, *data_dir(tmp_path), DATABASE_URL=url)

    assert done.code == 1
    assert done.first_error == (
        f"revaer stopped: DATABASE_URL is not a valid PostgreSQL URL: {says}; fix it, or unset "
        "it to use the embedded PostgreSQL"
    )


def test_a_port_in_use_fails_at_once_naming_the_port_and_the_flag(
    tmp_path: Path, db_url: str
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = run_app(
            tmp_path,
            "--data-dir",
            str(tmp_path / "data"),
            "--bind",
            "127.0.0.1",
            "--port",
            str(port),
            DATABASE_URL=db_url,
        )

    assert done.code == 1
    assert done.first_error == (
        f"revaer stopped: cannot listen on 127.0.0.1:{port}: Address already in use; stop the "
        "other program, or choose another port with --port or REVAER_HTTP_PORT"
    )
    # Not retried: a busy port does not free itself.
    assert not [r for r in done.records if "restarting" in r["msg"]]


@pytest.fixture
def locked_data_dir(tmp_path: Path) -> Iterator[Path]:
    data = tmp_path / "data"
    data.mkdir()
    fd = os.open(data / "revaer.lock", os.O_RDWR | os.O_CREAT, 0o644)
    fcntl.flock(fd, fcntl.LOCK_EX)
    os.write(fd, b"4242\n")
    yield data
    os.close(fd)


def test_a_locked_data_dir_names_the_holder_and_the_flag(
    tmp_path: Path, locked_data_dir: Path
) -> None:
    done = run_app(tmp_path, "--data-dir", str(locked_data_dir), "--port", "0")

    assert done.code == 1
    assert done.first_error == (
        f"revaer stopped: another revaer-app (pid 4242) is already running with data dir "
        f"{locked_data_dir}; stop it or choose another --data-dir"
    )


def test_an_unusable_data_dir_names_the_directory(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    done = run_app(tmp_path, "--data-dir", str(blocker / "data"), "--port", "0")

    assert done.code == 1
    assert done.first_error.startswith(f"revaer stopped: cannot use data dir {blocker / 'data'}: ")
    assert done.first_error.endswith(
        "choose a writable directory with --data-dir or REVAER_DATA_DIR"
    )


def test_debug_adds_the_traceback(tmp_path: Path) -> None:
    port = free_port()
    proc = subprocess.run(
        [str(BIN / "revaer-app"), *data_dir(tmp_path), "--log-level", "debug"],
        env=base_env(DATABASE_URL=f"postgresql://revaer@127.0.0.1:{port}/revaer"),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=tmp_path,
    )
    assert proc.returncode == 1
    assert "Traceback" in proc.stderr


@pytest.mark.parametrize(
    ("args", "names"),
    [
        (["--log-level", "LOUD"], "'LOUD' is not one of 'trace', 'debug', 'info'"),
        (["--log-format", "xml"], "'xml' is not one of 'auto', 'human', 'json'"),
        (["--port", "70000"], "70000 is not in the range 0<=x<=65535"),
        (["--bind", "localhost"], "must be an IPv4 or IPv6 address"),
    ],
)
def test_a_bad_flag_exits_2_naming_the_flag_and_the_choices(
    tmp_path: Path, args: list[str], names: str
) -> None:
    proc = subprocess.run(
        [str(BIN / "revaer-app"), "--data-dir", str(tmp_path / "data"), *args],
        env=base_env(),
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert proc.returncode == 2
    error = next(line for line in proc.stderr.splitlines() if line.startswith("Error:"))
    assert args[0] in error and names in error
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "data").exists()  # nothing was started or created


def test_version_and_help_show_environment_variables_and_choices() -> None:
    version = subprocess.run(
        [str(BIN / "revaer-app"), "--version"], capture_output=True, text=True, check=True
    )
    assert version.stdout.strip() == "revaer-app, version 0.1.0"
    wrapped = subprocess.run(
        [str(BIN / "revaer-app"), "--help"], capture_output=True, text=True, check=True
    ).stdout
    help_text = " ".join(wrapped.split())
    for variable in (
        "REVAER_DATA_DIR",
        "REVAER_BIND_ADDR",
        "REVAER_HTTP_PORT",
        "DATABASE_URL",
        "REVAER_LOG_LEVEL",
        "REVAER_LOG_FORMAT",
    ):
        assert f"env var: {variable}" in help_text, variable
    assert "--log-level [trace|debug|info|success|warning|error|critical]" in help_text
    assert "--log-format [auto|human|json]" in help_text
