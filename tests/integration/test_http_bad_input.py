"""Bad torrent input over HTTP: each a 4xx Problem with a pointer, and nothing changes."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio

from tests.harness import TorrentFile
from tests.integration.api_harness import ActiveDaemon, active_daemon
from tests.integration.test_http_setup import assert_problem

pytestmark = pytest.mark.integration

HASH = "c9e15763f722f23e98a29decdfae341b98d53056"
MAGNET = f"magnet:?xt=urn:btih:{HASH}"
M = {"magnet": MAGNET}


def _cases(torrent: TorrentFile) -> list[tuple[str, dict[str, Any], int, str]]:
    """(what, body, status, pointer) for POST /v1/torrents."""
    return [
        ("a magnet over 8 KiB", {"magnet": MAGNET + "&dn=" + "a" * 9000}, 422, "/magnet"),
        ("a magnet with a bad hash", {"magnet": "magnet:?xt=urn:btih:xyz"}, 422, "/magnet"),
        ("not a magnet", {"magnet": "http://example.invalid/a.torrent"}, 422, "/magnet"),
        ("metainfo not base64", {"metainfo": "not base64!"}, 422, "/metainfo"),
        ("metainfo not a torrent", {"metainfo": "aGk="}, 422, "/metainfo"),
        ("both magnet and metainfo",
         {"magnet": MAGNET, "metainfo": base64.b64encode(torrent.data).decode()}, 422, ""),
        ("neither", {"tags": ["a"]}, 422, ""),
        ("10,000 globs", {"magnet": MAGNET, "include": ["*.mkv"] * 10_000}, 422, "/include"),
        ("a 100 KiB glob", {"magnet": MAGNET, "exclude": ["a" * 102_400]}, 422, "/exclude/0"),
        ("an unknown field", {"magnet": MAGNET, "colour": "blue"}, 422, "/colour"),
        ("a string for a boolean", {"magnet": MAGNET, "paused": "yes"}, 422, "/paused"),
        ("1 for true", {"magnet": MAGNET, "sequential": 1}, 422, "/sequential"),
        ("a negative cap", {"magnet": MAGNET, "max_download_bps": -1}, 422, "/max_download_bps"),
        ("a float cap", {"magnet": MAGNET, "max_upload_bps": 1.5}, 422, "/max_upload_bps"),
        ("a relative directory", M | {"download_dir": "rel/dir"}, 422, "/download_dir"),
        ("a directory with ..", M | {"download_dir": "/srv/../etc"}, 422, "/download_dir"),
        ("a bad id", {"magnet": MAGNET, "id": "42"}, 422, "/id"),
        ("a peer that is a name", M | {"peers": ["example.org:6881"]}, 422, "/peers/0"),
        ("a NUL in a tag", {"magnet": MAGNET, "tags": ["a\x00b"]}, 422, "/tags/0"),
        ("a tracker that is not UTF-8", {"magnet": MAGNET + "&tr=http://t/%FF"}, 422, "/magnet"),
        ("a peer port over 65535", M | {"peers": ["1.2.3.4:99999"]}, 422, "/peers/0"),
        # Over the 1 MiB of other routes, under the 32 MiB of adds: read, then refused.
        ("2 MiB that is not a torrent", {"metainfo": "aGk=" * (1 << 19)}, 422, "/metainfo"),
        ("not an object", [MAGNET], 422, ""),  # type: ignore[list-item]
    ]  # fmt: skip


async def _unchanged(daemon: ActiveDaemon) -> tuple[int, int]:
    stats = daemon.live.daemon.engine.handle.statistics()
    return stats.torrents, len(daemon.live.daemon.catalog)


async def test_bad_adds_and_actions_are_pointed_problems_and_change_nothing(
    aio_loop: None, db_url: str, tmp_path: Path, torrent_v1: TorrentFile
) -> None:
    async with active_daemon(tmp_path, db_url) as daemon:
        await daemon.engine_running()
        metainfo = base64.b64encode(torrent_v1.data).decode()
        added = await daemon.api.post("/v1/torrents", json={"metainfo": metainfo, "paused": True})
        assert added.status_code == 202, added.text
        tid = added.json()["torrents"][0]["torrent_id"]
        before = await _unchanged(daemon)
        for what, body, status, where in _cases(torrent_v1):
            problem = assert_problem(await daemon.api.post("/v1/torrents", json=body), status)
            pointers = [p["pointer"] for p in problem.get("invalid_params", [])]
            assert where in pointers, (what, problem)
        actions: list[tuple[dict[str, Any], str]] = [
            ({"type": "explode"}, "/type"),
            ({}, "/type"),
            ({"type": "rate", "download_bps": "fast"}, "/download_bps"),
            ({"type": "rate", "download_bps": 2**40}, "/download_bps"),
            ({"type": "move", "download_dir": "relative"}, "/download_dir"),
            ({"type": "sequential"}, "/enable"),
            ({"type": "remove", "delete_data": "yes"}, "/delete_data"),
            ({"type": "tags", "add": ["x"] * 65}, "/add"),
            ({"type": "peers", "peers": []}, "/peers"),
            ({"type": "pause", "extra": 1}, "/extra"),
        ]
        for action, where in actions:
            response = await daemon.api.post(f"/v1/torrents/{tid}/action", json=action)
            problem = assert_problem(response, 422)
            assert where in [p["pointer"] for p in problem["invalid_params"]], (action, problem)
        selects: list[tuple[dict[str, Any], str]] = [
            ({"priorities": [{"index": 99, "priority": "high"}]}, "/priorities/0/index"),
            ({"priorities": [{"index": -1, "priority": "high"}]}, "/priorities/0/index"),
            ({"priorities": [{"index": 0, "priority": "urgent"}]}, "/priorities/0/priority"),
            ({"priorities": [{"index": 0, "priority": 8}]}, "/priorities/0/priority"),
            ({"include": ["a"] * 65}, "/include"),
        ]
        for selection, where in selects:
            response = await daemon.api.post(f"/v1/torrents/{tid}/select", json=selection)
            problem = assert_problem(response, 422)
            assert where in [p["pointer"] for p in problem["invalid_params"]], (selection, problem)
        bulk = await daemon.api.post("/v1/torrents/actions", json={"action": {"type": "pause"}})
        assert_problem(bulk, 422)
        for where, selection in (("/filter", {}), ("/filter/name/0", {"name": [""]})):
            everything = await daemon.api.post(
                "/v1/torrents/actions", json={"filter": selection, "action": {"type": "remove"}}
            )
            pointers = [p["pointer"] for p in assert_problem(everything, 422)["invalid_params"]]
            assert where in pointers, (selection, pointers)
        wrapped = await daemon.api.post(
            "/v1/torrents/actions",
            json={"ids": [tid], "action": {"type": "rate", "download_bps": -5}},
        )
        pointers = [p["pointer"] for p in assert_problem(wrapped, 422)["invalid_params"]]
        assert pointers == ["/action/download_bps"]
        huge = await daemon.api.post(
            f"/v1/torrents/{tid}/action",
            content=b'{"type": "rate", "download_bps": 1e400}',
            headers={"content-type": "application/json"},
        )
        assert [p["pointer"] for p in assert_problem(huge, 422)["invalid_params"]] == [
            "/download_bps"
        ]
        assert await _unchanged(daemon) == before
        detail = (await daemon.api.get(f"/v1/torrents/{tid}")).json()
        assert detail["tags"] == [] and detail["max_download_bps"] is None

        # Over the body limit: 413, and the connection is closed (the rest is never read).
        def oversized() -> httpx.Response:
            body = b'{"magnet": "' + b"a" * (40 << 20) + b'"}'
            return httpx.post(
                daemon.url + "/v1/torrents", content=body, headers=daemon.headers, timeout=30
            )

        too_big = await trio.to_thread.run_sync(oversized)
        assert_problem(too_big, 413)
        assert await _unchanged(daemon) == before
