"""Write small *stored* (uncompressed) RAR archives, so tests need no committed binaries.

Debian main has no program that creates RAR (``rar`` is non-free), and ``unar`` only reads, so
the tests make their RAR fixtures with this module at test time. Only what the tests need is
written: files, directories, Unix symlinks, RAR 5 hard links, names as given (``../`` too),
multi-volume sets, and a RAR 4 member that claims encryption. Every variant is checked against
``lsar``/``unar`` by the tests that use it.

Formats, from the RAR technical notes (https://www.rarlab.com/technote.htm for RAR 5.0; the
"RAR version 3.x/4.x technical information" text for RAR 4):

RAR 4: a marker block ``Rar!\\x1a\\x07\\x00``, then blocks that start HEAD_CRC (2, low 16 bits of
the CRC32 of the header from HEAD_TYPE on), HEAD_TYPE (1), HEAD_FLAGS (2), HEAD_SIZE (2). The
main header (0x73) adds 6 reserved bytes; a file header (0x74) adds PACK_SIZE, UNP_SIZE,
HOST_OS, FILE_CRC, FTIME (DOS), UNP_VER, METHOD (0x30 = store), NAME_SIZE, ATTR and the name,
with its data after the header; the end of archive block (0x7b) closes a volume. Paths are
stored with backslashes (``unar`` turns a ``/`` in a RAR 4 name into ``_``); a Unix symlink is
a member with ``S_IFLNK`` in ATTR and its target as data. Volumes set MHD_VOLUME (and
MHD_NEWNUMBERING for ``.partN.rar`` names, MHD_FIRSTVOLUME on the first), a split file
LHD_SPLIT_AFTER / LHD_SPLIT_BEFORE, and the end block EARC_NEXT_VOLUME on all but the last.

RAR 5: the signature ``Rar!\\x1a\\x07\\x01\\x00``, then headers of CRC32 (4, over everything from
the size field on), header size (vint, counted from the type field), type, flags, optional
extra-area and data sizes, type-specific fields and the extra area; vints hold 7 bits a byte,
low bits first, the high bit meaning "more bytes follow". Main header (1) with the volume
flags, file headers (2) with an optional extra area (a file system redirection record, type 5:
1 = Unix symlink, 4 = hard link) and their data, end of archive header (5, flag 1 = "not the
last volume"); a split file's headers carry 0x08/0x10 ("continues from previous / in next").

A file split across volumes carries, in every part but the last, the CRC32 of that part's data,
and in the last part the CRC32 of the whole file (both formats).
"""

from __future__ import annotations

import stat
import struct
import time
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

__all__ = ["Entry", "directory", "file", "hardlink", "symlink", "write_rar4", "write_rar5"]

EntryKind = Literal["file", "dir", "symlink", "hardlink"]
DEFAULT_MTIME = 1_700_000_000  # 2023-11-14, any fixed time keeps fixtures reproducible


@dataclass(frozen=True, slots=True, kw_only=True)
class Entry:
    """One archive member as the generator writes it."""

    name: str
    kind: EntryKind = "file"
    data: bytes = b""
    target: str = ""
    """Link target: a path for a symlink, another member's name for a hard link."""
    mode: int = 0o644
    mtime: int = DEFAULT_MTIME
    encrypted: bool = False
    """RAR 4 only: set the member's password flag (the data is not really encrypted)."""


def file(name: str, data: bytes, *, mode: int = 0o644, mtime: int = DEFAULT_MTIME) -> Entry:
    """A regular file member."""
    return Entry(name=name, data=data, mode=mode, mtime=mtime)


def directory(name: str) -> Entry:
    """A directory member."""
    return Entry(name=name, kind="dir", mode=0o755)


def symlink(name: str, target: str) -> Entry:
    """A Unix symlink member pointing at ``target``."""
    return Entry(name=name, kind="symlink", target=target, mode=0o777)


def hardlink(name: str, target: str) -> Entry:
    """A RAR 5 hard link to the earlier member ``target``."""
    return Entry(name=name, kind="hardlink", target=target)


@dataclass(frozen=True, slots=True)
class _Part:
    """One entry's share of one volume (directories and links have a single empty part)."""

    entry: Entry
    data: bytes
    before: bool  # continues from the previous volume
    after: bool  # continues in the next volume
    last: bool


def _volume_names(stem: str, count: int, *, old_style: bool) -> list[str]:
    if count == 1:
        return [f"{stem}.rar"]
    if old_style:  # name.rar, name.r00, name.r01, ...
        return [f"{stem}.rar"] + [f"{stem}.r{i:02d}" for i in range(count - 1)]
    width = max(1, len(str(count)))
    return [f"{stem}.part{i + 1:0{width}d}.rar" for i in range(count)]


