"""Exit codes and how failures are reported."""

from __future__ import annotations

import json

import httpx
import pytest

from tests.cli.support import API_KEY, API_URL, FakeApi, run

SNAPSHOT_PATH = "/.well-known/revaer.json"


def script_validation_problem(api: FakeApi) -> None:
    api.problem(
        "POST",
        "/admin/setup/start",
        status=422,
        title="Invalid request",
        detail="2 fields failed validation",
        invalid_params=[
            {"pointer": "/ttl_seconds", "message": "must be at most 86400"},
            {"pointer": "/issued_by", "message": "must not be empty"},
        ],
    )


def test_usage_error_exits_2(api: FakeApi) -> None:
    result = run(api, "config", "get", "--no-such-flag")

    assert result.exit_code == 2
    assert "--no-such-flag" in result.stderr
    assert api.requests == []


def test_unknown_command_exits_2(api: FakeApi) -> None:
    result = run(api, "frobnicate")

    assert result.exit_code == 2
    assert api.requests == []


def test_problem_with_invalid_params_exits_2_and_lists_each_pointer(api: FakeApi) -> None:
    script_validation_problem(api)

    result = run(api, "setup", "start", "--ttl-seconds", "3600")

    assert result.exit_code == 2
    request_id = api.only_request().headers["x-request-id"]
    assert result.stderr.splitlines() == [
        "Error: Invalid request (422): 2 fields failed validation",
        "  /ttl_seconds: must be at most 86400",
        "  /issued_by: must not be empty",
        f"request id: {request_id}",
    ]
    assert result.stdout == ""


def test_problem_in_json_format_goes_to_stderr_as_json(api: FakeApi) -> None:
    script_validation_problem(api)

    result = run(api, "--format", "json", "setup", "start")

    assert result.exit_code == 2
    assert result.stdout == ""
    problem = json.loads(result.stderr)
    assert problem["status"] == 422
    assert problem["invalid_params"][0] == {
        "pointer": "/ttl_seconds",
        "message": "must be at most 86400",
    }
    assert problem["request_id"] == api.only_request().headers["x-request-id"]


def test_problem_request_id_from_server_is_shown(api: FakeApi) -> None:
    api.problem(
        "GET", SNAPSHOT_PATH, status=503, title="Unavailable", detail="", request_id="srv-42"
    )

    result = run(api, "config", "get")

    assert result.exit_code == 3
    assert result.stderr.splitlines() == ["Error: Unavailable (503)", "request id: srv-42"]


def test_unauthorized_problem_without_invalid_params_exits_3(api: FakeApi) -> None:
    api.problem(
        "PATCH", "/admin/settings", status=401, title="Unauthorized", detail="unknown API key"
    )

    result = run(api, "--api-key", API_KEY, "settings", "patch", "--file", "-", input="{}")

    assert result.exit_code == 3
    assert "Unauthorized (401): unknown API key" in result.stderr


def test_server_error_exits_3(api: FakeApi) -> None:
    api.problem("GET", SNAPSHOT_PATH, status=500, title="Internal error", detail="boom")

    result = run(api, "config", "get")

    assert result.exit_code == 3
    assert "Internal error (500): boom" in result.stderr


def test_error_status_without_problem_body_exits_3(api: FakeApi) -> None:
    api.on(
        "GET",
        SNAPSHOT_PATH,
        status=502,
        content=b"<html>bad gateway</html>",
        headers={"content-type": "text/html"},
    )

    result = run(api, "config", "get")

    assert result.exit_code == 3
    assert "502 Bad Gateway" in result.stderr


def test_client_error_with_empty_invalid_params_exits_3(api: FakeApi) -> None:
    api.problem("GET", SNAPSHOT_PATH, status=409, title="Conflict", detail="", invalid_params=[])

    assert run(api, "config", "get").exit_code == 3


@pytest.mark.parametrize(
    "error",
    [
        httpx.ReadTimeout("timed out"),
        httpx.RemoteProtocolError("peer closed connection"),
    ],
)
def test_network_failures_exit_3_and_name_the_url(api: FakeApi, error: Exception) -> None:
    api.fail("GET", SNAPSHOT_PATH, error)

    result = run(api, "config", "get")

    assert result.exit_code == 3
    assert f"GET {API_URL}{SNAPSHOT_PATH}" in result.stderr
    # The request may have reached the daemon: its id can be looked up in the log.
    request_id = api.only_request().headers["x-request-id"]
    assert result.stderr.splitlines()[-1] == f"request id: {request_id}"
    assert result.stdout == ""


def test_connection_refused_hints_how_to_start_the_daemon_and_shows_no_request_id(
    api: FakeApi,
) -> None:
    api.fail("GET", SNAPSHOT_PATH, httpx.ConnectError("[Errno 111] Connection refused"))

    result = run(api, "config", "get")

    assert result.exit_code == 3
    (line,) = result.stderr.splitlines()
    assert line.startswith(f"Error: GET {API_URL}{SNAPSHOT_PATH}: cannot connect")
    assert "is the daemon running? Start it (scripts/serve in a checkout, else revaer-app)" in line
    assert "REVAER_API_URL" in line


