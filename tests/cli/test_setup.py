"""``revaer setup start|complete``."""

from __future__ import annotations

import json
import re

import pytest

from tests.cli.support import API_URL, SNAPSHOT, FakeApi, body_of, run

SETUP_TOKEN = "tok-9f8e7d"
ISSUED_KEY = "admin:fresh-secret-123"
COMPLETE_ARGS = (
    "setup",
    "complete",
    "--instance",
    "den",
    "--bind",
    "0.0.0.0",
    "--port",
    "7070",
    "--resume-dir",
    "/var/lib/revaer/resume",
    "--download-root",
    "/srv/downloads",
    "--library-root",
    "/srv/library",
    "--api-key-label",
    "bootstrap",
)


def script_start(api: FakeApi) -> None:
    api.on(
        "POST",
        "/admin/setup/start",
        status=201,
        json={"token": SETUP_TOKEN, "expires_at": "2030-01-01T00:15:00Z"},
    )


def script_complete(api: FakeApi) -> None:
    api.on("POST", "/admin/setup/complete", json={**SNAPSHOT, "api_key": ISSUED_KEY})


def test_start_posts_empty_object_and_prints_token_and_expiry(api: FakeApi) -> None:
    script_start(api)

    result = run(api, "setup", "start")

    assert result.exit_code == 0, result.output
    request = api.only_request()
    assert (request.method, str(request.url)) == ("POST", f"{API_URL}/admin/setup/start")
    assert re.fullmatch(r"[0-9a-f]{32}", request.headers["x-request-id"])
    assert "x-revaer-api-key" not in request.headers
    assert body_of(request) == {}
    assert result.stdout.splitlines() == [
        f"token: {SETUP_TOKEN}",
        "expires_at: 2030-01-01T00:15:00Z",
    ]
    assert result.stderr == ""


def test_start_sends_only_the_given_fields(api: FakeApi) -> None:
    script_start(api)

    assert run(api, "setup", "start", "--issued-by", "ops").exit_code == 0
    assert run(api, "setup", "start", "--ttl-seconds", "600").exit_code == 0

    assert [body_of(request) for request in api.requests] == [
        {"issued_by": "ops"},
        {"ttl_seconds": 600},
    ]


def test_start_json_prints_the_response_document(api: FakeApi) -> None:
    script_start(api)

    result = run(api, "--format", "json", "setup", "start")

    assert result.exit_code == 0
    assert json.loads(result.stdout) == {
        "token": SETUP_TOKEN,
        "expires_at": "2030-01-01T00:15:00Z",
    }


def test_start_rejects_non_positive_ttl_without_sending(api: FakeApi) -> None:
    result = run(api, "setup", "start", "--ttl-seconds", "0")

    assert result.exit_code == 2
    assert "--ttl-seconds" in result.stderr
    assert api.requests == []


def test_complete_sends_changeset_with_token_header(api: FakeApi) -> None:
    script_complete(api)

    result = run(api, *COMPLETE_ARGS, "--token", SETUP_TOKEN)

    assert result.exit_code == 0, result.output
    request = api.only_request()
    assert (request.method, request.url.path) == ("POST", "/admin/setup/complete")
    assert request.headers["x-revaer-setup-token"] == SETUP_TOKEN
    assert re.fullmatch(r"[0-9a-f]{32}", request.headers["x-request-id"])
    assert body_of(request) == {
        "app_profile": {"instance_name": "den", "bind_addr": "0.0.0.0", "http_port": 7070},
        "engine_profile": {
            "resume_dir": "/var/lib/revaer/resume",
            "download_root": "/srv/downloads",
        },
        "fs_policy": {"library_root": "/srv/library"},
        "api_keys": [{"op": "upsert", "key_id": "admin", "label": "bootstrap", "enabled": True}],
    }