def _split(entries: Sequence[Entry], volume_size: int | None) -> list[list[_Part]]:
    """Distribute the entries over volumes of at most ``volume_size`` data bytes each."""
    volumes: list[list[_Part]] = [[]]
    room = volume_size
    for entry in entries:
        if entry.kind != "file" or not entry.data or room is None:
            volumes[-1].append(_Part(entry, entry.data, before=False, after=False, last=True))
            continue
        offset = 0
        while offset < len(entry.data):
            if room == 0:
                volumes.append([])
                room = volume_size
            assert room is not None
            chunk = entry.data[offset : offset + room]
            offset += len(chunk)
            room -= len(chunk)
            done = offset >= len(entry.data)
            volumes[-1].append(
                _Part(entry, chunk, before=offset > len(chunk), after=not done, last=done)
            )
    return volumes


def _write_volumes(
    directory_: Path, stem: str, volumes: list[bytes], *, old_style: bool
) -> list[Path]:
    paths = []
    for name, blob in zip(
        _volume_names(stem, len(volumes), old_style=old_style), volumes, strict=True
    ):
        path = directory_ / name
        path.write_bytes(blob)
        paths.append(path)
    return paths


def _part_crc(part: _Part) -> int:
    # The last part of a split file names the whole file's CRC; earlier parts their own data's.
    return zlib.crc32(part.entry.data if part.last else part.data)


# --- RAR 4 ----------------------------------------------------------------------------------

_RAR4_MARK = b"Rar!\x1a\x07\x00"
_MHD_VOLUME, _MHD_NEWNUMBERING, _MHD_FIRSTVOLUME = 0x0001, 0x0010, 0x0100
_LHD_SPLIT_BEFORE, _LHD_SPLIT_AFTER, _LHD_PASSWORD = 0x0001, 0x0002, 0x0004
_LHD_DIRECTORY, _LONG_BLOCK = 0x00E0, 0x8000
_EARC_NEXT_VOLUME = 0x0001
_HOST_UNIX4 = 3


def _rar4_block(head_type: int, flags: int, body: bytes) -> bytes:
    rest = struct.pack("<BHH", head_type, flags, 7 + len(body)) + body
    return struct.pack("<H", zlib.crc32(rest) & 0xFFFF) + rest