def test_connection_refused_as_json_has_no_request_id(api: FakeApi) -> None:
    api.fail("GET", SNAPSHOT_PATH, httpx.ConnectError("[Errno 111] Connection refused"))

    result = run(api, "--format", "json", "config", "get")

    error = json.loads(result.stderr)
    assert error["exit_code"] == 3 and "request_id" not in error


def test_client_side_input_errors_show_no_request_id(api: FakeApi) -> None:
    result = run(api, "settings", "patch", "--file", "-", input="[]")

    assert result.exit_code == 2
    assert "request id" not in result.stderr
    assert api.requests == []


def test_stale_revision_conflict_exits_3_although_it_points_at_the_field(api: FakeApi) -> None:
    api.problem(
        "PATCH",
        "/admin/settings",
        status=409,
        title="Conflict",
        detail="",
        invalid_params=[{"pointer": "/expected_revision", "message": "stale revision"}],
    )

    result = run(
        api, "--api-key", API_KEY, "settings", "patch", "--file", "-",
        input='{"expected_revision": 4}',
    )  # fmt: skip

    assert result.exit_code == 3
    assert "/expected_revision: stale revision" in result.stderr


def test_timeout_message_names_the_timeout(api: FakeApi) -> None:
    api.fail("GET", SNAPSHOT_PATH, httpx.ReadTimeout("timed out"))

    result = run(api, "--timeout", "2.5", "config", "get")

    assert result.exit_code == 3
    assert "no answer within 2.5s" in result.stderr


def test_a_connect_timeout_is_a_daemon_not_reached(api: FakeApi) -> None:
    api.fail("GET", SNAPSHOT_PATH, httpx.ConnectTimeout("timed out"))

    result = run(api, "--timeout", "2.5", "config", "get")

    assert result.exit_code == 3
    (line,) = result.stderr.splitlines()  # nothing was sent: no request id
    assert "no connection within 2.5s; is the daemon running?" in line


def test_unparseable_success_body_exits_3(api: FakeApi) -> None:
    api.on("GET", SNAPSHOT_PATH, content=b"not json", headers={"content-type": "text/plain"})

    result = run(api, "config", "get")

    assert result.exit_code == 3
    assert "not JSON" in result.stderr


def test_unreadable_problem_body_exits_3(api: FakeApi) -> None:
    api.on(
        "GET",
        SNAPSHOT_PATH,
        status=400,
        content=b"{truncated",
        headers={"content-type": "application/problem+json"},
    )

    result = run(api, "config", "get")

    assert result.exit_code == 3
    assert "unreadable problem document" in result.stderr


def test_non_problem_failure_in_json_format_is_one_json_document(api: FakeApi) -> None:
    api.fail("GET", SNAPSHOT_PATH, httpx.ReadTimeout("timed out"))

    result = run(api, "--format", "json", "config", "get")

    assert result.exit_code == 3
    assert result.stdout == ""
    error = json.loads(result.stderr)
    assert error["exit_code"] == 3
    assert "no answer within" in error["detail"]
    assert error["request_id"] == api.only_request().headers["x-request-id"]


def test_client_validation_in_json_format_is_one_json_document(api: FakeApi) -> None:
    result = run(api, "--format", "json", "settings", "patch", "--file", "-", input="{}")

    assert result.exit_code == 2
    assert result.stdout == ""
    error = json.loads(result.stderr)
    assert error["exit_code"] == 2
    assert error["detail"].startswith("--api-key")


def test_connection_refused_says_so(api: FakeApi) -> None:
    api.fail("GET", SNAPSHOT_PATH, httpx.ConnectError("[Errno 111] Connection refused"))

    result = run(api, "config", "get")

    assert "cannot connect ([Errno 111] Connection refused)" in result.stderr


def test_server_error_with_invalid_params_still_exits_3(api: FakeApi) -> None:
    api.problem(
        "GET",
        SNAPSHOT_PATH,
        status=500,
        title="Internal error",
        detail="",
        invalid_params=[{"pointer": "/x", "message": "odd"}],
    )

    result = run(api, "config", "get")

    assert result.exit_code == 3
    assert "  /x: odd" in result.stderr.splitlines()


def test_rate_limited_problem_exits_3_and_says_when_to_retry(api: FakeApi) -> None:
    document = {"type": "about:blank", "title": "Too Many Requests", "status": 429,
                "detail": "rate limit of key admin exceeded"}  # fmt: skip
    api.on(
        "GET",
        "/v1/keys",
        status=429,
        content=json.dumps(document).encode(),
        headers={"content-type": "application/problem+json", "retry-after": "7"},
    )

    result = run(api, "--api-key", API_KEY, "keys", "ls")

    assert result.exit_code == 3
    lines = result.stderr.splitlines()
    assert lines[0] == "Error: Too Many Requests (429): rate limit of key admin exceeded"
    assert lines[1] == "retry after: 7 s"
