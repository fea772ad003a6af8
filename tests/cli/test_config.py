"""``revaer config get``."""

from __future__ import annotations

import json

from tests.cli.support import API_KEY, API_URL, CI_KEY, PUBLIC_SNAPSHOT, FakeApi, run


def test_get_fetches_snapshot_without_credentials(api: FakeApi) -> None:
    api.on("GET", "/.well-known/revaer.json", json=PUBLIC_SNAPSHOT)

    result = run(api, "--api-key", API_KEY, "config", "get")

    assert result.exit_code == 0, result.output
    request = api.only_request()
    assert (request.method, str(request.url)) == ("GET", f"{API_URL}/.well-known/revaer.json")
    assert "x-revaer-api-key" not in request.headers
    assert len(request.headers["x-request-id"]) == 32


def test_get_table_lists_revision_and_fields_and_points_at_keys_ls(api: FakeApi) -> None:
    api.on("GET", "/.well-known/revaer.json", json=PUBLIC_SNAPSHOT)

    result = run(api, "config", "get")

    assert result.exit_code == 0, result.output
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
    ]:
        assert line in lines
    assert lines[-1] == "api_keys = (not public; list them with: revaer keys ls)"


def test_get_table_says_when_there_are_no_secrets(api: FakeApi) -> None:
    api.on("GET", "/.well-known/revaer.json", json={**PUBLIC_SNAPSHOT, "secrets": []})

    result = run(api, "config", "get")

    assert result.exit_code == 0
    assert result.stdout.splitlines()[-2] == "secrets = (none)"


def test_get_accepts_an_older_snapshot_that_still_lists_keys(api: FakeApi) -> None:
    older_key = {k: CI_KEY[k] for k in ("key_id", "label", "enabled", "rate_limit", "expires_at")}
    api.on("GET", "/.well-known/revaer.json", json={**PUBLIC_SNAPSHOT, "api_keys": [older_key]})

    result = run(api, "config", "get")

    assert result.exit_code == 0, result.output
    assert "ci" not in result.stdout.split()


def test_get_rejects_keys_of_the_wrong_shape_when_present(api: FakeApi) -> None:
    bad_key = {**CI_KEY, "enabled": "yes"}
    api.on("GET", "/.well-known/revaer.json", json={**PUBLIC_SNAPSHOT, "api_keys": [bad_key]})

    result = run(api, "config", "get")

    assert result.exit_code == 3
    assert "api_keys[0].enabled" in result.stderr


def test_get_json_prints_the_document_as_received(api: FakeApi) -> None:
    document = {**PUBLIC_SNAPSHOT, "extension": {"kept": True}}
    api.on("GET", "/.well-known/revaer.json", json=document)

    result = run(api, "--format", "json", "config", "get")

    assert result.exit_code == 0
    assert json.loads(result.stdout) == document


def test_get_rejects_a_snapshot_of_the_wrong_shape(api: FakeApi) -> None:
    api.on("GET", "/.well-known/revaer.json", json={**PUBLIC_SNAPSHOT, "revision": "seven"})

    result = run(api, "config", "get")

    assert result.exit_code == 3
    assert "revision" in result.stderr
    assert result.stdout == ""
