"""``revaer keys ls|show|issue|rotate|revoke|enable|disable|update``."""

from __future__ import annotations

import json

import pytest

from revaer.api.models import InvalidParamDoc
from tests.cli.support import (
    ADMIN_KEY,
    API_KEY,
    CI_KEY,
    TELEMETRY_URL,
    FakeApi,
    body_of,
    run,
)

SECRET = "Zm9vYmFyYmF6cXV4LW5ldy1zZWNyZXQ"
LISTED_ADMIN = {**ADMIN_KEY, "last_used_at": "2026-12-03T09:15:00+00:00"}
LISTED_CI = {**CI_KEY, "last_used_at": None}
SONARR = {**CI_KEY, "key_id": "sonarr", "label": "Sonarr on nas", "role": "operate",
          "enabled": True, "rate_limit": {"burst": 300, "per_seconds": 10},
          "expires_at": None}  # fmt: skip
ISSUED = {"key": SONARR, "api_key": f"sonarr:{SECRET}"}
LAST_ADMIN = [InvalidParamDoc(pointer="/api_keys", message="would leave no enabled admin key")]


def keys(api: FakeApi, *args: str) -> tuple[int, str, str]:
    result = run(api, "--api-key", API_KEY, *args)
    return result.exit_code, result.stdout, result.stderr


def test_ls_sends_the_key_and_prints_a_table(api: FakeApi) -> None:
    api.on("GET", "/v1/keys", json={"keys": [LISTED_ADMIN, LISTED_CI]})

    code, out, _ = keys(api, "keys", "ls")

    assert code == 0
    request = api.only_request()
    assert (request.method, request.url.path) == ("GET", "/v1/keys")
    assert request.headers["x-revaer-api-key"] == API_KEY
    header, admin, ci = out.splitlines()
    assert header.split() == [
        "KEY_ID", "LABEL", "ROLE", "ENABLED", "RATE_LIMIT", "EXPIRES_AT", "LAST_USED",
    ]  # fmt: skip
    assert admin.split() == [
        "admin", "bootstrap", "admin", "true", "10/1s", "never", "2026-12-03T09:15:00+00:00",
    ]  # fmt: skip
    assert ci.split() == [
        "ci", "automation", "read", "false", "unlimited", "2030-01-01T00:00:00Z", "never",
    ]  # fmt: skip


def test_ls_json_prints_the_document_as_received(api: FakeApi) -> None:
    document = {"keys": [LISTED_ADMIN], "extension": 1}
    api.on("GET", "/v1/keys", json=document)

    code, out, _ = keys(api, "--format", "json", "keys", "ls")

    assert code == 0
    assert json.loads(out) == document


def test_ls_without_an_api_key_exits_2_and_sends_nothing(api: FakeApi) -> None:
    result = run(api, "keys", "ls")

    assert result.exit_code == 2
    assert "--api-key" in result.stderr
    assert api.api_requests() == []


def test_ls_of_an_answer_without_roles_exits_3(api: FakeApi) -> None:
    older = {k: v for k, v in LISTED_CI.items() if k != "role"}
    api.on("GET", "/v1/keys", json={"keys": [older]})

    code, out, err = keys(api, "keys", "ls")

    assert code == 3
    assert "keys[0].role" in err
    assert out == ""


def test_show_prints_one_key_with_its_last_use(api: FakeApi) -> None:
    api.on("GET", "/v1/keys/admin", json=LISTED_ADMIN)

    code, out, _ = keys(api, "keys", "show", "admin")

    assert code == 0
    assert api.only_request().method == "GET"
    lines = out.splitlines()
    for line in [
        "key_id: admin",
        "role: admin",
        "enabled: true",
        "rate_limit: 10/1s",
        "expires_at: never",
        "created_at: 2026-12-01T10:00:00+00:00",
        "previous_secret_valid_until: -",
        "last_used_at: 2026-12-03T09:15:00+00:00",
    ]:
        assert line in lines


