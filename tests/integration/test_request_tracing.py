"""Request tracing over real HTTP: an ``x-request-id`` follows its command into the engine.

The id a client sends with ``POST /v1/torrents`` or an action is on the events the command
causes (live and replayed from PostgreSQL after a restart) and on the engine's log lines for it.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from revaer.telemetry import json_line
from tests.harness import TorrentFile
from tests.integration.api_harness import SseStream, active_daemon, sse

if TYPE_CHECKING:
    from loguru import Record

pytestmark = pytest.mark.integration


async def until_event(stream: SseStream, check: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
    """The envelope of the next event ``check`` accepts (those before it are skipped)."""
    while True:
        doc: dict[str, Any] = (await stream.next(timeout=30)).json()
        if check(doc):
            return doc


def engine_lines(records: list[Record], request_id: str) -> list[dict[str, Any]]:
    """The session actor's log lines for ``request_id``, as the daemon writes them (JSON)."""
    lines = [json.loads(json_line(r)) for r in records]
    return [
        line
        for line in lines
        if line["actor"] == "session" and line.get("request_id") == request_id
    ]


async def test_a_request_id_is_on_the_events_and_engine_logs_its_command_caused(
    aio_loop: None, db_url: str, tmp_path: Path, torrent_v1: TorrentFile, log_records: list[Record]
) -> None:
    async with active_daemon(tmp_path, db_url) as daemon:
        await daemon.engine_running()
        key = daemon.headers["x-revaer-api-key"]
        watched = {"event": "torrent_added,state_changed,torrent_updated"}
        async with sse(daemon, params=watched) as stream:
            added = await daemon.api.post(
                "/v1/torrents",
                json={"metainfo": base64.b64encode(torrent_v1.data).decode()},
                headers={"x-request-id": "trace-abc123"},
            )
            assert added.status_code == 202, added.text
            assert added.headers["x-request-id"] == "trace-abc123"
            tid = added.json()["torrents"][0]["torrent_id"]

            def of(kind: str, **data: Any) -> Callable[[dict[str, Any]], bool]:
                return lambda d: (
                    d["kind"] == kind
                    and d.get("torrent_id") == tid
                    and all(d["data"][k] == v for k, v in data.items())
                )

            torrent_added = await until_event(stream, of("torrent_added"))
            assert torrent_added["request_id"] == "trace-abc123"
            first_state = await until_event(stream, of("state_changed"))
            assert first_state["request_id"] == "trace-abc123"

            async def act(action: str, request_id: str) -> None:
                response = await daemon.api.post(
                    f"/v1/torrents/{tid}/action",
                    json={"type": action},
                    headers={"x-request-id": request_id},
                )
                assert response.status_code == 200, response.text

            await act("pause", "trace-pause-1")
            updated = await until_event(stream, of("torrent_updated", paused=True))
            paused = await until_event(stream, of("state_changed", state="paused"))
            assert updated["request_id"] == paused["request_id"] == "trace-pause-1"
            await act("resume", "trace-resume-2")
            resumed = await until_event(stream, of("state_changed", previous="paused"))
            assert resumed["request_id"] == "trace-resume-2"

        for request_id, command in [
            ("trace-abc123", "PreparedAdds"),
            ("trace-pause-1", "PauseTorrent"),
            ("trace-resume-2", "ResumeTorrent"),
        ]:
            lines = engine_lines(log_records, request_id)
            assert any(line["msg"].startswith(f"{command} handled") for line in lines), lines
        traced = {
            r["extra"].get("request_id")
            for r in log_records
            if r["extra"].get("actor") == "session"
        }
        assert traced <= {None, "-", "trace-abc123", "trace-pause-1", "trace-resume-2"}
        live = {d["id"]: d for d in (torrent_added, first_state, updated, paused, resumed)}

    # After a restart the journal in PostgreSQL replays them with their request ids.
    async with active_daemon(tmp_path, db_url, api_key=key) as daemon:
        since = {"last-event-id": str(torrent_added["id"] - 1)}
        async with sse(daemon, params={**watched, "torrent": tid}, headers=since) as replay:
            replayed: dict[int, dict[str, Any]] = {}
            while len(replayed) < len(live):
                doc = (await replay.next()).json()
                if doc["id"] in live:
                    replayed[doc["id"]] = doc
        assert replayed == live
