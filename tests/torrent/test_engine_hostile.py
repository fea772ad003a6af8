"""Hostile input is refused with a pointer (or made harmless); it never stalls the engine."""

from __future__ import annotations

from pathlib import Path

import pytest
import trio

from revaer.errors import ValidationFailed
from revaer.torrent import AddTorrent
from tests.torrent.engine_harness import running_engine, tiny_metainfo

pytestmark = pytest.mark.integration

HASH = "ab" * 20


def magnet(*params: str, info_hash: str = HASH) -> str:
    return "&".join([f"magnet:?xt=urn:btih:{info_hash}", *params])


async def test_a_magnet_name_with_control_characters_is_cleaned(tmp_path: Path) -> None:
    async with running_engine(tmp_path / "e") as run:
        added = await run.engine.handle.add(AddTorrent(magnet=magnet("dn=evil%00name%1b%5b2J")))
        assert "\x00" not in added.name and "\x1b" not in added.name
        assert added.name.startswith("evil") and added.name.endswith("name[2J")
        meta = run.engine.state.entries[added.torrent_id].meta
        assert meta.name == added.name
        record = run.catalog.get(added.torrent_id)
        assert record is not None and record.name == added.name
        assert run.restarts == []


async def test_a_magnet_name_that_is_not_utf8_is_refused(tmp_path: Path) -> None:
    async with running_engine(tmp_path / "e") as run:
        with pytest.raises(ValidationFailed) as info:
            await run.engine.handle.add(AddTorrent(magnet=magnet("dn=%ff%fe%fd")))
        assert info.value.invalid_params[0].pointer == "/magnet"
        assert "UTF-8" in info.value.invalid_params[0].message
        assert run.engine.state.entries == {}


async def test_too_many_trackers_are_refused_at_once(tmp_path: Path) -> None:
    many = [f"tr=udp%3A%2F%2Fa%3A{i}" for i in range(250)]  # over 200, under 8 KiB
    async with running_engine(tmp_path / "e") as run:
        handle = run.engine.handle
        with trio.fail_after(2):
            with pytest.raises(ValidationFailed) as info:
                await handle.add(AddTorrent(magnet=magnet(*many)))
        assert info.value.invalid_params[0].pointer == "/magnet"
        assert "trackers" in info.value.invalid_params[0].message
        trackers = tuple(f"http://127.0.0.1:9/{i}/announce" for i in range(10_000))
        with trio.fail_after(2):
            with pytest.raises(ValidationFailed) as info:
                await handle.add(AddTorrent(metainfo=tiny_metainfo(1), trackers=trackers))
        assert info.value.invalid_params[0].pointer == "/trackers"
        # A long but allowed list adds quickly, and other commands are not held up.
        allowed = tuple(f"http://127.0.0.1:9/{i}/announce" for i in range(150))
        with trio.fail_after(5):
            added = await handle.add(AddTorrent(magnet=magnet(), trackers=allowed, paused=True))
            await handle.resume(added.torrent_id)


@pytest.mark.parametrize(
    ("command", "where"),
    [
        (AddTorrent(magnet=magnet(), trackers=("http://x/" + "a" * 5000,)), "/trackers/0"),
        (AddTorrent(magnet=magnet(), trackers=("http://x/\x00",)), "/trackers/0"),
        (AddTorrent(magnet=magnet(), tags=("ok", "bad\x07tag")), "/tags/1"),
        (AddTorrent(magnet=magnet(), tags=tuple(f"t{i}" for i in range(1000))), "/tags"),
        (AddTorrent(magnet=magnet(), include=("*" * 5000,)), "/include/0"),
        (AddTorrent(magnet=magnet(), exclude=tuple(f"*{i}*" for i in range(1000))), "/exclude"),
        (AddTorrent(magnet="magnet:?xt=urn:btih:" + HASH + "&dn=" + "a" * 100_000), "/magnet"),
        (AddTorrent(magnet=magnet(), download_dir="/srv/\x00/x"), "/download_dir"),
        (AddTorrent(magnet=magnet(), max_download_bps=-5), "/max_download_bps"),
    ],
)
async def test_bad_fields_are_refused_with_their_pointer(
    tmp_path: Path, command: AddTorrent, where: str
) -> None:
    async with running_engine(tmp_path / "e") as run:
        with pytest.raises(ValidationFailed) as info:
            await run.engine.handle.add(command)
        assert info.value.invalid_params[0].pointer == where
        assert run.engine.state.entries == {}
        assert run.restarts == []


async def test_out_of_range_caps_and_peers_are_refused_before_they_reach_libtorrent(
    tmp_path: Path,
) -> None:
    # libtorrent keeps rates in a 32-bit int: a larger cap stored first would crash every
    # restore after it. They are refused up front, like a peer that is not an address.
    async with running_engine(tmp_path / "e") as run:
        handle = run.engine.handle
        with pytest.raises(ValidationFailed) as info:
            await handle.add(AddTorrent(magnet=magnet(), max_upload_bps=2**31))
        assert info.value.invalid_params[0].pointer == "/max_upload_bps"
        added = await handle.add(AddTorrent(magnet=magnet(), paused=True))
        tid = added.torrent_id
        with pytest.raises(ValidationFailed) as info:
            await handle.set_rate_limits(tid, download_bps=2**40, upload_bps=None)
        assert info.value.invalid_params[0].pointer == "/download_bps"
        with pytest.raises(ValidationFailed) as info:
            await handle.connect_peer(tid, "seeder.example", 70000)
        assert [p.pointer for p in info.value.invalid_params] == ["/host", "/port"]
        with pytest.raises(ValidationFailed) as info:
            await handle.move(tid, "relative/dir")
        assert info.value.invalid_params[0].pointer == "/download_dir"
        await handle.set_rate_limits(tid, download_bps=2**31 - 1, upload_bps=None)
        assert run.restarts == []
