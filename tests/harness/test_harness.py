"""The loopback harness itself: payloads, .torrent creation, seeding and bare downloads."""

from __future__ import annotations

import re
from pathlib import Path

import libtorrent as lt
import pytest

from tests.harness import (
    DEFAULT_LAYOUT,
    Seeder,
    TorrentFile,
    bare_download,
    bare_download_in_thread,
    make_payload,
    make_torrent,
    open_seeder,
    same_tree,
)

HEX40 = re.compile(r"[0-9a-f]{40}")
HEX64 = re.compile(r"[0-9a-f]{64}")
TIMEOUT = 15.0


def test_payload_is_deterministic_per_seed(tmp_path: Path) -> None:
    first = make_payload(tmp_path / "a")
    again = make_payload(tmp_path / "b")
    other = make_payload(tmp_path / "c", seed=1)

    assert first == tmp_path / "a" / "Show"
    sizes = {p.relative_to(first.parent).as_posix(): p.stat().st_size for p in first.rglob("*.*")}
    assert sizes == dict(DEFAULT_LAYOUT)
    assert same_tree(first, again)
    assert not same_tree(first, other)


def test_payload_files_differ_from_each_other(tmp_path: Path) -> None:
    top = make_payload(tmp_path, {"d/a.bin": 64 * 1024, "d/b.bin": 64 * 1024})
    assert (top / "a.bin").read_bytes() != (top / "b.bin").read_bytes()


def test_single_file_payload(tmp_path: Path) -> None:
    path = make_payload(tmp_path, {"movie.mkv": 12345})
    assert path == tmp_path / "movie.mkv"
    assert path.is_file()
    assert path.stat().st_size == 12345


@pytest.mark.parametrize(
    "layout",
    [{}, {"a/x": 1, "b/y": 1}, {"../x": 1}, {"/abs/x": 1}, {"a/x": -1}],
)
def test_payload_rejects_bad_layouts(tmp_path: Path, layout: dict[str, int]) -> None:
    with pytest.raises(ValueError, match="payload"):
        make_payload(tmp_path, layout)


