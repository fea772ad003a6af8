"""Torrents over real HTTP: add (JSON, multipart, magnet) → watch → inspect → act, on loopback."""

from __future__ import annotations

import base64
import shutil
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio

from tests.harness import Seeder, TorrentFile, same_tree
from tests.integration.api_harness import ActiveDaemon, SseStream, active_daemon, sse
from tests.integration.daemon_harness import daemon_settings, running_daemon
from tests.integration.test_http_setup import assert_problem

pytestmark = pytest.mark.integration


async def until(
    daemon: ActiveDaemon,
    torrent_id: str,
    check: Callable[[dict[str, Any]], bool],
    timeout: float = 30,
) -> dict[str, Any]:
    """The torrent's detail once ``check`` holds (each look waits for the next event)."""
    bus = daemon.live.daemon.bus
    with trio.fail_after(timeout), bus.subscribe() as events:
        while True:
            response = await daemon.api.get(f"/v1/torrents/{torrent_id}")
            assert response.status_code == 200, response.text
            body: dict[str, Any] = response.json()
            if check(body):
                return body
            await events.receive()


async def kinds_until(stream: SseStream, last: str) -> list[str]:
    kinds = []
    while True:
        event = await stream.next(timeout=30)
        kinds.append(event.event)
        if event.event == last:
            return kinds


def _dedupe(kinds: list[str]) -> list[str]:
    out: list[str] = []
    for kind in kinds:
        if kind in ("torrent_added", "files_discovered", "progress", "completed") and (
            not out or out[-1] != kind
        ):
            out.append(kind)
    return out


async def test_add_watch_inspect_and_act(
    aio_loop: None,
    db_url: str,
    tmp_path: Path,
    payload: Path,
    torrent_v1: TorrentFile,
    torrent_hybrid: TorrentFile,
    seeder: Seeder,
) -> None:
    peer = "{}:{}".format(*seeder.endpoint)
    async with active_daemon(tmp_path, db_url) as daemon:
        await daemon.engine_running()
        downloads = tmp_path / "downloads"
        first = str(uuid.uuid4())
        # JSON with a base64 .torrent, a chosen id, tags and a peer to dial.
        async with sse(daemon, params={"torrent": first}) as stream:
            added = await daemon.api.post(
                "/v1/torrents",
                json={
                    "metainfo": base64.b64encode(torrent_v1.data).decode(),
                    "id": first,
                    "tags": ["Linux", "iso"],
                    "peers": [peer],
                },
            )
            assert added.status_code == 202, added.text
            assert added.headers["location"] == f"/v1/torrents/{first}"
            assert added.json()["torrents"][0]["torrent_id"] == first
            kinds = await kinds_until(stream, "completed")
        assert _dedupe(kinds) == ["torrent_added", "files_discovered", "progress", "completed"]
        done = await until(daemon, first, lambda b: b["completed_at"] is not None)
        assert done["progress"] == 1.0 and done["bytes_done"] == torrent_v1.total_size
        assert [f["path"] for f in done["files"]] == [p for p, _ in torrent_v1.files]
        assert all(f["progress"] == 1.0 for f in done["files"]) and done["live"] is True
        assert done["pieces"]["done"] == done["pieces"]["total"] > 0
        assert same_tree(payload, downloads / payload.name)

        # The same torrent again: 409 naming the existing id; nothing else changes.
        again = await daemon.api.post(
            "/v1/torrents", json={"metainfo": base64.b64encode(torrent_v1.data).decode()}
        )
        assert first in assert_problem(again, 409)["detail"]

        # Actions, each seen to take effect.
        async def act(body: dict[str, Any]) -> None:
            response = await daemon.api.post(f"/v1/torrents/{first}/action", json=body)
            assert response.status_code == 200, response.text

        await act({"type": "pause"})
        await until(daemon, first, lambda b: b["state"] == "paused" and b["paused"] is True)
        await act({"type": "resume"})
        await until(daemon, first, lambda b: b["state"] == "seeding")
        await act({"type": "rate", "download_bps": 1_000_000})
        await until(daemon, first, lambda b: b["max_download_bps"] == 1_000_000)
        await act({"type": "rate", "upload_bps": 2_000_000})
        capped = await until(daemon, first, lambda b: b["max_upload_bps"] == 2_000_000)
        assert capped["max_download_bps"] == 1_000_000  # a field left out stays
        await act({"type": "tags", "add": ["extra"], "remove": ["iso"]})
        await until(daemon, first, lambda b: b["tags"] == ["Linux", "extra"])
        selected = await daemon.api.post(
            f"/v1/torrents/{first}/select",
            json={"priorities": [{"index": 0, "priority": "high"}, {"index": 1, "priority": 0}]},
        )
        assert selected.status_code == 200, selected.text
        prioritized = await until(daemon, first, lambda b: b["files"][0]["priority"] == 7)
        assert prioritized["files"][1]["priority"] == 0
        moved_to = tmp_path / "moved"
        await act({"type": "move", "download_dir": str(moved_to)})
        await until(daemon, first, lambda b: b["download_dir"] == str(moved_to))
        assert same_tree(payload, moved_to / payload.name)
        # Recheck after damage: the torrent no longer has every piece.
        (moved_to / payload.name / torrent_v1.files[0][0].split("/", 1)[1]).write_bytes(b"x")
        await act({"type": "recheck"})
        await until(daemon, first, lambda b: b["progress"] < 1.0)
        await act({"type": "remove"})  # the data stays
        await until_gone(daemon, first)
        assert (moved_to / payload.name).exists()

        # multipart/form-data with the hybrid .torrent as a file part; then remove with data.
        form = await daemon.api.post(
            "/v1/torrents",
            data={"tags": ["a", "b"], "paused": "false", "peers": [peer]},
            files={"torrent": ("hybrid.torrent", torrent_hybrid.data, "application/x-bittorrent")},
        )
        assert form.status_code == 202, form.text
        hybrid = form.json()["torrents"][0]["torrent_id"]
        finished = await until(daemon, hybrid, lambda b: b["completed_at"] is not None)
        assert finished["tags"] == ["a", "b"]
        removed = await daemon.api.delete(
            f"/admin/torrents/{hybrid}", params={"delete_data": "true"}
        )
        assert removed.status_code == 200, removed.text
        await until_gone(daemon, hybrid)
        with trio.fail_after(10):
            while (downloads / payload.name).exists():
                await trio.sleep(0.05)

        # A magnet served by the seeder (x.pe), through the /admin alias.
        shutil.rmtree(downloads, ignore_errors=True)
        magnet = await daemon.api.post(
            "/admin/torrents", json={"magnet": torrent_hybrid.magnet(peer=seeder.endpoint)}
        )
        assert magnet.status_code == 202, magnet.text
        third = magnet.json()["torrents"][0]["torrent_id"]
        got = await until(daemon, third, lambda b: b["completed_at"] is not None)
        assert got["name"] == torrent_hybrid.name
        listed = (await daemon.api.get("/admin/torrents")).json()
        assert [t["torrent_id"] for t in listed["torrents"]] == [third]


