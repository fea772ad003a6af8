"""Global options, their environment fallbacks, and the per-invocation request id."""

from __future__ import annotations

import pytest

from revaer.cli import main
from tests.cli.support import PUBLIC_SNAPSHOT, TELEMETRY_URL, FakeApi, run

SNAPSHOT_PATH = "/.well-known/revaer.json"


@pytest.fixture(autouse=True)
def snapshot(api: FakeApi) -> None:
    api.on("GET", SNAPSHOT_PATH, json=PUBLIC_SNAPSHOT)


def test_default_api_url_and_timeout(api: FakeApi) -> None:
    assert run(api, "config", "get").exit_code == 0

    request = api.only_request()
    assert str(request.url) == f"http://127.0.0.1:7070{SNAPSHOT_PATH}"
    assert request.extensions["timeout"]["read"] == 10.0


def test_api_url_and_timeout_from_environment(api: FakeApi) -> None:
    env = {"REVAER_API_URL": "https://revaer.example:8443/base", "REVAER_HTTP_TIMEOUT_SECS": "2.5"}
    api.on("GET", f"/base{SNAPSHOT_PATH}", json=PUBLIC_SNAPSHOT)

    assert run(api, "config", "get", env=env).exit_code == 0

    request = api.only_request()
    assert str(request.url) == f"https://revaer.example:8443/base{SNAPSHOT_PATH}"
    assert request.extensions["timeout"] == dict.fromkeys(("connect", "read", "write", "pool"), 2.5)


def test_options_override_environment(api: FakeApi) -> None:
    env = {"REVAER_API_URL": "http://ignored.test", "REVAER_HTTP_TIMEOUT_SECS": "99"}

    result = run(
        api, "--api-url", "http://10.0.0.5:9000", "--timeout", "3", "config", "get", env=env
    )

    assert result.exit_code == 0
    request = api.only_request()
    assert request.url.host == "10.0.0.5"
    assert request.extensions["timeout"]["read"] == 3.0


@pytest.mark.parametrize("timeout", ["0", "-1", "nan", "inf", "soon"])
def test_bad_timeout_is_a_usage_error(api: FakeApi, timeout: str) -> None:
    result = run(api, "--timeout", timeout, "config", "get")

    assert result.exit_code == 2
    assert "--timeout" in result.stderr
    assert api.requests == []


def test_bad_timeout_from_environment_is_a_usage_error(api: FakeApi) -> None:
    result = run(api, "config", "get", env={"REVAER_HTTP_TIMEOUT_SECS": "0"})

    assert result.exit_code == 2
    assert api.requests == []


@pytest.mark.parametrize(
    "url", ["127.0.0.1:7070", "ftp://host", "http://", "http://host:99999", "http://[::1"]
)
def test_bad_api_url_is_a_usage_error(api: FakeApi, url: str) -> None:
    result = run(api, "--api-url", url, "config", "get")

    assert result.exit_code == 2
    assert "--api-url" in result.stderr
    assert api.requests == []


def test_bad_format_is_a_usage_error(api: FakeApi) -> None:
    result = run(api, "--format", "yaml", "config", "get")

    assert result.exit_code == 2
    assert "--format" in result.stderr


def test_each_invocation_has_its_own_request_id_used_for_every_request(api: FakeApi) -> None:
    api.on("POST", "/collect", status=204)
    telemetry = ("--telemetry-endpoint", TELEMETRY_URL)

    run(api, *telemetry, "config", "get")
    run(api, *telemetry, "config", "get")

    ids = [request.headers["x-request-id"] for request in api.requests]
    assert len(ids) == 4
    assert ids[0] == ids[1] != ids[2] == ids[3]


def test_help_documents_environment_variables(api: FakeApi) -> None:
    result = run(api, "--help")

    assert result.exit_code == 0
    for name in ("REVAER_API_URL", "REVAER_API_KEY", "REVAER_HTTP_TIMEOUT_SECS"):
        assert name in result.stdout


def test_main_is_the_console_entry_point(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.argv", ["revaer", "--version"])

    with pytest.raises(SystemExit) as stopped:
        main()

    assert stopped.value.code == 0


def test_malformed_api_key_only_matters_to_commands_that_need_one(api: FakeApi) -> None:
    result = run(api, "config", "get", env={"REVAER_API_KEY": "not-a-key"})

    assert result.exit_code == 0, result.output
