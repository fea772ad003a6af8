"""Optional outcome telemetry."""

from __future__ import annotations

import httpx

from tests.cli.support import API_KEY, PUBLIC_SNAPSHOT, SNAPSHOT, TELEMETRY_URL, FakeApi, run
from tests.cli.test_setup import COMPLETE_ARGS

SNAPSHOT_PATH = "/.well-known/revaer.json"
TELEMETRY = ("--telemetry-endpoint", TELEMETRY_URL)


def accept_telemetry(api: FakeApi) -> None:
    api.on("POST", "/collect", status=204)


def test_success_is_reported_after_the_command(api: FakeApi) -> None:
    accept_telemetry(api)
    api.on("GET", SNAPSHOT_PATH, json=PUBLIC_SNAPSHOT)

    result = run(api, *TELEMETRY, "config", "get")

    assert result.exit_code == 0
    assert [str(request.url) for request in api.requests][-1] == TELEMETRY_URL
    [event] = api.telemetry_events()
    assert isinstance(event, dict)
    duration_ms = event.pop("duration_ms")
    assert isinstance(duration_ms, int)
    assert duration_ms >= 0
    assert event == {
        "command": "config get",
        "outcome": "success",
        "exit_code": 0,
        "request_id": api.only_request().headers["x-request-id"],
    }
    assert api.requests[-1].extensions["timeout"]["read"] == 1.0


def test_endpoint_from_environment(api: FakeApi) -> None:
    accept_telemetry(api)
    api.on("GET", SNAPSHOT_PATH, json=PUBLIC_SNAPSHOT)

    run(api, "config", "get", env={"REVAER_TELEMETRY_ENDPOINT": TELEMETRY_URL})

    assert len(api.telemetry_events()) == 1


def test_nothing_is_sent_without_an_endpoint(api: FakeApi) -> None:
    api.on("GET", SNAPSHOT_PATH, json=PUBLIC_SNAPSHOT)

    run(api, "config", "get")

    assert [request.url.path for request in api.requests] == [SNAPSHOT_PATH]


def test_server_validation_problem_is_reported_as_validation(api: FakeApi) -> None:
    accept_telemetry(api)
    api.problem(
        "POST",
        "/admin/setup/start",
        status=422,
        title="Invalid",
        detail="",
        invalid_params=[{"pointer": "/ttl_seconds", "message": "too long"}],
    )

    run(api, *TELEMETRY, "setup", "start")

    [event] = api.telemetry_events()
    assert isinstance(event, dict)
    assert (event["command"], event["outcome"], event["exit_code"]) == (
        "setup start",
        "validation",
        2,
    )


def test_client_side_validation_is_reported_as_validation(api: FakeApi) -> None:
    accept_telemetry(api)

    run(api, *TELEMETRY, "settings", "patch", "--file", "-", input="{}")

    [event] = api.telemetry_events()
    assert isinstance(event, dict)
    assert (event["command"], event["outcome"], event["exit_code"]) == (
        "settings patch",
        "validation",
        2,
    )


def test_usage_error_in_a_command_is_reported_as_validation(api: FakeApi) -> None:
    accept_telemetry(api)
    args = list(COMPLETE_ARGS)
    args[args.index("--port") + 1] = "0"

    result = run(api, *TELEMETRY, *args, "--token", "tok")

    assert result.exit_code == 2
    [event] = api.telemetry_events()
    assert isinstance(event, dict)
    assert (event["command"], event["outcome"]) == ("setup complete", "validation")


def test_server_failure_is_reported_as_failure(api: FakeApi) -> None:
    accept_telemetry(api)
    api.problem("GET", SNAPSHOT_PATH, status=500, title="Internal error", detail="")

    run(api, *TELEMETRY, "config", "get")

    [event] = api.telemetry_events()
    assert isinstance(event, dict)
    assert (event["outcome"], event["exit_code"]) == ("failure", 3)


def test_event_never_carries_secrets(api: FakeApi) -> None:
    accept_telemetry(api)
    api.on("PATCH", "/admin/settings", json={**SNAPSHOT, "issued_api_keys": ["ops:minted-1"]})

    run(api, *TELEMETRY, "--api-key", API_KEY, "settings", "patch", "--file", "-", input="{}")

    [telemetry] = [request for request in api.requests if str(request.url) == TELEMETRY_URL]
    assert "x-revaer-api-key" not in telemetry.headers
    assert API_KEY.partition(":")[2].encode() not in telemetry.content
    assert b"minted-1" not in telemetry.content


def test_unreachable_endpoint_is_ignored(api: FakeApi) -> None:
    api.fail("POST", "/collect", httpx.ConnectError("refused"))
    api.on("GET", SNAPSHOT_PATH, json=PUBLIC_SNAPSHOT)

    result = run(api, "--format", "json", *TELEMETRY, "config", "get")

    assert result.exit_code == 0
    assert result.stderr == ""
    assert result.stdout.startswith("{")
    assert len(api.requests) == 2


def test_failing_endpoint_does_not_change_a_failure_exit_code(api: FakeApi) -> None:
    api.on("POST", "/collect", status=500, content=b"down")
    api.problem("GET", SNAPSHOT_PATH, status=500, title="Internal error", detail="")

    result = run(api, *TELEMETRY, "config", "get")

    assert result.exit_code == 3
    assert "down" not in result.stderr


def test_malformed_endpoint_is_ignored(api: FakeApi) -> None:
    api.on("GET", SNAPSHOT_PATH, json=PUBLIC_SNAPSHOT)

    result = run(api, "--telemetry-endpoint", "not a url", "config", "get")

    assert result.exit_code == 0
    assert result.stderr == ""


def test_option_is_hidden_from_help(api: FakeApi) -> None:
    assert "telemetry" not in run(api, "--help").stdout