def test_complete_adds_passphrase_secret_and_custom_key_id(api: FakeApi) -> None:
    script_complete(api)

    result = run(
        api,
        *COMPLETE_ARGS,
        "--api-key-id",
        "root",
        "--passphrase",
        "hunter2",
        "--token",
        SETUP_TOKEN,
    )

    assert result.exit_code == 0, result.output
    body = body_of(api.only_request())
    assert isinstance(body, dict)
    assert body["api_keys"] == [
        {"op": "upsert", "key_id": "root", "label": "bootstrap", "enabled": True}
    ]
    assert body["secrets"] == [{"op": "set", "name": "libtorrent.passphrase", "value": "hunter2"}]


def test_complete_prints_instance_revision_and_the_key_once(api: FakeApi) -> None:
    script_complete(api)

    result = run(api, *COMPLETE_ARGS, "--token", SETUP_TOKEN)

    lines = result.stdout.splitlines()
    assert lines[:3] == ["instance: den", "revision: 7", f"api_key: {ISSUED_KEY}"]
    assert "securely" in lines[3]
    assert result.stdout.count(ISSUED_KEY) == 1


def test_complete_says_where_the_daemon_moves_when_the_port_changes(api: FakeApi) -> None:
    moved = {**SNAPSHOT, "app_profile": {**SNAPSHOT["app_profile"], "http_port": 7171}}  # type: ignore[dict-item]
    api.on("POST", "/admin/setup/complete", json={**moved, "api_key": ISSUED_KEY})

    result = run(api, *COMPLETE_ARGS, "--token", SETUP_TOKEN)

    assert result.exit_code == 0, result.stderr
    last = result.stdout.splitlines()[-1]
    assert "now listens on http://127.0.0.1:7171" in last
    assert "--api-url http://127.0.0.1:7171" in last


def test_complete_says_nothing_more_when_the_daemon_stays(api: FakeApi) -> None:
    script_complete(api)  # bind 127.0.0.1, port 7070: where the CLI already talks to it

    result = run(api, *COMPLETE_ARGS, "--token", SETUP_TOKEN)

    assert "listens on" not in result.stdout


def test_complete_json_prints_the_whole_response(api: FakeApi) -> None:
    script_complete(api)

    result = run(api, "--format", "json", *COMPLETE_ARGS, "--token", SETUP_TOKEN)

    assert result.exit_code == 0
    assert json.loads(result.stdout) == {**SNAPSHOT, "api_key": ISSUED_KEY}


def test_complete_reads_token_from_environment(api: FakeApi) -> None:
    script_complete(api)

    result = run(api, *COMPLETE_ARGS, env={"REVAER_SETUP_TOKEN": "from-env"})

    assert result.exit_code == 0, result.output
    assert api.only_request().headers["x-revaer-setup-token"] == "from-env"


def test_complete_rejects_missing_token_without_sending(api: FakeApi) -> None:
    result = run(api, *COMPLETE_ARGS)

    assert result.exit_code == 2
    assert "--token" in result.stderr
    assert api.requests == []


def replace_arg(flag: str, value: str) -> list[str]:
    args = [*COMPLETE_ARGS, "--token", SETUP_TOKEN]
    args[args.index(flag) + 1] = value
    return args


@pytest.mark.parametrize(
    ("flag", "value"),
    [
        ("--port", "0"),
        ("--port", "65536"),
        ("--port", "http"),
        ("--bind", "localhost"),
        ("--bind", "300.1.1.1"),
        ("--resume-dir", "relative/resume"),
        ("--download-root", "downloads"),
        ("--library-root", "./library"),
    ],
)
def test_complete_rejects_bad_values_naming_the_flag(api: FakeApi, flag: str, value: str) -> None:
    result = run(api, *replace_arg(flag, value))

    assert result.exit_code == 2
    assert flag in result.stderr
    assert api.requests == []


def test_complete_accepts_ipv6_bind_address(api: FakeApi) -> None:
    script_complete(api)

    result = run(api, *replace_arg("--bind", "::1"))

    assert result.exit_code == 0, result.output
    body = body_of(api.only_request())
    assert isinstance(body, dict)
    assert body["app_profile"]["bind_addr"] == "::1"
