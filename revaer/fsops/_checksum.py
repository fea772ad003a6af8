"""SHA-256 of files, and the ``.revaer.sha256`` manifest a job leaves beside what it placed.

The manifest is what ``sha256sum`` writes and ``sha256sum -c`` reads: one ``<hex>  <path>``
line per file, paths relative to the manifest's directory, sorted. A path holding a backslash,
a newline or a carriage return is written the way GNU coreutils (9.0 and later) writes it: the
line starts with a backslash and the name has ``\\\\``, ``\\n`` and ``\\r`` in their place.
Paths are refused when they are not plain relative paths (absolute, ``..``, ``.``, empty
components, NUL), so a manifest can never make :func:`verify_manifest` read outside its
directory.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Mapping
from pathlib import Path, PurePosixPath

from revaer.fsops._errors import FsopsFailed, FsopsRefused
from revaer.runtime import write_atomically

__all__ = ["MANIFEST_NAME", "read_manifest", "sha256_file", "verify_manifest", "write_manifest"]

MANIFEST_NAME = ".revaer.sha256"

# 1 MiB reads: measured here at ~1.3 GiB/s, the same as hashlib.file_digest (256 KiB) and
# larger buffers, and it leaves a check() between chunks a few milliseconds apart.
_CHUNK = 1 << 20
_HEX = re.compile(r"[0-9a-f]{64}")
_ESCAPES = {"\\": "\\\\", "\n": "\\n", "\r": "\\r"}
_UNESCAPES = {"\\": "\\", "n": "\n", "r": "\r"}


def _nothing() -> None:
    return None


def _ignore(_n: int) -> None:
    return None


def _digest(path: Path, check: Callable[[], None], progress: Callable[[int], None]) -> str:
    """The hex digest of ``path``; OSError is the caller's to word."""
    digest = hashlib.sha256()
    buffer = bytearray(_CHUNK)
    view = memoryview(buffer)
    with path.open("rb", buffering=0) as file:
        while True:
            check()
            n = file.readinto(buffer)
            if not n:
                return digest.hexdigest()
            digest.update(view[:n])
            progress(n)


def sha256_file(
    path: Path,
    *,
    check: Callable[[], None] = _nothing,
    progress: Callable[[int], None] = _ignore,
) -> str:
    """The SHA-256 of ``path`` as lowercase hex, or :class:`FsopsFailed` if it cannot be read.

    ``check`` is called before each 1 MiB read (raise from it to stop); ``progress(n)`` after
    each with the bytes just read.
    """
    try:
        return _digest(path, check, progress)
    except OSError as error:
        raise FsopsFailed(
            f"cannot read {path}: {error.strerror or error}", path=str(path)
        ) from error


def _checked_name(name: str) -> str:
    pure = PurePosixPath(name)
    if (
        not name
        or "\x00" in name
        or pure.is_absolute()
        or pure.as_posix() != name
        or any(part in (".", "..") for part in pure.parts)
    ):
        raise FsopsRefused(
            f"manifest path {name!r} is not a plain relative path inside the directory",
            path=name,
        )
    return name


def _line(digest: str, name: str) -> str:
    """One line as sha256sum writes it; a leading backslash flags an escaped name."""
    if not any(char in name for char in _ESCAPES):
        return f"{digest}  {name}\n"
    escaped = "".join(_ESCAPES.get(char, char) for char in name)
    return f"\\{digest}  {escaped}\n"


def _unescape(text: str, where: str) -> str:
    out: list[str] = []
    chars = iter(text)
    for char in chars:
        if char != "\\":
            out.append(char)
            continue
        following = next(chars, "")
        if following not in _UNESCAPES:
            raise FsopsFailed(f"{where}: bad escape \\{following} in the file name", path=where)
        out.append(_UNESCAPES[following])
    return "".join(out)


def write_manifest(directory: Path, digests: Mapping[str, str]) -> Path:
    """Write ``digests`` (relative path → hex SHA-256) to ``directory/MANIFEST_NAME``.

    Written atomically (temp file, fsync, rename, directory fsync), so a crash leaves the old
    manifest or the new one. Lines are sorted by path. A path that is not a plain relative
    path raises :class:`FsopsRefused`; a digest that is not 64 hex digits, :class:`FsopsFailed`.
    """
    lines: list[str] = []
    for name in sorted(digests):
        digest = digests[name].lower()
        if not _HEX.fullmatch(digest):
            raise FsopsFailed(f"manifest digest for {name!r} is not a SHA-256: {digest!r}")
        lines.append(_line(digest, _checked_name(name)))
    path = directory / MANIFEST_NAME
    try:
        write_atomically(path, "".join(lines).encode("utf-8", "surrogateescape"))
    except OSError as error:
        raise FsopsFailed(
            f"cannot write {path}: {error.strerror or error}", path=str(path)
        ) from error
    return path


def read_manifest(directory: Path) -> dict[str, str]:
    """The entries of ``directory/MANIFEST_NAME`` (relative path → hex SHA-256).

    Accepts what :func:`write_manifest` and ``sha256sum`` write (text ``"  "`` and binary
    ``" *"`` separators, escaped names). A missing or malformed manifest raises
    :class:`FsopsFailed`; a path leaving the directory, :class:`FsopsRefused`.
    """
    path = directory / MANIFEST_NAME
    try:
        raw = path.read_bytes()
    except OSError as error:
        raise FsopsFailed(
            f"cannot read {path}: {error.strerror or error}", path=str(path)
        ) from error
    entries: dict[str, str] = {}
    text = raw.decode("utf-8", "surrogateescape")
    for number, line in enumerate(text.split("\n"), start=1):
        if not line:
            continue
        where = f"{path}:{number}"
        escaped = line.startswith("\\")
        body = line[1:] if escaped else line
        digest, separator, name = body[:64], body[64:66], body[66:]
        if not _HEX.fullmatch(digest.lower()) or separator not in ("  ", " *") or not name:
            raise FsopsFailed(f"{where}: not a sha256sum line", path=str(path))
        if escaped:
            name = _unescape(name, where)
        entries[_checked_name(name)] = digest.lower()
    return entries


def verify_manifest(
    directory: Path,
    *,
    check: Callable[[], None] = _nothing,
    progress: Callable[[int], None] = _ignore,
) -> list[str]:
    """The manifest's paths whose file is missing or whose content no longer matches, sorted.

    A file that exists but cannot be read (permissions, I/O error) raises :class:`FsopsFailed`
    rather than being reported as changed: the operator has something else to fix.
    ``check``/``progress`` are passed to the hashing of each file.
    """
    bad: list[str] = []
    for name, expected in sorted(read_manifest(directory).items()):
        path = directory / name
        try:
            actual = _digest(path, check, progress)
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            bad.append(name)
            continue
        except OSError as error:
            raise FsopsFailed(
                f"cannot read {path}: {error.strerror or error}", path=str(path)
            ) from error
        if actual != expected:
            bad.append(name)
    return bad
