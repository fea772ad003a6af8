"""Create .torrent files (v1, hybrid, v2) from payload on disk, without deprecated libtorrent."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import quote

import libtorrent as lt

__all__ = ["TorrentFile", "TorrentKind", "make_torrent"]

TorrentKind = Literal["v1", "hybrid", "v2"]

_CREATE_FLAGS: dict[TorrentKind, int] = {
    "v1": lt.create_torrent.v1_only,
    "hybrid": 0,
    "v2": lt.create_torrent.v2_only,
}


def _param(key: str, value: str) -> str:
    return f"{key}={quote(value, safe=':')}"


@dataclass(frozen=True)
class TorrentFile:
    """A bencoded .torrent and what a test needs to know about it.

    ``files`` lists the real files (libtorrent's pad files left out) as POSIX paths relative to
    the save path, so a multi-file torrent named ``Show`` lists ``Show/ep1.mkv``, and a
    single-file torrent lists just its name. ``total_size`` is their summed size.
    """

    data: bytes
    name: str
    info_hash_v1: str | None
    info_hash_v2: str | None
    total_size: int
    files: tuple[tuple[str, int], ...]
    piece_length: int
    trackers: tuple[str, ...] = ()

    @classmethod
    def from_bytes(cls, data: bytes) -> TorrentFile:
        """Describe the bencoded .torrent ``data`` (raises when libtorrent cannot load it)."""
        params = lt.load_torrent_buffer(data)
        ti = params.ti
        if ti is None:
            raise ValueError("not a .torrent: no info dictionary")
        hashes = ti.info_hashes()
        layout = ti.layout()
        files = tuple(
            (layout.file_path(i), layout.file_size(i))
            for i in range(layout.num_files())
            if not layout.file_flags(i) & lt.file_storage.flag_pad_file
        )
        return cls(
            data=data,
            name=ti.name(),
            info_hash_v1=str(hashes.v1) if hashes.has_v1() else None,
            info_hash_v2=str(hashes.v2) if hashes.has_v2() else None,
            total_size=sum(size for _, size in files),
            files=files,
            piece_length=ti.piece_length(),
            # torrent_info.trackers() is deprecated in 2.1; the add_torrent_params carry them.
            trackers=tuple(params.trackers),
        )

    def magnet(self, *, peer: tuple[str, int] | None = None) -> str:
        """A magnet URI: ``xt`` for each info-hash, ``dn``, ``tr`` per tracker, ``x.pe=peer``."""
        params = []
        if self.info_hash_v1 is not None:
            params.append(_param("xt", f"urn:btih:{self.info_hash_v1}"))
        if self.info_hash_v2 is not None:
            # 0x12 = sha2-256 multihash code, 0x20 = digest length.
            params.append(_param("xt", f"urn:btmh:1220{self.info_hash_v2}"))
        params.append(_param("dn", self.name))
        params.extend(_param("tr", url) for url in self.trackers)
        if peer is not None:
            host, port = peer
            params.append(_param("x.pe", f"{host}:{port}"))
        return "magnet:?" + "&".join(params)


def _ignore_progress(_piece: int) -> None:
    """Progress callback for ``set_piece_hashes``: without one it hashes holding the GIL."""


def make_torrent(
    path: Path,
    *,
    kind: TorrentKind = "v1",
    piece_length: int = 0,
    trackers: Sequence[str] = (),
) -> TorrentFile:
    """Hash the file or directory ``path`` into a .torrent of ``kind``.

    ``piece_length`` 0 lets libtorrent choose. Each tracker goes into its own tier. Files enter
    the torrent sorted by path, so the same payload always gives the same info-hashes. Hashing
    reads every byte (seconds for hundreds of MiB): from trio, run it in a thread.
    """
    entries = sorted(lt.list_files(str(path)), key=lambda e: e.filename.split("/"))
    if not entries:
        raise ValueError(f"{path}: no files to put into a torrent")
    creator = lt.create_torrent(entries, piece_length, _CREATE_FLAGS[kind])
    for tier, url in enumerate(trackers):
        creator.add_tracker(url, tier)
    lt.set_piece_hashes(creator, str(path.parent), _ignore_progress)
    return TorrentFile.from_bytes(lt.bencode(creator.generate()))
