"""Secrets never show up in errors or diagnostics."""

from __future__ import annotations

import httpx
import pytest

from revaer.cli._secrets import ApiKey, Redactor, mask_api_key
from tests.cli.support import API_KEY, SNAPSHOT, FakeApi, run
from tests.cli.test_setup import COMPLETE_ARGS

SECRET = API_KEY.partition(":")[2]


def test_verbose_diagnostics_mask_the_api_key(api: FakeApi) -> None:
    api.on("PATCH", "/admin/settings", json={**SNAPSHOT, "issued_api_keys": []})

    result = run(api, "-v", "--api-key", API_KEY, "settings", "patch", "--file", "-", input="{}")

    assert result.exit_code == 0, result.output
    assert "x-revaer-api-key=admin:***" in result.stderr
    assert "<- 200 OK" in result.stderr
    assert SECRET not in result.output


@pytest.mark.parametrize("output_format", ["table", "json"])
def test_api_key_echoed_by_server_is_masked(api: FakeApi, output_format: str) -> None:
    api.problem(
        "PATCH",
        "/admin/settings",
        status=401,
        title="Unauthorized",
        detail=f"key {API_KEY} is revoked",
    )

    result = run(
        api,
        "--format",
        output_format,
        "--api-key",
        API_KEY,
        "settings",
        "patch",
        "--file",
        "-",
        input="{}",
    )

    assert result.exit_code == 3
    assert "admin:***" in result.stderr
    assert SECRET not in result.output


def test_setup_token_and_passphrase_are_masked(api: FakeApi) -> None:
    api.problem(
        "POST",
        "/admin/setup/complete",
        status=500,
        title="Internal error",
        detail="could not apply tok-abc-123 with passphrase hunter2hunter2",
    )

    result = run(
        api,
        "-v",
        *COMPLETE_ARGS,
        "--passphrase",
        "hunter2hunter2",
        "--token",
        "tok-abc-123",
    )

    assert result.exit_code == 3
    assert "x-revaer-setup-token=***" in result.stderr
    assert "tok-abc-123" not in result.output
    assert "hunter2hunter2" not in result.output


def test_password_in_api_url_is_masked(api: FakeApi) -> None:
    api.fail("GET", "/.well-known/revaer.json", httpx.ConnectError("refused"))

    result = run(api, "--api-url", "http://ops:url-pass-77@127.0.0.1:7070", "config", "get")

    assert result.exit_code == 3
    assert "url-pass-77" not in result.output


def test_api_key_repr_and_str_hide_the_secret() -> None:
    key = ApiKey.parse(API_KEY)

    assert key is not None
    assert key.header_value() == API_KEY
    assert str(key) == "admin:***"
    assert SECRET not in repr(key)
    assert SECRET not in f"{key}"


@pytest.mark.parametrize("value", ["", "admin", "admin:", ":secret", "a b:secret", "id:sé"])
def test_api_key_parse_rejects_malformed_values(value: str) -> None:
    assert ApiKey.parse(value) is None


def test_mask_api_key() -> None:
    assert mask_api_key("admin:secret") == "admin:***"
    assert mask_api_key("no-separator") == "***"


def test_redactor_masks_longer_secrets_whole() -> None:
    redactor = Redactor()
    redactor.add("abc")
    redactor.add("abcdef")
    redactor.add(None)
    redactor.add("")

    assert redactor.redact("x abcdef y abc") == "x *** y ***"


def test_redactor_masks_whole_malformed_api_key() -> None:
    redactor = Redactor()
    redactor.add_api_key("garbage-without-separator")

    assert redactor.redact("got garbage-without-separator") == "got ***"