async def until_gone(daemon: ActiveDaemon, torrent_id: str) -> None:
    bus = daemon.live.daemon.bus
    with trio.fail_after(20), bus.subscribe() as events:
        while (await daemon.api.get(f"/v1/torrents/{torrent_id}")).status_code != 404:
            await events.receive()


async def test_setup_mode_and_a_stopped_engine_are_problems(
    aio_loop: None, db_url: str, tmp_path: Path
) -> None:
    async with running_daemon(daemon_settings(tmp_path / "d", db_url)) as live:
        for method, path in (("GET", "/v1/torrents"), ("POST", "/v1/torrents")):
            response = await live.client.request(method, path, json={})
            assert response.status_code in (401, 409), response.text
    (tmp_path / "resume").write_text("a file where the resume directory should be")
    async with active_daemon(tmp_path, db_url) as daemon:
        # The engine cannot start: adds are 503 with Retry-After; lists still answer.
        magnet = "magnet:?xt=urn:btih:" + "a" * 40
        refused = await daemon.api.post("/v1/torrents", json={"magnet": magnet})
        assert_problem(refused, 503)
        assert refused.headers["retry-after"]
        assert (await daemon.api.get("/v1/torrents")).json() == {"torrents": [], "next": None}
        assert_problem(await daemon.api.get(f"/v1/torrents/{uuid.uuid4()}"), 404)
        assert_problem(await daemon.api.get("/v1/torrents/not-a-uuid"), 404)
        async with httpx.AsyncClient(base_url=daemon.url) as anonymous:
            assert_problem(await anonymous.get("/v1/torrents"), 401)
