"""trust_pieces_on_disk: pieces written after the last resume save are found, holes are skipped."""

from __future__ import annotations

import os
from pathlib import Path

import libtorrent as lt

from revaer.torrent._lt import read_resume, trust_pieces_on_disk
from tests.harness import make_payload, make_torrent

PIECE = 64 * 1024


def _resume_with(data: bytes, have: list[bool]) -> bytes:
    params = lt.load_torrent_buffer(data)
    params.have_pieces = have
    return bytes(lt.write_resume_data_buf(params))


def _have(source: object) -> list[bool]:
    return list(source._params.have_pieces)  # type: ignore[attr-defined]


def test_pieces_on_disk_that_resume_data_misses_are_kept(tmp_path: Path) -> None:
    payload = make_payload(tmp_path / "seed", {"Show/a.bin": 4 * PIECE, "Show/b.bin": 2 * PIECE})
    torrent = make_torrent(payload, kind="hybrid", piece_length=PIECE)
    pieces = lt.load_torrent_buffer(torrent.data).ti.num_pieces()  # type: ignore[union-attr]
    # The download directory: a.bin complete, b.bin with its first piece only and a hole after.
    downloads = tmp_path / "dl" / "Show"
    downloads.mkdir(parents=True)
    (downloads / "a.bin").write_bytes((payload / "a.bin").read_bytes())
    with (downloads / "b.bin").open("wb") as f:
        f.write((payload / "b.bin").read_bytes()[:PIECE])
        f.truncate(2 * PIECE)  # the second piece is a hole: never written
    # The resume data remembers only the first piece.
    source = read_resume(_resume_with(torrent.data, [True] + [False] * (pieces - 1)))
    assert source.incomplete
    found = trust_pieces_on_disk(source, str(tmp_path / "dl"))
    have = _have(source)
    assert found == 4  # a.bin's other three pieces and b.bin's first
    assert have[:5] == [True] * 5 and not all(have)


def test_a_corrupt_or_missing_piece_is_not_kept(tmp_path: Path) -> None:
    payload = make_payload(tmp_path / "seed", {"one.bin": 3 * PIECE})
    torrent = make_torrent(payload, kind="v1", piece_length=PIECE)
    target = tmp_path / "dl" / "one.bin"
    target.parent.mkdir(parents=True)
    data = bytearray((payload).read_bytes())
    data[PIECE + 10] ^= 0xFF  # the middle piece is damaged
    target.write_bytes(bytes(data[: 2 * PIECE]))  # and the last one missing
    source = read_resume(_resume_with(torrent.data, []))
    assert trust_pieces_on_disk(source, str(tmp_path / "dl")) == 1
    assert _have(source)[:3] == [True, False, False]


def test_nothing_to_do_for_complete_or_absent_data(tmp_path: Path) -> None:
    payload = make_payload(tmp_path / "seed", {"one.bin": 2 * PIECE})
    torrent = make_torrent(payload, kind="v1", piece_length=PIECE)
    complete = read_resume(_resume_with(torrent.data, [True, True]))
    assert not complete.incomplete
    assert trust_pieces_on_disk(complete, str(tmp_path / "nowhere")) == 0
    empty = read_resume(_resume_with(torrent.data, []))
    assert trust_pieces_on_disk(empty, str(tmp_path / "nowhere")) == 0
    assert os.listdir(tmp_path) == ["seed"]  # only read, never created anything