def test_same_tree_notices_a_changed_byte_and_a_missing_file(tmp_path: Path) -> None:
    a = make_payload(tmp_path / "a")
    b = make_payload(tmp_path / "b")
    victim = b / "ep2.mkv"
    data = bytearray(victim.read_bytes())
    data[len(data) // 2] ^= 0xFF
    victim.write_bytes(bytes(data))
    assert not same_tree(a, b)

    c = make_payload(tmp_path / "c")
    (c / "info.nfo").unlink()
    assert not same_tree(a, c)
    assert not same_tree(a, tmp_path / "absent")
    assert not same_tree(a, a / "ep1.mkv")


def _loaded(torrent: TorrentFile) -> lt.torrent_info:
    ti = lt.load_torrent_buffer(torrent.data).ti
    assert ti is not None
    return ti


def test_v1_torrent(torrent_v1: TorrentFile, payload: Path) -> None:
    ti = _loaded(torrent_v1)
    hashes = ti.info_hashes()

    assert torrent_v1.info_hash_v1 is not None
    assert HEX40.fullmatch(torrent_v1.info_hash_v1)
    assert torrent_v1.info_hash_v1 == str(hashes.v1)
    assert torrent_v1.info_hash_v2 is None
    assert not hashes.has_v2()
    assert torrent_v1.name == "Show"
    assert dict(torrent_v1.files) == dict(DEFAULT_LAYOUT)
    assert torrent_v1.total_size == sum(DEFAULT_LAYOUT.values())
    assert torrent_v1.piece_length == ti.piece_length()
    # Same payload, same info-hash: torrents are reproducible.
    assert make_torrent(payload).info_hash_v1 == torrent_v1.info_hash_v1


def test_hybrid_torrent(torrent_hybrid: TorrentFile, torrent_v1: TorrentFile) -> None:
    hashes = _loaded(torrent_hybrid).info_hashes()

    assert torrent_hybrid.info_hash_v1 is not None
    assert torrent_hybrid.info_hash_v2 is not None
    assert HEX40.fullmatch(torrent_hybrid.info_hash_v1)
    assert HEX64.fullmatch(torrent_hybrid.info_hash_v2)
    assert (torrent_hybrid.info_hash_v1, torrent_hybrid.info_hash_v2) == (
        str(hashes.v1),
        str(hashes.v2),
    )
    assert torrent_hybrid.info_hash_v1 != torrent_v1.info_hash_v1
    # Pad files libtorrent inserts for v2 alignment are not payload.
    assert dict(torrent_hybrid.files) == dict(DEFAULT_LAYOUT)


def test_v2_torrent_with_trackers_and_piece_length(payload: Path) -> None:
    trackers = ("http://127.0.0.1:9/announce", "udp://127.0.0.1:9")
    torrent = make_torrent(payload, kind="v2", piece_length=64 * 1024, trackers=trackers)

    assert torrent.info_hash_v1 is None
    assert torrent.info_hash_v2 is not None
    assert HEX64.fullmatch(torrent.info_hash_v2)
    assert torrent.piece_length == 64 * 1024
    assert torrent.trackers == trackers


def test_make_torrent_refuses_an_empty_directory(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no files"):
        make_torrent(tmp_path / "empty")


def test_magnet_parses_back(torrent_hybrid: TorrentFile) -> None:
    params = lt.parse_magnet_uri(torrent_hybrid.magnet(peer=("127.0.0.1", 6881)))

    assert str(params.info_hashes.v1) == torrent_hybrid.info_hash_v1
    assert str(params.info_hashes.v2) == torrent_hybrid.info_hash_v2
    assert params.name == "Show"
    assert params.peers == [("127.0.0.1", 6881)]
    assert "x.pe" not in torrent_hybrid.magnet()


def test_magnet_carries_trackers_and_escapes_the_name(tmp_path: Path) -> None:
    path = make_payload(tmp_path, {"A & B.mkv": 1000})
    torrent = make_torrent(path, trackers=["http://127.0.0.1:9/announce?k=1&x=2"])
    params = lt.parse_magnet_uri(torrent.magnet())

    assert params.name == "A & B.mkv"
    assert params.trackers == ["http://127.0.0.1:9/announce?k=1&x=2"]
    assert str(params.info_hashes.v1) == torrent.info_hash_v1
    assert not params.info_hashes.has_v2()


def test_seeder_listens_on_loopback(seeder: Seeder) -> None:
    host, port = seeder.endpoint
    assert host == "127.0.0.1"
    assert port == seeder.port > 0
    seeder.close()
    seeder.close()
    with pytest.raises(RuntimeError, match="closed"):
        seeder.pop_errors()


def test_seeder_refuses_missing_payload(torrent_v1: TorrentFile, tmp_path: Path) -> None:
    with Seeder() as seeder, pytest.raises(FileNotFoundError):
        seeder.seed(torrent_v1, tmp_path / "nowhere")


@pytest.mark.parametrize("kind", ["v1", "hybrid"])
def test_bare_download_is_byte_identical(
    kind: str,
    seeder: Seeder,
    payload: Path,
    torrent_v1: TorrentFile,
    torrent_hybrid: TorrentFile,
    tmp_path: Path,
) -> None:
    torrent = torrent_v1 if kind == "v1" else torrent_hybrid
    elapsed = bare_download(torrent, tmp_path / "leech", seeder, timeout=TIMEOUT)

    assert elapsed > 0
    assert same_tree(payload, tmp_path / "leech" / "Show")


def test_magnet_with_x_pe_fetches_metadata_from_the_seeder(
    seeder: Seeder, payload: Path, torrent_hybrid: TorrentFile, tmp_path: Path
) -> None:
    magnet = torrent_hybrid.magnet(peer=seeder.endpoint)
    # No seeder handed over: the only way to the peer is the magnet's x.pe.
    bare_download(magnet, tmp_path / "leech", None, timeout=TIMEOUT)

    assert same_tree(payload, tmp_path / "leech" / "Show")


async def test_trio_helpers_with_a_single_file_torrent(tmp_path: Path) -> None:
    path = make_payload(tmp_path / "seed", {"movie.mkv": 1024 * 1024 + 17})
    torrent = make_torrent(path, kind="hybrid")
    assert torrent.files == (("movie.mkv", 1024 * 1024 + 17),)

    async with open_seeder() as seeder:
        seeder.seed(torrent, path.parent)
        # A magnet without x.pe: the seeder is handed over instead.
        await bare_download_in_thread(torrent.magnet(), tmp_path / "leech", seeder, timeout=TIMEOUT)

    assert same_tree(path, tmp_path / "leech" / "movie.mkv")


def test_bare_download_times_out_without_a_peer(torrent_v1: TorrentFile, tmp_path: Path) -> None:
    with pytest.raises(TimeoutError, match=r"progress 0\.000"):
        bare_download(torrent_v1, tmp_path / "leech", None, timeout=0.3)
