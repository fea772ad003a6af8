"""``revaer config get``."""

from __future__ import annotations

import json

from tests.cli.support import API_KEY, API_URL, SNAPSHOT, FakeApi, run


def test_get_fetches_snapshot_without_credentials(api: FakeApi) -> None:
    api.on("GET", "/.well-known/revaer.json", json=SNAPSHOT)

    result = run(api, "--api-key", API_KEY, "config", "get")

    assert result.exit_code == 0, result.output
    request = api.only_request()
    assert (request.method, str(request.url)) == ("GET", f"{API_URL}/.well-known/revaer.json")
    assert "x-revaer-api-key" not in request.headers
    assert len(request.headers["x-request-id"]) == 32


def test_get_table_lists_revision_fields_and_keys(api: FakeApi) -> None:
    api.on("GET", "/.well-known/revaer.json", json=SNAPSHOT)

    result = run(api, "config", "get")

    lines = result.stdout.splitlines()
    assert lines[0] == "revision = 7"
    for line in [
        "app_profile.instance_name = den",
        "app_profile.http_port = 7070",
        "app_profile.telemetry.log_level = info",
        "app_profile.features = {}",
        "engine_profile.dht = true",
        "engine_profile.max_active = null",
        "engine_profile.download_root = /srv/downloads",
        'fs_policy.cleanup_keep = ["*.mkv","*.srt"]',
        "secrets = libtorrent.passphrase",
        "api_keys:",
    ]:
        assert line in lines
    keys = lines[lines.index("api_keys:") + 1 :]
    assert keys[0].split() == ["KEY_ID", "LABEL", "ENABLED", "RATE_LIMIT", "EXPIRES_AT"]
    assert keys[1].split() == ["admin", "bootstrap", "true", "10/1s", "-"]
    assert keys[2].split() == ["ci", "automation", "false", "unlimited", "2030-01-01T00:00:00Z"]


def test_get_table_says_when_there_are_no_keys_or_secrets(api: FakeApi) -> None:
    api.on("GET", "/.well-known/revaer.json", json={**SNAPSHOT, "api_keys": [], "secrets": []})

    result = run(api, "config", "get")

    assert result.exit_code == 0
    assert result.stdout.splitlines()[-2:] == ["secrets = (none)", "api_keys = (none)"]


def test_get_json_prints_the_document_as_received(api: FakeApi) -> None:
    document = {**SNAPSHOT, "extension": {"kept": True}}
    api.on("GET", "/.well-known/revaer.json", json=document)

    result = run(api, "--format", "json", "config", "get")

    assert result.exit_code == 0
    assert json.loads(result.stdout) == document


def test_get_rejects_a_snapshot_of_the_wrong_shape(api: FakeApi) -> None:
    api.on("GET", "/.well-known/revaer.json", json={**SNAPSHOT, "revision": "seven"})

    result = run(api, "config", "get")

    assert result.exit_code == 3
    assert "revision" in result.stderr
    assert result.stdout == ""
