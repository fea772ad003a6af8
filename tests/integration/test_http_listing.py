"""GET /v1/torrents over real HTTP: stable keyset pages under churn, every filter, bad cursors.

The catalog is filled through the engine's publisher, exactly as the engine's own events fill
it, so 1,000 torrents take a moment and adds and removes can run while a walk is under way.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from revaer.api._listing import CursorCodec, ListQuery
from revaer.events import (
    FileInfo,
    FilesDiscovered,
    Progress,
    StateChanged,
    TorrentAdded,
    TorrentRemoved,
    TorrentState,
)
from tests.integration.api_harness import ActiveDaemon, active_daemon
from tests.integration.test_http_setup import assert_problem

pytestmark = pytest.mark.integration

STATES = [TorrentState.DOWNLOADING, TorrentState.SEEDING, TorrentState.PAUSED, TorrentState.QUEUED]
EXTENSIONS = ["mkv", "iso", "flac", "txt"]
TRACKERS = ["http://tracker.one/announce", "udp://Two.example:80"]


def _torrents(count: int, seed: int) -> Iterator[dict[str, Any]]:
    rng = random.Random(seed)
    for n in range(count):
        yield {
            "torrent_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            "name": f"{rng.choice(['Alpha', 'beta', 'Gamma', 'delta'])} {n:04d}",
            "state": STATES[n % len(STATES)],
            "extension": EXTENSIONS[n % 3 if n % 7 else 3],
            "tags": ("Movies",) if n % 2 else ("music", "FLAC") if n % 3 else (),
            "trackers": (TRACKERS[n % 2],),
            "size": rng.randrange(1, 10**9),
            "done": rng.randrange(0, 100),
        }


def _publish(daemon: ActiveDaemon, t: dict[str, Any], added_at: str) -> None:
    publish = daemon.live.daemon.engine.publisher.publish
    tid = t["torrent_id"]
    publish(
        TorrentAdded(
            torrent_id=tid, info_hash=uuid.UUID(tid).hex + "0" * 8, name=t["name"],
            tags=t["tags"], trackers=t["trackers"], added_at=added_at, download_dir="/d",
        )
    )  # fmt: skip
    publish(
        FilesDiscovered(
            torrent_id=tid, name=t["name"], total_size=t["size"], piece_length=16384,
            files=(FileInfo(index=0, path=f"{t['name']}/a.{t['extension']}", size=t["size"],
                            priority=4),),
        )
    )  # fmt: skip
    publish(StateChanged(torrent_id=tid, state=t["state"], previous=None))
    publish(
        Progress(
            torrent_id=tid, bytes_done=t["size"] * t["done"] // 100, bytes_total=t["size"],
            download_bps=0, upload_bps=0, eta_seconds=None, peers=0, seeds=0, ratio=0.0,
        )
    )  # fmt: skip


async def _fill(daemon: ActiveDaemon, torrents: list[dict[str, Any]]) -> None:
    # After the engine's start: it drops catalog records of torrents it did not restore.
    await daemon.engine_running()
    for n, t in enumerate(torrents):
        # Many share an added_at: the id breaks ties.
        _publish(daemon, t, f"2026-11-01T00:{n // 60 % 60:02d}:{n // 4 % 60:02d}+00:00")


async def _walk(
    daemon: ActiveDaemon, params: dict[str, str], during: Callable[[], None]
) -> list[str]:
    seen: list[str] = []
    cursor: str | None = None
    while True:
        query = params | ({"cursor": cursor} if cursor else {})
        response = await daemon.api.get("/v1/torrents", params=query)
        assert response.status_code == 200, response.text
        body = response.json()
        seen += [t["torrent_id"] for t in body["torrents"]]
        cursor = body["next"]
        if cursor is None:
            assert "link" not in response.headers
            return seen
        assert response.headers["link"].endswith('>; rel="next"')
        assert len(body["torrents"]) == int(params.get("limit", "50"))
        during()


async def test_walks_see_each_stable_torrent_once_under_churn(
    aio_loop: None, db_url: str, tmp_path: Path
) -> None:
    async with active_daemon(tmp_path, db_url) as daemon:
        stable = list(_torrents(1000, seed=1))
        await _fill(daemon, stable)
        churn = iter(_torrents(100_000, seed=2))
        live: list[str] = []
        publish = daemon.live.daemon.engine.publisher.publish

        def churn_some() -> None:
            # Between pages: add three torrents (newest and oldest times), remove two.
            for when in (
                "2026-12-01T00:00:00+00:00",
                "2026-10-01T00:00:00+00:00",
                "2026-11-01T00:00:30+00:00",
            ):
                t = next(churn)
                _publish(daemon, t, when)
                live.append(t["torrent_id"])
            for _ in range(2):
                if live:
                    publish(TorrentRemoved(torrent_id=live.pop(0), deleted_data=False))

        ids = {t["torrent_id"] for t in stable}
        for sort in (
            "added_at",
            "-added_at",
            "name",
            "-name",
            "progress",
            "-progress",
            "size",
            "-size",
            "state",
            "-state",
        ):
            for limit in ("50", "200") if sort != "name" else ("7", "200"):
                walked = await _walk(daemon, {"sort": sort, "limit": limit}, churn_some)
                mine = [i for i in walked if i in ids]
                assert len(mine) == len(ids) and set(mine) == ids, (sort, limit)
                assert len(walked) == len(set(walked)), (sort, limit)


def _expect(torrents: list[dict[str, Any]], check: Callable[[dict[str, Any]], bool]) -> set[str]:
    return {t["torrent_id"] for t in torrents if check(t)}


async def test_every_filter_and_their_combination(
    aio_loop: None, db_url: str, tmp_path: Path
) -> None:
    async with active_daemon(tmp_path, db_url) as daemon:
        torrents = list(_torrents(300, seed=3))
        await _fill(daemon, torrents)
        cases: list[tuple[dict[str, str], Callable[[dict[str, Any]], bool]]] = [
            ({"state": "SEEDING,paused"}, lambda t: t["state"].value in ("seeding", "paused")),
            ({"tracker": "TWO.example"}, lambda t: "two.example" in t["trackers"][0].lower()),
            ({"extension": ".MKV,flac"}, lambda t: t["extension"] in ("mkv", "flac")),
            ({"tags": "movies"}, lambda t: "Movies" in t["tags"]),
            ({"tags": "flac,Movies"}, lambda t: bool(t["tags"])),
            ({"name": "ALPHA,gam"}, lambda t: t["name"].lower().startswith(("alpha", "gamma"))),
            (
                {"state": "downloading", "tags": "movies", "extension": "mkv", "name": "a",
                 "tracker": "one"},
                lambda t: t["state"].value == "downloading" and "Movies" in t["tags"]
                and t["extension"] == "mkv" and "a" in t["name"].lower()
                and "one" in t["trackers"][0],
            ),
        ]  # fmt: skip
        for params, check in cases:
            walked = await _walk(daemon, params | {"limit": "9", "sort": "-size"}, lambda: None)
            assert set(walked) == _expect(torrents, check), params
            assert len(walked) == len(set(walked))
        by_size = await _walk(daemon, {"sort": "size", "limit": "200"}, lambda: None)
        sizes = {t["torrent_id"]: t["size"] for t in torrents}
        assert [sizes[i] for i in by_size] == sorted(sizes[i] for i in by_size)


async def test_bad_paging_parameters_are_422_naming_the_parameter(
    aio_loop: None, db_url: str, tmp_path: Path
) -> None:
    async with active_daemon(tmp_path, db_url) as daemon:
        await _fill(daemon, list(_torrents(30, seed=4)))
        first = (
            await daemon.api.get("/v1/torrents", params={"limit": "10", "sort": "name"})
        ).json()
        cursor = first["next"]
        assert cursor
        forged = cursor[:-4] + ("AAAA" if not cursor.endswith("AAAA") else "BBBB")
        cases = [
            ({"limit": "0"}, "/query/limit"),
            ({"limit": "201"}, "/query/limit"),
            ({"limit": "ten"}, "/query/limit"),
            ({"state": "sleeping"}, "/query/state"),
            ({"sort": "colour"}, "/query/sort"),
            ({"sort": "name", "cursor": forged}, "/query/cursor"),
            ({"sort": "name", "cursor": cursor[:12]}, "/query/cursor"),  # truncated
            ({"sort": "name", "cursor": "!!not base64!!"}, "/query/cursor"),
            ({"sort": "size", "cursor": cursor}, "/query/cursor"),  # another order's cursor
            (
                {"sort": "name", "state": "paused", "cursor": cursor},
                "/query/cursor",
            ),  # other filters
        ]
        for params, where in cases:
            problem = assert_problem(await daemon.api.get("/v1/torrents", params=params), 422)
            assert [p["pointer"] for p in problem["invalid_params"]] == [where], (params, problem)
        # A cursor from another daemon run (another signing key) is refused too.
        record = daemon.live.daemon.catalog.all()[0]
        foreign = CursorCodec(b"another run").encode(ListQuery(sort="name", limit=10), record)
        problem = assert_problem(
            await daemon.api.get("/v1/torrents", params={"sort": "name", "cursor": foreign}), 422
        )
        assert "daemon run" in problem["invalid_params"][0]["message"]
        good = await daemon.api.get(
            "/v1/torrents", params={"sort": "name", "cursor": cursor, "limit": "10"}
        )
        assert good.status_code == 200 and len(good.json()["torrents"]) == 10
