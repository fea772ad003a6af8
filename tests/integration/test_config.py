"""ConfigService and the watcher on real PostgreSQL."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import pytest
import trio

from revaer.auth import SecretBox
from revaer.config import ConfigService, ConfigSnapshot, ConfigWatcher, SetupService
from revaer.db import Database
from revaer.errors import Conflict, ValidationFailed
from revaer.runtime import HealthRegistry, HealthState, Watched
from revaer.telemetry import Metrics

if TYPE_CHECKING:
    from loguru import Record

pytestmark = pytest.mark.integration


@pytest.fixture
def service(db: Database) -> ConfigService:
    return ConfigService(db, SecretBox(bytes(range(32))))


def pointers(
    exc: pytest.ExceptionInfo[ValidationFailed] | pytest.ExceptionInfo[Conflict],
) -> dict[str, str]:
    return {p.pointer: p.message for p in exc.value.invalid_params}


async def test_validation_errors_name_every_field_and_change_nothing(
    service: ConfigService,
) -> None:
    before = await service.load()
    bad: dict[str, Any] = {
        "app_profile": {"http_port": 70000, "bind_addr": "not-an-ip", "colour": "red"},
        "engine_profile": {"dht": "yes", "encryption": "maybe", "max_download_bps": True},
        "fs_policy": {"library_root": "relative/path", "cleanup_drop": ["ok", 3]},
        "api_keys": [{"op": "upsert", "key_id": "bad key!", "rate_limit": {"burst": 0}}],
        "secrets": [{"op": "set", "name": "x"}],
        "bogus": 1,
    }
    with pytest.raises(ValidationFailed) as info:
        await service.apply(bad, source="test")
    got = pointers(info)
    assert got["/app_profile/http_port"] == "must be between 1 and 65535"
    assert "IPv4 or IPv6" in got["/app_profile/bind_addr"]
    assert got["/app_profile/colour"] == "unknown field"
    assert got["/engine_profile/dht"] == "must be a boolean"
    assert "require" in got["/engine_profile/encryption"]
    assert got["/engine_profile/max_download_bps"] == "must be an integer"
    assert got["/fs_policy/library_root"] == "must be an absolute path"
    assert got["/fs_policy/cleanup_drop/1"] == "must be a string"
    assert "/api_keys/0/key_id" in got
    assert "/api_keys/0/rate_limit/burst" in got
    assert "/secrets/0/value" in got
    assert got["/bogus"] == "unknown field"
    after = await service.load()
    assert after == before


async def test_read_only_fields_and_non_objects_are_refused(service: ConfigService) -> None:
    with pytest.raises(ValidationFailed) as info:
        await service.apply({"app_profile": {"mode": "active", "id": "x"}}, source="test")
    assert pointers(info) == {
        "/app_profile/mode": "is read-only",
        "/app_profile/id": "is read-only",
    }
    with pytest.raises(ValidationFailed) as info:
        await service.apply([], source="test")
    assert pointers(info) == {"": "must be a JSON object"}
    with pytest.raises(ValidationFailed) as info:
        await service.apply({"fs_policy": [], "api_keys": {}}, source="test")
    assert pointers(info) == {"/fs_policy": "must be an object", "/api_keys": "must be an array"}


async def test_a_change_bumps_the_revision_once_and_writes_history(
    service: ConfigService, db: Database
) -> None:
    before = await service.load()
    result = await service.apply(
        {
            "app_profile": {"instance_name": "den"},
            "engine_profile": {"max_download_bps": 1_000_000, "dht": False},
            "fs_policy": {"move_mode": "hardlink"},
            "secrets": [{"op": "set", "name": "libtorrent.passphrase", "value": "hunter22"}],
        },
        source="test",
        actor="tester",
        request_id="req-1",
    )
    assert result.changed
    assert result.snapshot.revision == before.revision + 1
    assert result.snapshot.app_profile["instance_name"] == "den"
    assert result.snapshot.app_profile["version"] == before.app_profile["version"] + 1
    assert result.snapshot.engine_profile["max_download_bps"] == 1_000_000
    assert result.snapshot.secret_names == ("libtorrent.passphrase",)
    assert await service.read_secret("libtorrent.passphrase") == "hunter22"
    history = await db.fetchrow("SELECT * FROM settings_history ORDER BY id DESC LIMIT 1")
    assert history is not None
    assert history["revision"] == result.snapshot.revision
    assert history["actor"] == "tester" and history["request_id"] == "req-1"
    assert history["changes"]["secrets"] == [{"op": "set", "name": "libtorrent.passphrase"}]
    stored = await db.fetchval("SELECT ciphertext FROM secrets")
    assert b"hunter22" not in stored

    again = await service.apply({"app_profile": {"instance_name": "den"}}, source="test")
    assert not again.changed and again.snapshot.revision == result.snapshot.revision


async def test_immutable_keys_are_refused(service: ConfigService) -> None:
    await service.apply(
        {"app_profile": {"immutable_keys": ["engine_profile.resume_dir", "fs_policy"]}},
        source="test",
    )
    with pytest.raises(ValidationFailed) as info:
        await service.apply(
            {
                "engine_profile": {"resume_dir": "/srv/resume", "dht": False},
                "fs_policy": {"extract": False},
            },
            source="test",
        )
    assert pointers(info) == {
        "/engine_profile/resume_dir": "is immutable (listed in app_profile.immutable_keys)",
        "/fs_policy/extract": "is immutable (listed in app_profile.immutable_keys)",
    }
    snapshot = await service.load()
    assert snapshot.engine_profile["dht"] is True  # nothing of the refused change landed
    with pytest.raises(ValidationFailed) as info:
        await service.apply({"app_profile": {"immutable_keys": ["nope.field"]}}, source="test")
    assert "/app_profile/immutable_keys/0" in pointers(info)


async def test_optimistic_checks(service: ConfigService) -> None:
    snapshot = await service.load()
    with pytest.raises(Conflict):
        await service.apply(
            {"expected_revision": snapshot.revision + 5, "app_profile": {"instance_name": "x"}},
            source="test",
        )
    with pytest.raises(ValidationFailed) as info:
        await service.apply({"app_profile": {"version": 99, "instance_name": "x"}}, source="test")
    assert "/app_profile/version" in pointers(info)
    ok = await service.apply(
        {
            "expected_revision": snapshot.revision,
            "app_profile": {"version": snapshot.app_profile["version"], "instance_name": "x"},
        },
        source="test",
    )
    assert ok.snapshot.app_profile["instance_name"] == "x"


async def test_api_keys_are_hashed_and_the_last_one_cannot_go(
    service: ConfigService, db: Database
) -> None:
    result = await service.apply(
        {
            "api_keys": [
                {
                    "op": "upsert",
                    "key_id": "ops",
                    "label": "ops",
                    "role": "admin",
                    "rate_limit": {"burst": 5, "per_seconds": 1},
                }
            ]
        },
        source="test",
    )
    (issued,) = result.issued_keys
    key_id, secret = issued.split(":", 1)
    assert key_id == "ops" and len(secret) >= 32
    row = await db.fetchrow("SELECT secret_hash FROM api_keys WHERE key_id = 'ops'")
    assert row is not None and row["secret_hash"].startswith("$argon2id$")
    assert secret not in row["secret_hash"]
    view = result.snapshot.to_json()["api_keys"][0]
    assert view == {
        "key_id": "ops",
        "label": "ops",
        "role": "admin",
        "enabled": True,
        "rate_limit": {"burst": 5, "per_seconds": 1},
        "expires_at": None,
        "created_at": view["created_at"],
        "previous_secret_valid_until": None,
    }
    assert "api_keys" not in result.snapshot.to_json(with_keys=False)
    await db.execute("UPDATE app_profile SET mode = 'active'")
    with pytest.raises(Conflict) as conflict:
        await service.apply({"api_keys": [{"op": "delete", "key_id": "ops"}]}, source="test")
    assert pointers(conflict) == {"/api_keys": "would leave no enabled, unexpired admin key"}
    with pytest.raises(Conflict):  # demoting the last admin key is refused too
        await service.apply(
            {"api_keys": [{"op": "upsert", "key_id": "ops", "role": "operate"}]}, source="test"
        )
    with pytest.raises(ValidationFailed) as info:
        await service.apply({"api_keys": [{"op": "delete", "key_id": "ghost"}]}, source="test")
    assert pointers(info) == {"/api_keys/0/key_id": "no such API key"}


async def _watch(
    service: ConfigService, nursery: trio.Nursery, **kwargs: Any
) -> tuple[ConfigWatcher, HealthRegistry, Metrics]:
    health, metrics = HealthRegistry(), Metrics()
    watcher = ConfigWatcher(
        service, Watched(await service.load()), health=health, metrics=metrics, **kwargs
    )
    await nursery.start(watcher.run)
    return watcher, health, metrics


async def _wait_for(snapshots: Watched[ConfigSnapshot], predicate: Any, timeout: float) -> float:
    started = time.monotonic()
    with trio.fail_after(timeout):
        version = -1
        while True:
            version, snap = await snapshots.wait_newer(version)
            if predicate(snap):
                return time.monotonic() - started


async def test_a_change_by_another_connection_reaches_subscribers_quickly(
    service: ConfigService, db_url: str, aio_loop: None
) -> None:
    async with trio.open_nursery() as nursery:
        watcher, health, metrics = await _watch(service, nursery)
        assert health.get("config_watcher") is not None
        async with Database.open(db_url) as other:
            started = time.monotonic()
            await other.execute("UPDATE engine_profile SET max_upload_bps = 4242")
            await _wait_for(
                watcher.snapshots, lambda s: s.engine_profile["max_upload_bps"] == 4242, 2.0
            )
            elapsed = time.monotonic() - started
        assert elapsed < 0.5, elapsed
        assert next(
            iter(metrics.config_watch_latency_seconds.collect())
        ).samples  # latency recorded
        nursery.cancel_scope.cancel()


async def test_watcher_reconnects_and_delivers_a_change_made_during_the_gap(
    service: ConfigService, db: Database
) -> None:
    async with trio.open_nursery() as nursery:
        watcher, health, metrics = await _watch(service, nursery, poll_interval=0.5)
        killed = await db.fetchval(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE query LIKE 'LISTEN%' AND datname = current_database()"
        )
        assert killed == 1
        await db.execute("UPDATE fs_policy SET extract = false")  # during the gap
        await _wait_for(watcher.snapshots, lambda s: s.fs_policy["extract"] is False, 5.0)
        # back on LISTEN: a later change arrives too
        await db.execute("UPDATE fs_policy SET flatten = false")
        await _wait_for(watcher.snapshots, lambda s: s.fs_policy["flatten"] is False, 5.0)
        with trio.fail_after(5):
            while (c := health.get("config_watcher")) is None or c.state is not HealthState.OK:
                await trio.sleep(0.05)
        failures = next(iter(metrics.config_update_failures_total.collect())).samples[0].value
        assert failures >= 1
        nursery.cancel_scope.cancel()


async def test_setup_with_an_existing_key_needs_its_secret(
    service: ConfigService, db: Database
) -> None:
    setup = SetupService(service)
    await service.apply({"api_keys": [{"op": "upsert", "key_id": "admin"}]}, source="test")
    token = (await setup.start(issued_by="test")).token
    body = {
        "engine_profile": {"resume_dir": "/r", "download_root": "/d"},
        "fs_policy": {"library_root": "/l"},
    }
    with pytest.raises(ValidationFailed) as info:
        await setup.complete(token, body)
    assert "/api_keys/0/key_id" in pointers(info)
    given = {**body, "api_keys": [{"op": "upsert", "key_id": "admin", "secret": "s" * 20}]}
    result = await setup.complete(token, given)
    assert result.api_key == "admin:" + "s" * 20
    assert result.change.snapshot.mode == "active"


async def test_no_op_key_upserts_change_nothing_and_expired_keys_do_not_count(
    service: ConfigService, db: Database
) -> None:
    first = await service.apply(
        {"api_keys": [{"op": "upsert", "key_id": "ops", "label": "ops", "role": "admin"}]},
        source="test",
    )
    same = await service.apply(
        {"api_keys": [{"op": "upsert", "key_id": "ops", "label": "ops", "enabled": True}]},
        source="test",
    )
    assert not same.changed and same.snapshot.revision == first.snapshot.revision
    await db.execute("UPDATE app_profile SET mode = 'active'")
    # A key whose expiry has passed since it was set does not keep the instance reachable.
    await service.apply(
        {
            "api_keys": [
                {
                    "op": "upsert",
                    "key_id": "old",
                    "role": "admin",
                    "expires_at": "2999-01-01T00:00:00Z",
                }
            ]
        },
        source="test",
    )
    await db.execute(
        "UPDATE api_keys SET expires_at = now() - interval '1 day' WHERE key_id = 'old'"
    )
    with pytest.raises(Conflict) as conflict:
        await service.apply({"api_keys": [{"op": "delete", "key_id": "ops"}]}, source="test")
    assert pointers(conflict) == {"/api_keys": "would leave no enabled, unexpired admin key"}


async def test_a_key_that_expires_in_the_past_is_refused_at_its_pointer(
    service: ConfigService, db: Database
) -> None:
    before = await service.load()
    with pytest.raises(ValidationFailed) as info:
        await service.apply(
            {
                "api_keys": [
                    {"op": "upsert", "key_id": "fine", "label": "fine"},
                    {"op": "upsert", "key_id": "ci", "expires_at": "2001-01-01T00:00:00Z"},
                ]
            },
            source="test",
        )
    assert pointers(info) == {
        "/api_keys/1/expires_at": "is in the past; to revoke a key set enabled to false"
    }
    after = await service.load()
    assert after.revision == before.revision and after.api_keys == before.api_keys


async def test_every_committed_change_writes_one_audit_line(
    service: ConfigService, log_records: list[Record]
) -> None:
    await service.apply(
        {
            "engine_profile": {"max_upload_bps": 1000, "dht": False},
            "api_keys": [{"op": "upsert", "key_id": "ci"}],
            "secrets": [{"op": "set", "name": "tracker.token", "value": "s3cr3t-value"}],
        },
        source="api",
        actor="admin",
    )
    await service.apply({"engine_profile": {"max_upload_bps": 1000}}, source="api", actor="x")
    with pytest.raises(ValidationFailed):
        await service.apply({"engine_profile": {"max_upload_bps": -1}}, source="api")

    audit = [r for r in log_records if r["extra"].get("audit")]
    (line,) = audit  # the no-op and the refused change are not audited
    assert line["extra"]["who"] == "api key admin"
    assert line["extra"]["changed"] == [
        "engine_profile.max_upload_bps",
        "engine_profile.dht",
        "api_keys.ci:upsert",
        "secrets.tracker.token:set",
    ]
    assert line["extra"]["revision"] == int((await service.load()).revision)
    assert "s3cr3t-value" not in line["message"]
