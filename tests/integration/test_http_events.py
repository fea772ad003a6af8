"""GET /v1/events over real HTTP: replay by Last-Event-ID, restarts, resync, lag, keep-alive."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import httpx
import pytest
import trio

from revaer.events import JournalPolicy, SettingsChanged
from tests.integration.api_harness import ActiveDaemon, SseEvent, active_daemon, sse
from tests.integration.test_http_setup import assert_problem

pytestmark = pytest.mark.integration

SETTINGS = {"event": "settings_changed"}


async def _patch_names(daemon: ActiveDaemon, count: int, start: int = 0) -> list[int]:
    revisions = []
    for n in range(start, start + count):
        doc = await daemon.patch({"app_profile": {"instance_name": f"n{n}"}})
        revisions.append(doc["revision"])
    return revisions


async def test_a_reconnect_with_last_event_id_gets_exactly_what_it_missed(
    aio_loop: None, db_url: str, tmp_path: Path
) -> None:
    async with active_daemon(tmp_path, db_url) as daemon, sse(daemon) as everyone:
        async with sse(daemon, params=SETTINGS) as client:
            revisions = await _patch_names(daemon, 3)
            got = await client.take(3)
            assert [e.json()["data"]["revision"] for e in got] == revisions
            assert client.retry == 3000
            last_id = got[-1].id
        missed = await _patch_names(daemon, 4, start=3)
        headers = {"last-event-id": str(last_id)}
        async with sse(daemon, params=SETTINGS, headers=headers) as again:
            replayed = await again.take(4)
            assert [e.json()["data"]["revision"] for e in replayed] == missed
            assert all(e.id is not None and e.id > (last_id or 0) for e in replayed)
            live = await _patch_names(daemon, 1, start=7)
            (fresh,) = await again.take(1)
            assert fresh.json()["data"]["revision"] == live[0]
        # The client that stayed saw each settings change exactly once, in order.
        wanted = revisions + missed + live
        mine: list[SseEvent] = []
        while len(mine) < len(wanted):
            event = await everyone.next()
            if event.event == "settings_changed":
                mine.append(event)
        assert [e.json()["data"]["revision"] for e in mine] == wanted
        ids = [e.id for e in mine]
        assert ids == sorted(set(ids))  # type: ignore[type-var]


async def test_ids_continue_across_a_restart_and_replay_crosses_it(
    aio_loop: None, db_url: str, tmp_path: Path
) -> None:
    async with active_daemon(tmp_path, db_url) as daemon:
        key = daemon.headers["x-revaer-api-key"]
        async with sse(daemon, params=SETTINGS) as client:
            before = await _patch_names(daemon, 3)
            first_run = await client.take(3)
    middle = first_run[0].id
    assert middle is not None
    resume = {"last-event-id": str(middle)}
    async with (
        active_daemon(tmp_path, db_url, api_key=key) as daemon,
        sse(daemon, params=SETTINGS, headers=resume) as c,
    ):
        replayed = await c.take(2)
        assert [e.json()["data"]["revision"] for e in replayed] == before[1:]
        after = await _patch_names(daemon, 1, start=3)
        (fresh,) = await c.take(1)
        assert fresh.json()["data"]["revision"] == after[0]
        assert fresh.id is not None and first_run[-1].id is not None
        assert fresh.id > first_run[-1].id


async def test_an_id_older_than_the_journal_gets_resync(
    aio_loop: None, db_url: str, tmp_path: Path
) -> None:
    async with active_daemon(tmp_path, db_url) as daemon:
        await _patch_names(daemon, 3)
        journal = daemon.live.daemon.journal
        await journal.flush(daemon.live.daemon.db)
        await journal.prune(daemon.live.daemon.db, JournalPolicy(days=None, rows=1))
        oldest = journal.statistics().pruned_through
        async with sse(daemon, params={"since": str(oldest - 1)}) as client:
            resync = await client.next()
            assert resync.event == "resync"
            assert "pruned" in resync.json()["reason"]
            assert resync.id == resync.json()["last_id"]
        future = journal.last_id + 1000
        async with sse(daemon, headers={"last-event-id": str(future)}) as client:
            assert (await client.next()).event == "resync"


async def test_bad_filters_are_422_naming_the_parameter(
    aio_loop: None, db_url: str, tmp_path: Path
) -> None:
    async with active_daemon(tmp_path, db_url) as daemon:
        cases = [
            ({"torrent": "not-a-uuid"}, {}, "/query/torrent"),
            ({"event": "progress,nope"}, {}, "/query/event"),
            ({"state": "downloading,sleeping"}, {}, "/query/state"),
            ({"since": "-1"}, {}, "/query/since"),
            ({"since": "9" * 30}, {}, "/query/since"),
            ({}, {"last-event-id": "abc"}, "/headers/last-event-id"),
        ]
        for params, headers, where in cases:
            response = await daemon.api.get("/v1/events", params=params, headers=headers)
            problem = assert_problem(response, 422)
            assert [p["pointer"] for p in problem["invalid_params"]] == [where], problem
        async with sse(daemon, "/v1/torrents/events", params={"event": "PROGRESS"}):
            pass  # the alias, and kinds are case-insensitive
        for headers in ({}, {"x-revaer-api-key": "admin:wrong"}):
            async with httpx.AsyncClient(base_url=daemon.url, headers=headers) as anonymous:
                assert_problem(await anonymous.get("/v1/events"), 401)
        # Every stream that ended let go of its subscription.
        bus, hub = daemon.live.daemon.bus, daemon.live.daemon.streams
        with trio.fail_after(5):
            while bus.statistics().subscribers or hub.open_streams:
                await trio.sleep(0.01)


async def test_keepalive_comments_arrive_when_idle(
    aio_loop: None, db_url: str, tmp_path: Path
) -> None:
    async with active_daemon(tmp_path, db_url) as daemon:
        await daemon.patch({"app_profile": {"events": {"keepalive_seconds": 1}}})
        async with sse(daemon, params={"event": "completed"}) as client:
            with trio.move_on_after(2.5):
                await client.next(timeout=3)
            assert client.comments >= 2


async def test_a_client_that_never_reads_is_dropped_while_others_keep_up(
    aio_loop: None, db_url: str, tmp_path: Path
) -> None:
    async with active_daemon(tmp_path, db_url) as daemon:
        await daemon.patch({"app_profile": {"events": {"stream_queue": 64}}})
        host, port = daemon.url.removeprefix("http://").split(":")
        stuck = trio.socket.socket()
        stuck.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        await stuck.connect((host, int(port)))
        request = (
            f"GET /v1/events HTTP/1.1\r\nhost: {host}\r\n"
            f"x-revaer-api-key: {daemon.headers['x-revaer-api-key']}\r\n\r\n"
        )
        await stuck.send(request.encode())
        bus = daemon.live.daemon.bus
        publisher = daemon.live.daemon.engine.publisher
        with trio.fail_after(5):
            while bus.statistics().subscribers < 1:
                await trio.sleep(0.01)
        latencies: list[float] = []
        async with sse(daemon, params=SETTINGS) as reader:
            for n in range(400):
                sent = time.perf_counter()
                publisher.publish(SettingsChanged(revision=10_000 + n))
                event = await reader.next()
                latencies.append(time.perf_counter() - sent)
                assert event.json()["data"]["revision"] == 10_000 + n
            assert bus.statistics().dropped_subscribers >= 1
            latencies.sort()
            p99 = latencies[int(len(latencies) * 0.99)]
            assert p99 < 0.25, f"p99 {p99 * 1000:.1f} ms while another client was stuck"
        # Once the stuck client reads, its stream ends with the lagged notice.
        received = b""
        with trio.fail_after(10):
            while b"event: lagged" not in received:
                chunk = await stuck.recv(65536)
                assert chunk, received[-300:]
                received += chunk
        stuck.close()