def _dos_time(when: int) -> int:
    t = time.gmtime(when)
    return (
        ((t.tm_year - 1980) << 25)
        | (t.tm_mon << 21)
        | (t.tm_mday << 16)
        | (t.tm_hour << 11)
        | (t.tm_min << 5)
        | (t.tm_sec // 2)
    )


def _rar4_file(part: _Part) -> bytes:
    entry = part.entry
    # RAR 4 separates path components with backslashes, whatever system made the archive.
    name = entry.name.replace("/", "\\").encode()
    flags = _LONG_BLOCK
    if entry.kind == "dir":
        flags |= _LHD_DIRECTORY
        attr = stat.S_IFDIR | entry.mode
    elif entry.kind == "symlink":
        attr = stat.S_IFLNK | entry.mode
    elif entry.kind == "file":
        attr = stat.S_IFREG | entry.mode
    else:
        raise ValueError("RAR 4 has no hard links")
    # A RAR 4 symlink stores its target as the member's data.
    data = entry.target.encode() if entry.kind == "symlink" else part.data
    whole = entry.target.encode() if entry.kind == "symlink" else entry.data
    crc = zlib.crc32(data) if entry.kind == "symlink" else _part_crc(part)
    flags |= (_LHD_SPLIT_BEFORE if part.before else 0) | (_LHD_SPLIT_AFTER if part.after else 0)
    flags |= _LHD_PASSWORD if entry.encrypted else 0
    body = struct.pack(
        "<IIBIIBBHI",
        len(data),  # PACK_SIZE (this part)
        len(whole),  # UNP_SIZE (whole file)
        _HOST_UNIX4,
        crc,
        _dos_time(entry.mtime),
        29,  # UNP_VER 2.9
        0x30,  # METHOD: store
        len(name),
        attr,
    )
    return _rar4_block(0x74, flags, body + name) + data


def write_rar4(
    directory_: Path,
    stem: str,
    entries: Sequence[Entry],
    *,
    volume_size: int | None = None,
    old_style: bool = False,
) -> list[Path]:
    """Write ``stem.rar`` (or ``stem.partN.rar`` / ``stem.rar`` + ``stem.rNN`` volumes).

    ``volume_size`` caps the member data of each volume; ``old_style`` picks ``.rNN`` names.
    Returns the volumes in order, the first first.
    """
    split = _split(entries, volume_size)
    multi = len(split) > 1
    blobs = []
    for index, parts in enumerate(split):
        main_flags = 0
        if multi:
            main_flags |= _MHD_VOLUME | (0 if old_style else _MHD_NEWNUMBERING)
            main_flags |= _MHD_FIRSTVOLUME if index == 0 else 0
        out = bytearray(_RAR4_MARK)
        out += _rar4_block(0x73, main_flags, b"\x00" * 6)
        for part in parts:
            out += _rar4_file(part)
        end_flags = _EARC_NEXT_VOLUME if index < len(split) - 1 else 0
        out += _rar4_block(0x7B, end_flags, b"")
        blobs.append(bytes(out))
    return _write_volumes(directory_, stem, blobs, old_style=old_style)


# --- RAR 5 ----------------------------------------------------------------------------------

_RAR5_SIG = b"Rar!\x1a\x07\x01\x00"
_HFL_EXTRA, _HFL_DATA, _HFL_SPLIT_BEFORE, _HFL_SPLIT_AFTER = 0x01, 0x02, 0x08, 0x10
_FFL_DIRECTORY, _FFL_MTIME, _FFL_CRC = 0x01, 0x02, 0x04
_AFL_VOLUME, _AFL_VOLNUMBER = 0x01, 0x02
_EXTRA_REDIRECTION = 0x05
_REDIR_UNIX_SYMLINK, _REDIR_HARDLINK = 1, 4
_HOST_UNIX5 = 1


def _vint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _rar5_header(
    head_type: int, fields: bytes, *, flags: int = 0, extra: bytes = b"", data_size: int | None
) -> bytes:
    if extra:
        flags |= _HFL_EXTRA
    if data_size is not None:
        flags |= _HFL_DATA
    body = _vint(head_type) + _vint(flags)
    body += _vint(len(extra)) if extra else b""
    body += _vint(data_size) if data_size is not None else b""
    body += fields + extra
    sized = _vint(len(body)) + body
    return struct.pack("<I", zlib.crc32(sized)) + sized


def _rar5_records(entry: Entry) -> bytes:
    if entry.kind not in ("symlink", "hardlink"):
        return b""
    kind = _REDIR_UNIX_SYMLINK if entry.kind == "symlink" else _REDIR_HARDLINK
    target = entry.target.encode()
    record = _vint(_EXTRA_REDIRECTION) + _vint(kind) + _vint(0) + _vint(len(target)) + target
    return _vint(len(record)) + record


def _rar5_file(part: _Part) -> bytes:
    entry = part.entry
    name = entry.name.encode()
    file_flags = _FFL_MTIME
    if entry.kind == "dir":
        file_flags |= _FFL_DIRECTORY
        attr = stat.S_IFDIR | entry.mode
    elif entry.kind == "symlink":
        attr = stat.S_IFLNK | entry.mode
    else:
        attr = stat.S_IFREG | entry.mode
    has_data = entry.kind == "file"
    if has_data:
        file_flags |= _FFL_CRC
    fields = _vint(file_flags) + _vint(len(entry.data)) + _vint(attr)
    fields += struct.pack("<I", entry.mtime)
    fields += struct.pack("<I", _part_crc(part)) if has_data else b""
    fields += _vint(0)  # compression info: algorithm 0, method 0 (store), no solid
    fields += _vint(_HOST_UNIX5) + _vint(len(name)) + name
    flags = (_HFL_SPLIT_BEFORE if part.before else 0) | (_HFL_SPLIT_AFTER if part.after else 0)
    header = _rar5_header(
        2,
        fields,
        flags=flags,
        extra=_rar5_records(entry),
        data_size=len(part.data) if has_data else None,
    )
    return header + (part.data if has_data else b"")


def write_rar5(
    directory_: Path, stem: str, entries: Sequence[Entry], *, volume_size: int | None = None
) -> list[Path]:
    """Write ``stem.rar`` (or ``stem.partN.rar`` volumes when ``volume_size`` splits the data).

    ``volume_size`` caps the member data of each volume. Returns the volumes, the first first.
    """
    split = _split(entries, volume_size)
    multi = len(split) > 1
    blobs = []
    for index, parts in enumerate(split):
        archive_flags = 0
        volume_number = b""
        if multi:
            archive_flags |= _AFL_VOLUME
            if index > 0:
                archive_flags |= _AFL_VOLNUMBER
                volume_number = _vint(index)
        out = bytearray(_RAR5_SIG)
        out += _rar5_header(1, _vint(archive_flags) + volume_number, data_size=None)
        for part in parts:
            out += _rar5_file(part)
        end_flags = 0x01 if index < len(split) - 1 else 0  # "not the last volume"
        out += _rar5_header(5, _vint(end_flags), data_size=None)
        blobs.append(bytes(out))
    return _write_volumes(directory_, stem, blobs, old_style=False)