def test_show_of_an_unknown_key_is_a_404_and_exits_3(api: FakeApi) -> None:
    api.problem("GET", "/v1/keys/nope", status=404, title="Not Found", detail="no API key 'nope'")

    code, out, err = keys(api, "keys", "show", "nope")

    assert code == 3
    assert err.splitlines()[0] == "Error: Not Found (404): no API key 'nope'"
    assert out == ""


def test_issue_sends_every_option_and_prints_the_secret_once(api: FakeApi) -> None:
    api.on("POST", "/v1/keys", status=201, json=ISSUED)

    code, out, _ = keys(
        api, "keys", "issue", "--id", "sonarr", "--label", "Sonarr on nas", "--role", "operate",
        "--rate", "300/10", "--expires-at", "2030-01-01T00:00:00Z",
    )  # fmt: skip

    assert code == 0
    request = api.only_request()
    assert (request.method, request.url.path) == ("POST", "/v1/keys")
    assert body_of(request) == {
        "key_id": "sonarr", "label": "Sonarr on nas", "role": "operate",
        "rate_limit": {"burst": 300, "per_seconds": 10}, "expires_at": "2030-01-01T00:00:00Z",
    }  # fmt: skip
    assert out.splitlines() == [
        "issued sonarr (role operate, rate limit 300/10s, expires never)",
        f"api_key: sonarr:{SECRET}",
        "Store this API key securely now: it is shown only once.",
    ]
    assert out.count(SECRET) == 1


def test_issue_without_options_leaves_every_default_to_the_server(api: FakeApi) -> None:
    api.on("POST", "/v1/keys", status=201, json=ISSUED)

    code, _, _ = keys(api, "keys", "issue")

    assert code == 0
    assert body_of(api.only_request()) == {}


def test_issue_with_no_rate_limit_sends_null(api: FakeApi) -> None:
    api.on("POST", "/v1/keys", status=201, json={**ISSUED, "key": {**SONARR, "rate_limit": None}})

    code, out, _ = keys(api, "keys", "issue", "--no-rate-limit")

    assert code == 0
    assert body_of(api.only_request()) == {"rate_limit": None}
    assert "rate limit unlimited" in out


def test_issue_json_prints_the_whole_answer(api: FakeApi) -> None:
    api.on("POST", "/v1/keys", status=201, json=ISSUED)

    code, out, _ = keys(api, "--format", "json", "keys", "issue", "--rate", "300/10s")

    assert code == 0
    assert body_of(api.only_request()) == {"rate_limit": {"burst": 300, "per_seconds": 10}}
    assert json.loads(out) == ISSUED


def test_the_issued_secret_stays_out_of_diagnostics_and_telemetry(api: FakeApi) -> None:
    api.on("POST", "/v1/keys", status=201, json=ISSUED)
    api.on("POST", "/collect", status=204)

    result = run(
        api, "--api-key", API_KEY, "-v", "keys", "issue",
        env={"REVAER_TELEMETRY_ENDPOINT": TELEMETRY_URL},
    )  # fmt: skip

    assert result.exit_code == 0
    assert f"api_key: sonarr:{SECRET}" in result.stdout.splitlines()
    assert "revaer: <- 201" in result.stderr
    assert SECRET not in result.stderr
    events = api.telemetry_events()
    assert [event["command"] for event in events if isinstance(event, dict)] == ["keys issue"]
    assert SECRET not in json.dumps(events)


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["--rate", "300"], "--rate"),
        (["--rate", "0/10"], "--rate"),
        (["--rate", "ten/1"], "--rate"),
        (["--role", "root"], "--role"),
        (["--expires-at", "next year"], "--expires-at"),
        (["--expires-at", "2030-01-01T00:00:00"], "--expires-at"),
        (["--rate", "300/10", "--no-rate-limit"], "--rate/--no-rate-limit"),
    ],
)
def test_issue_refuses_bad_options_with_exit_2_and_sends_nothing(
    api: FakeApi, args: list[str], named: str
) -> None:
    code, out, err = keys(api, "keys", "issue", *args)

    assert code == 2
    assert named in err
    assert out == ""
    assert api.api_requests() == []


