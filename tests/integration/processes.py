"""The daemon and the CLI as real processes: start, wait for health, read their output."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from tests.conftest import ROOT

BIN = Path(sys.executable).parent

#: The keys every JSON log line has (docs/operations.md "Logs").
LOG_KEYS = {"ts", "level", "msg", "actor"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def base_env(**extra: str) -> dict[str, str]:
    env = {
        k: v for k, v in os.environ.items() if not k.startswith("REVAER_") and k != "DATABASE_URL"
    }
    env.update(extra)
    return env


class Proc:
    def __init__(
        self, args: list[str], env: dict[str, str], log: Path, *, cwd: Path = ROOT
    ) -> None:
        self.log = log
        self._out = log.open("wb")
        self.popen = subprocess.Popen(
            args, env=env, stdout=self._out, stderr=subprocess.STDOUT, cwd=cwd
        )

    def wait_healthy(self, url: str, timeout: float = 60) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.popen.poll() is not None:
                raise AssertionError(f"daemon exited {self.popen.returncode}:\n{self.output()}")
            try:
                response = httpx.get(url + "/health", timeout=1)
            except httpx.HTTPError:
                time.sleep(0.1)
                continue
            body: dict[str, Any] = response.json()
            return body
        raise AssertionError(f"daemon not healthy in {timeout}s:\n{self.output()}")

    def output(self) -> str:
        if not self._out.closed:
            self._out.flush()
        return self.log.read_text(errors="replace")

    def json_lines(self) -> list[dict[str, Any]]:
        """Every output line parsed as a JSON object (fails on the first line that is not)."""
        records = []
        for number, line in enumerate(self.output().splitlines(), start=1):
            try:
                record = json.loads(line)
            except ValueError:
                raise AssertionError(f"line {number} is not JSON: {line!r}") from None
            assert isinstance(record, dict), f"line {number} is not an object: {line!r}"
            records.append(record)
        return records

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15) -> int:
        self.popen.send_signal(sig)
        return self.popen.wait(timeout)

    def close(self) -> None:
        self._out.close()


def cli(
    url: str, *args: str, api_key: str | None = None, input_env: dict[str, str] | None = None
) -> tuple[int, str, str]:
    env = base_env(REVAER_API_URL=url, **(input_env or {}))
    if api_key:
        env["REVAER_API_KEY"] = api_key
    done = subprocess.run(
        [str(BIN / "revaer"), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return done.returncode, done.stdout, done.stderr
