"""``revaer settings patch --file``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli.support import API_KEY, SNAPSHOT, FakeApi, body_of, run

CHANGES = {"engine_profile": {"max_download_bps": 1_048_576}, "fs_policy": {"extract": True}}


@pytest.fixture
def changes_file(tmp_path: Path) -> Path:
    path = tmp_path / "changes.json"
    path.write_text(json.dumps(CHANGES), encoding="utf-8")
    return path


def script_patch(api: FakeApi, *, issued: list[str]) -> None:
    api.on("PATCH", "/admin/settings", json={**SNAPSHOT, "revision": 8, "issued_api_keys": issued})


def test_patch_sends_file_with_api_key(api: FakeApi, changes_file: Path) -> None:
    script_patch(api, issued=[])

    result = run(api, "--api-key", API_KEY, "settings", "patch", "--file", str(changes_file))

    assert result.exit_code == 0, result.output
    request = api.only_request()
    assert (request.method, request.url.path) == ("PATCH", "/admin/settings")
    assert request.headers["x-revaer-api-key"] == API_KEY
    assert len(request.headers["x-request-id"]) == 32
    assert body_of(request) == CHANGES
    assert result.stdout.splitlines() == ["revision: 8"]


def test_patch_lists_issued_keys(api: FakeApi, changes_file: Path) -> None:
    script_patch(api, issued=["ops:new-secret-1", "ci:new-secret-2"])

    result = run(api, "--api-key", API_KEY, "settings", "patch", "--file", str(changes_file))

    lines = result.stdout.splitlines()
    assert lines[0] == "revision: 8"
    assert "shown once" in lines[1]
    assert lines[2:] == ["  ops:new-secret-1", "  ci:new-secret-2"]


def test_patch_json_prints_the_response(api: FakeApi, changes_file: Path) -> None:
    script_patch(api, issued=["ops:new-secret-1"])

    result = run(
        api,
        "--api-key",
        API_KEY,
        "--format",
        "json",
        "settings",
        "patch",
        "--file",
        str(changes_file),
    )

    assert result.exit_code == 0
    assert json.loads(result.stdout) == {
        **SNAPSHOT,
        "revision": 8,
        "issued_api_keys": ["ops:new-secret-1"],
    }


def test_patch_reads_key_from_environment(api: FakeApi, changes_file: Path) -> None:
    script_patch(api, issued=[])

    result = run(
        api, "settings", "patch", "--file", str(changes_file), env={"REVAER_API_KEY": API_KEY}
    )

    assert result.exit_code == 0, result.output
    assert api.only_request().headers["x-revaer-api-key"] == API_KEY


def test_patch_reads_stdin_for_dash(api: FakeApi) -> None:
    script_patch(api, issued=[])

    result = run(
        api, "--api-key", API_KEY, "settings", "patch", "--file", "-", input=json.dumps(CHANGES)
    )

    assert result.exit_code == 0, result.output
    assert body_of(api.only_request()) == CHANGES


def test_patch_without_api_key_is_a_validation_error(api: FakeApi, changes_file: Path) -> None:
    result = run(api, "settings", "patch", "--file", str(changes_file))

    assert result.exit_code == 2
    assert "--api-key" in result.stderr
    assert result.stdout == ""
    assert api.requests == []


@pytest.mark.parametrize("bad_key", ["no-colon-secret", ":only-secret", "admin:", "ad:min:x y"])
def test_patch_with_malformed_api_key_never_echoes_it(
    api: FakeApi, changes_file: Path, bad_key: str
) -> None:
    result = run(api, "--api-key", bad_key, "settings", "patch", "--file", str(changes_file))

    assert result.exit_code == 2
    assert "--api-key" in result.stderr
    assert bad_key not in result.output
    assert api.requests == []


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        ("{not json", "not valid JSON"),
        ('{"fs_policy": {"extract": NaN}}', "not valid JSON"),
        ("[1, 2]", "JSON object"),
        ('"just a string"', "JSON object"),
    ],
)
def test_patch_rejects_bad_file_content(
    api: FakeApi, tmp_path: Path, content: str, reason: str
) -> None:
    path = tmp_path / "bad.json"
    path.write_text(content, encoding="utf-8")

    result = run(api, "--api-key", API_KEY, "settings", "patch", "--file", str(path))

    assert result.exit_code == 2
    assert f"--file {path}" in result.stderr
    assert reason in result.stderr
    assert api.requests == []


def test_patch_rejects_unreadable_file(api: FakeApi, tmp_path: Path) -> None:
    missing = tmp_path / "missing.json"

    result = run(api, "--api-key", API_KEY, "settings", "patch", "--file", str(missing))

    assert result.exit_code == 2
    assert f"--file {missing}" in result.stderr
    assert "No such file" in result.stderr
    assert api.requests == []


def test_patch_rejects_non_utf8_file(api: FakeApi, tmp_path: Path) -> None:
    path = tmp_path / "latin1.json"
    path.write_bytes(b'{"label": "caf\xe9"}')

    result = run(api, "--api-key", API_KEY, "settings", "patch", "--file", str(path))

    assert result.exit_code == 2
    assert "UTF-8" in result.stderr
    assert api.requests == []


def test_patch_requires_file_option(api: FakeApi) -> None:
    result = run(api, "--api-key", API_KEY, "settings", "patch")

    assert result.exit_code == 2
    assert "--file" in result.stderr
    assert api.requests == []