def test_issue_of_an_existing_id_shows_the_conflict_and_exits_3(api: FakeApi) -> None:
    api.problem(
        "POST", "/v1/keys", status=409, title="Conflict",
        detail="an API key 'ci' exists already; rotate it or choose another key_id",
        invalid_params=[InvalidParamDoc(pointer="/key_id", message="exists already")],
    )  # fmt: skip

    code, out, err = keys(api, "keys", "issue", "--id", "ci")

    assert code == 3
    assert err.splitlines()[:2] == [
        "Error: Conflict (409): an API key 'ci' exists already; rotate it or choose another key_id",
        "  /key_id: exists already",
    ]
    assert out == ""


def test_a_422_from_the_server_exits_2_and_names_the_field(api: FakeApi) -> None:
    api.problem(
        "POST", "/v1/keys", status=422, title="Validation failed", detail="",
        invalid_params=[InvalidParamDoc(pointer="/rate_limit/burst", message="must be ≤ 1000000")],
    )  # fmt: skip

    code, _, err = keys(api, "keys", "issue", "--rate", "9999999/1")

    assert code == 2
    assert "/rate_limit/burst: must be ≤ 1000000" in err


def test_rotate_with_grace_prints_the_new_key_and_until_when_the_old_works(api: FakeApi) -> None:
    until = "2026-12-03T10:15:00+00:00"
    rotated = {"key": {**CI_KEY, "previous_secret_valid_until": until}, "api_key": f"ci:{SECRET}"}
    api.on("POST", "/v1/keys/ci/rotate", json=rotated)

    code, out, _ = keys(api, "keys", "rotate", "ci", "--grace", "3600")

    assert code == 0
    request = api.only_request()
    assert (request.method, request.url.path) == ("POST", "/v1/keys/ci/rotate")
    assert body_of(request) == {"grace_seconds": 3600}
    assert out.splitlines() == [
        "rotated ci",
        f"api_key: ci:{SECRET}",
        "Store this API key securely now: it is shown only once.",
        f"the old secret keeps working until {until}",
    ]


def test_rotating_the_key_in_use_without_grace_says_to_switch(api: FakeApi) -> None:
    api.on("POST", "/v1/keys/admin/rotate", json={"key": ADMIN_KEY, "api_key": f"admin:{SECRET}"})

    code, out, _ = keys(api, "keys", "rotate", "admin")

    assert code == 0
    assert body_of(api.only_request()) == {}
    assert out.splitlines()[-2:] == [
        "the old secret no longer works",
        "this command used that key: switch --api-key (REVAER_API_KEY) to the new one",
    ]


def test_rotate_json_prints_the_whole_answer(api: FakeApi) -> None:
    rotated = {"key": CI_KEY, "api_key": f"ci:{SECRET}"}
    api.on("POST", "/v1/keys/ci/rotate", json=rotated)

    code, out, _ = keys(api, "--format", "json", "keys", "rotate", "ci")

    assert code == 0
    assert json.loads(out) == rotated


def test_rotate_refuses_a_negative_grace(api: FakeApi) -> None:
    code, _, err = keys(api, "keys", "rotate", "ci", "--grace", "-1")

    assert code == 2
    assert "--grace" in err
    assert api.api_requests() == []


def test_revoke_deletes_the_key(api: FakeApi) -> None:
    api.on("DELETE", "/v1/keys/ci", status=204)

    code, out, _ = keys(api, "keys", "revoke", "ci")

    assert code == 0
    assert api.only_request().method == "DELETE"
    assert out.splitlines() == ["revoked ci"]


def test_revoke_json_prints_one_document(api: FakeApi) -> None:
    api.on("DELETE", "/v1/keys/ci", status=204)

    code, out, _ = keys(api, "--format", "json", "keys", "revoke", "ci")

    assert code == 0
    assert json.loads(out) == {"key_id": "ci", "revoked": True}


def test_revoking_the_last_admin_key_shows_the_conflict_and_exits_3(api: FakeApi) -> None:
    detail = "the last enabled admin key cannot be revoked; issue another admin key first"
    api.problem(
        "DELETE", "/v1/keys/admin", status=409, title="Conflict", detail=detail,
        invalid_params=LAST_ADMIN,
    )  # fmt: skip

    code, out, err = keys(api, "keys", "revoke", "admin")

    assert code == 3
    assert err.splitlines()[0] == f"Error: Conflict (409): {detail}"
    assert "  /api_keys: would leave no enabled admin key" in err.splitlines()
    assert out == ""


def test_revoking_an_unknown_key_is_a_404_and_exits_3(api: FakeApi) -> None:
    api.problem("DELETE", "/v1/keys/nope", status=404, title="Not Found", detail="no API key")

    code, _, err = keys(api, "--format", "json", "keys", "revoke", "nope")

    assert code == 3
    assert json.loads(err)["status"] == 404


@pytest.mark.parametrize(("command", "enabled"), [("enable", True), ("disable", False)])
def test_enable_and_disable_patch_the_key(api: FakeApi, command: str, enabled: bool) -> None:
    api.on("PATCH", "/v1/keys/ci", json={**CI_KEY, "enabled": enabled})

    code, out, _ = keys(api, "keys", command, "ci")

    assert code == 0
    request = api.only_request()
    assert (request.method, request.url.path) == ("PATCH", "/v1/keys/ci")
    assert body_of(request) == {"enabled": enabled}
    assert out.splitlines() == [f"{command}d ci"]


def test_disabling_the_last_admin_key_shows_the_conflict_and_exits_3(api: FakeApi) -> None:
    api.problem(
        "PATCH", "/v1/keys/admin", status=409, title="Conflict",
        detail="the last enabled, unexpired admin key cannot be disabled",
        invalid_params=LAST_ADMIN,
    )  # fmt: skip

    code, _, err = keys(api, "keys", "disable", "admin")

    assert code == 3
    assert "cannot be disabled" in err


def test_update_sends_only_what_changes_and_prints_the_key(api: FakeApi) -> None:
    changed = {**CI_KEY, "role": "operate", "rate_limit": {"burst": 60, "per_seconds": 60},
               "expires_at": None}  # fmt: skip
    api.on("PATCH", "/v1/keys/ci", json=changed)

    code, out, _ = keys(
        api, "keys", "update", "ci", "--role", "operate", "--rate", "60/60", "--no-expiry"
    )

    assert code == 0
    assert body_of(api.only_request()) == {
        "role": "operate", "rate_limit": {"burst": 60, "per_seconds": 60}, "expires_at": None,
    }  # fmt: skip
    lines = out.splitlines()
    assert lines[0] == "updated ci"
    assert {"role: operate", "rate_limit: 60/60s", "expires_at: never"} <= set(lines)


def test_update_label_expiry_and_no_rate_limit(api: FakeApi) -> None:
    api.on("PATCH", "/v1/keys/ci", json=CI_KEY)

    code, out, _ = keys(
        api, "--format", "json", "keys", "update", "ci", "--label", "nightly",
        "--expires-at", "2031-06-01T00:00:00+02:00", "--no-rate-limit",
    )  # fmt: skip

    assert code == 0
    assert body_of(api.only_request()) == {
        "label": "nightly", "expires_at": "2031-06-01T00:00:00+02:00", "rate_limit": None,
    }  # fmt: skip
    assert json.loads(out) == CI_KEY


@pytest.mark.parametrize(
    ("args", "named"),
    [
        ([], "nothing to change"),
        (["--expires-at", "2030-01-01T00:00:00Z", "--no-expiry"], "--expires-at/--no-expiry"),
        (["--rate", "1/1", "--no-rate-limit"], "--rate/--no-rate-limit"),
        (["--role", "superuser"], "--role"),
    ],
)
def test_update_refuses_bad_options_with_exit_2_and_sends_nothing(
    api: FakeApi, args: list[str], named: str
) -> None:
    code, _, err = keys(api, "keys", "update", "ci", *args)

    assert code == 2
    assert named in err
    assert api.api_requests() == []
