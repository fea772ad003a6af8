"""Extracting 7z and RAR archives with external tools (``7z``; ``unar`` with ``lsar``).

Blocking, for a worker thread. Safety comes in two layers, because neither tool can be told to
refuse links or climbing names (measured with 7-Zip 26.01 and unar 1.10.1):

- ``7zz x`` recreates symlink members by default (no switch needed): a target inside stays as
  it is, an absolute one is rewritten below the output directory, one climbing out with
  ``../`` is written as an empty file and the run fails; it strips ``..`` and a leading ``/``
  from names. ``unar`` recreates symlinks verbatim (``l -> /etc/passwd``), turns RAR 5 hard
  links into symlinks, and rewrites ``../x`` as ``__Parent__/x`` and ``/x`` as ``x``.
- So the listing (``7zz l -slt``, ``lsar -json``) is checked first, and the archive refused
  before anything is written if a member is a link, a device, absolute or climbs with ``..``;
- and after the tool ran, the output tree is walked: anything but regular files and
  directories, a file with more than one link, or a path outside the output refuses the
  archive too (the caller's cleanup removes what was written).

Both tools are pointed at symlinks to exactly the set's volumes in a private temporary
directory, because both read more into a file name than it says: ``7zz`` expands ``*`` and
``?`` in an archive name (``we?rd.7z`` also lists ``weXrd.7z``) and in ``-o`` (``*`` becomes the
archive's name, so ``-o/stage/a*b`` writes to ``/stage/asymb``); ``unar`` looks for further
volumes by name, and given ``x5.rar`` also opens a sibling ``x4.rar`` as an earlier volume, even
when neither is a multi-volume archive. So 7z volumes get plain names (``archive.7z``,
``archive.7z.001`` …), and ``7zz`` runs in the destination instead of being given ``-o``.
"""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from functools import partial
from pathlib import Path, PurePosixPath
from typing import IO, Any

from revaer.fsops._confine import Confinement, safe_member_name
from revaer.fsops._errors import FsopsFailed, FsopsRefused
from revaer.fsops._tools import TOOLS, Toolbox

__all__ = [
    "collect_tree",
    "extract_7z",
    "extract_rar",
    "is_top",
    "member_name",
    "refuse",
    "type_name",
]

# A password no archive uses: the tools then fail on encrypted data instead of prompting.
NO_PASSWORD = "REVAER_NO_PASSWORD"  # noqa: S105 - a dummy, never a secret
POLL_SECONDS = 0.1
# The tools need no locale and no PATH (they are run by absolute path); a fixed environment
# keeps their messages in English and the daemon's environment out of them.
TOOL_ENV = {"LC_ALL": "C"}
_UNIX_MODE = re.compile(r"^[-dlcbps?][-rwxsStT]{9}$")
# 7-Zip writes Windows attributes as letters ("RHS8DAdNTsLCOIEV", "_" in p7zip); of them
# L = reparse point (Windows symlinks and junctions) and d = device are not plain files.
_WINDOWS_LETTERS = frozenset("RHS8DAdNTsLCOIEV_")
_WINDOWS_LINKISH = {"L": "a reparse point (link)", "d": "a device"}
_TYPE_NAMES = {
    stat.S_IFLNK: "a symlink",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
    stat.S_IFIFO: "a fifo",
    stat.S_IFSOCK: "a socket",
}


@contextmanager
def _isolated(links: Sequence[tuple[str, Path]]) -> Iterator[Path]:
    """A private directory of symlinks (name, volume), yielding the first one's path."""
    with tempfile.TemporaryDirectory(prefix="revaer-archive-") as scratch:
        for name, volume in links:
            (Path(scratch) / name).symlink_to(volume.resolve())
        yield Path(scratch) / links[0][0]


def _tool(toolbox: Toolbox, name: str, archive: Path, *, executable: str | None = None) -> str:
    found = toolbox.path(executable or name)
    if found is None:
        raise FsopsFailed(
            f"{name} is needed to extract {archive.name} but was not found on PATH "
            f"({TOOLS[name].install})",
            path=str(archive),
        )
    return found


def type_name(kind: int) -> str:
    """What a file type (``stat.S_IFMT`` of a mode) is called in messages."""
    return _TYPE_NAMES.get(kind, "a special file")


def is_top(name: str) -> bool:
    """Whether a member name means the archive's top directory itself (``./``, ``.``)."""
    return all(part in ("", ".") for part in name.replace("\\", "/").split("/"))


def member_name(name: str, archive: Path) -> PurePosixPath:
    """``name`` as a safe relative path, or :class:`FsopsRefused` naming it and the archive."""
    try:
        return safe_member_name(name)
    except FsopsRefused as exc:
        raise FsopsRefused(
            f"{exc.detail} (in {archive.name}); the archive is refused",
            path=str(archive),
            member=name,
        ) from None


def refuse(archive: Path, name: str, why: str) -> FsopsRefused:
    """The archive refused because of member ``name``, which ``why`` describes."""
    return FsopsRefused(
        f"archive member {name!r} of {archive.name} {why}; only regular files and directories "
        "are extracted, links never",
        path=str(archive),
        member=name,
    )


def tail(text: str, lines: int = 3) -> str:
    """The last few non-blank lines of a tool's output, on one line (for error details)."""
    kept: list[str] = []
    for line in (raw.strip() for raw in text.splitlines()):
        if line and line not in kept[-1:]:
            kept.append(line)
    return " / ".join(kept[-lines:])[-400:] or "no output"


def run_tool(
    argv: Sequence[str], check: Callable[[], None], *, cwd: Path | None = None
) -> tuple[int, str, str]:
    """Run a tool to completion, calling ``check()`` about every 0.1 s; (exit code, out, err).

    Output goes to temporary files, not pipes, so a chatty tool cannot block on a full pipe
    while nobody reads it. When ``check()`` raises, the tool is killed and reaped before the
    exception propagates.
    """
    check()
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        try:
            proc = subprocess.Popen(  # noqa: S603 - argv is built here from a probed executable
                list(argv),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                env=TOOL_ENV,
                cwd=cwd,
            )
        except OSError as exc:
            raise FsopsFailed(f"cannot run {argv[0]}: {exc.strerror or exc}") from exc
        try:
            while True:
                try:
                    code = proc.wait(timeout=POLL_SECONDS)
                except subprocess.TimeoutExpired:
                    check()
                else:
                    break
        except BaseException:
            proc.kill()
            proc.wait()
            raise
        return code, _read(out), _read(err)


def _read(handle: IO[bytes]) -> str:
    handle.seek(0)
    return handle.read().decode("utf-8", errors="replace")


def collect_tree(dest: Path, archive: Path) -> list[tuple[PurePosixPath, int]]:
    """Every regular file ``archive`` left below ``dest``, with its size, or :class:`FsopsRefused`.

    Refused: symlinks, devices, fifos, sockets, regular files with more than one hard link
    (a tool may have linked a file from elsewhere), and anything resolving outside ``dest``.
    """
    confine = Confinement([dest])
    found: list[tuple[PurePosixPath, int]] = []
    pending = [dest]
    while pending:
        directory = pending.pop()
        with os.scandir(directory) as entries:
            for entry in entries:
                path = Path(entry.path)
                rel = PurePosixPath(path.relative_to(dest).as_posix())
                info = entry.stat(follow_symlinks=False)
                kind = stat.S_IFMT(info.st_mode)
                if kind == stat.S_IFDIR:
                    pending.append(path)
                elif kind != stat.S_IFREG:
                    raise FsopsRefused(
                        f"archive member {rel} of {archive.name} was extracted as "
                        f"{type_name(kind)}, which its listing did not show",
                        path=str(archive),
                        member=str(rel),
                    )
                elif info.st_nlink > 1:
                    raise FsopsRefused(
                        f"archive member {rel} of {archive.name} was extracted as a hard link, "
                        "which its listing did not show",
                        path=str(archive),
                        member=str(rel),
                    )
                else:
                    confine.check(path, what=f"archive member {rel}")
                    found.append((rel, info.st_size))
    return sorted(found)


# --- 7z -------------------------------------------------------------------------------------


def _7z_blocks(listing: str, archive: Path) -> Iterator[dict[str, str]]:
    """The member blocks of ``7z l -slt`` output (``Key = value`` lines, blank-separated)."""
    # The header describes the archive itself (and, for volumes, the split); members follow
    # the ten-dash line.
    head, sep, body = listing.partition("\n----------\n")
    if not sep:
        raise FsopsFailed(f"7z could not list {archive.name}: {tail(head)}", path=str(archive))
    lines = body.splitlines()
    block: dict[str, str] = {}
    for index, line in enumerate([*lines, ""]):
        if not line.strip():
            if block:
                yield block
            block = {}
            continue
        key, eq, value = line.partition(" =")
        if not eq and not block:
            # The summary after the members ("Warnings: 1"). A name with newlines in it could
            # forge one; the real member's "Key = value" lines would then still follow.
            if any(" =" in rest for rest in lines[index:]):
                raise _unreadable(archive, line)
            return
        if not eq or key in block:
            # Forged lines again: a repeated key, or a line that is no "Key = value".
            raise _unreadable(archive, line)
        block[key] = value.removeprefix(" ")


def _unreadable(archive: Path, line: str) -> FsopsRefused:
    return FsopsRefused(
        f"7z listing of {archive.name} could not be read safely near {line!r}", path=str(archive)
    )


def _7z_member_problem(block: dict[str, str]) -> str | None:
    """Why a 7z member may not be extracted (links, devices), or None."""
    for key in ("Symbolic Link", "Hard Link", "Link"):
        if block.get(key):
            return f"is a link ({key.lower()} to {block[key]!r})"
    for key in ("Attributes", "Mode"):
        for token in block.get(key, "").split():
            if _UNIX_MODE.match(token):
                if token[0] == "l":
                    return "is a symlink"
                if token[0] not in "-d":
                    return f"is not a regular file or directory (mode {token})"
            elif key == "Attributes" and set(token) <= _WINDOWS_LETTERS:
                for letter, what in _WINDOWS_LINKISH.items():
                    if letter in token:
                        return f"is {what}"
    return None


def _check_members(
    archive: Path, members: Iterable[tuple[object, Callable[[], str | None], bool]], unnamed: str
) -> None:
    """Refuse the archive at its first member without a usable name, with an unsafe name or
    kind (``problem()``), or encrypted; ``unnamed`` is the error for a nameless member."""
    for name, problem, encrypted in members:
        if not isinstance(name, str):
            raise FsopsFailed(unnamed, path=str(archive))
        member_name(name, archive)
        why = problem()
        if why:
            raise refuse(archive, name, why)
        if encrypted:
            raise _encrypted(archive, name)


def _7z_check_listing(listing: str, archive: Path) -> None:
    _check_members(
        archive,
        (
            (block.get("Path"), partial(_7z_member_problem, block), block.get("Encrypted") == "+")
            for block in _7z_blocks(listing, archive)
        ),
        f"7z listing of {archive.name} has a member without a name",
    )


def _encrypted(archive: Path, member: str | None = None) -> FsopsFailed:
    return FsopsFailed(
        f"{archive.name} is encrypted (password protected); Revaer has no password to open it",
        path=str(archive),
        member=member,
    )


def _7z_failed(archive: Path, what: str, out: str, err: str) -> FsopsFailed:
    text = err + "\n" + out
    if "Wrong password" in text:
        return _encrypted(archive)
    return FsopsFailed(f"7z could not {what} {archive.name}: {tail(err or out)}", path=str(archive))


def _7z_names(volumes: Sequence[Path]) -> list[str]:
    if len(volumes) == 1 and volumes[0].name.lower().endswith(".7z"):
        return ["archive.7z"]
    # Split volumes keep their numbers, by which 7-Zip finds the next one.
    return ["archive.7z." + volume.name.rsplit(".", 1)[-1] for volume in volumes]


def extract_7z(
    volumes: Sequence[Path], dest: Path, *, toolbox: Toolbox, check: Callable[[], None]
) -> list[tuple[PurePosixPath, int]]:
    """List and check, then extract a 7z archive (all its volumes given) into empty ``dest``."""
    first = volumes[0]
    exe = _tool(toolbox, "7z", first)
    password = "-p" + NO_PASSWORD
    with _isolated(list(zip(_7z_names(volumes), volumes, strict=True))) as stand_in:
        code, out, err = run_tool([exe, "l", "-slt", password, "--", str(stand_in)], check)
        if code != 0:
            raise _7z_failed(first, "list", out, err)
        _7z_check_listing(out, first)
        # -bso0/-bsp0 silence the per-file output and the progress bar, -y answers every
        # prompt; no -o: the tool runs in dest.
        argv = [exe, "x", "-y", "-bso0", "-bsp0", password, "--", str(stand_in)]
        code, out, err = run_tool(argv, check, cwd=dest)
    if code != 0:
        raise _7z_failed(first, "extract", out, err)
    return collect_tree(dest, first)


# --- RAR ------------------------------------------------------------------------------------


def _lsar_entries(doc: Any, archive: Path) -> list[dict[str, Any]]:
    if not isinstance(doc, dict) or "lsarContents" not in doc:
        raise FsopsFailed(
            f"unar could not read {archive.name}: not an archive it recognises, or damaged",
            path=str(archive),
        )
    if doc.get("lsarError"):
        # lsar lists what it could before the damage and reports XADException's code.
        raise FsopsFailed(
            f"unar could not read {archive.name}: damaged (lsar error {doc['lsarError']})",
            path=str(archive),
        )
    properties = doc.get("lsarProperties") or {}
    if properties.get("XADIsEncrypted"):
        raise _encrypted(archive)
    entries = doc["lsarContents"]
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise FsopsFailed(f"unar listed {archive.name} in an unknown shape", path=str(archive))
    return entries


def _rar_member_problem(entry: dict[str, Any]) -> str | None:
    if entry.get("XADIsHardLink"):
        return "is a hard link"
    if entry.get("XADIsLink"):
        return f"is a symlink (to {entry.get('XADLinkDestination', '?')!r})"
    mode = entry.get("XADPosixPermissions")
    if isinstance(mode, int):
        kind = stat.S_IFMT(mode)
        if kind not in (0, stat.S_IFREG, stat.S_IFDIR):
            return f"is {type_name(kind)}"
    return None


def _rar_check_listing(entries: list[dict[str, Any]], archive: Path) -> None:
    _check_members(
        archive,
        (
            (
                entry.get("XADFileName"),
                partial(_rar_member_problem, entry),
                bool(entry.get("XADIsEncrypted")),
            )
            for entry in entries
        ),
        f"{archive.name} has a member without a usable name",
    )


def extract_rar(
    volumes: Sequence[Path], dest: Path, *, toolbox: Toolbox, check: Callable[[], None]
) -> list[tuple[PurePosixPath, int]]:
    """List and check, then extract a RAR archive (all its volumes given) into empty ``dest``."""
    first = volumes[0]
    unar = _tool(toolbox, "unar", first)
    lsar = _tool(toolbox, "unar", first, executable="lsar")
    with _isolated([(volume.name, volume) for volume in volumes]) as stand_in:
        code, out, err = run_tool([lsar, "-json", "-p", NO_PASSWORD, str(stand_in)], check)
        try:
            doc: Any = json.loads(out)
        except ValueError:
            doc = None
        if code != 0 and not isinstance(doc, dict):
            raise FsopsFailed(
                f"unar could not read {first.name}: {tail(err or out)}", path=str(first)
            )
        _rar_check_listing(_lsar_entries(doc, first), first)
        # -D: no wrapping directory; -nr: nested archives are the caller's business;
        # -k skip: no AppleDouble files for Mac resource forks; -f: a repeated name overwrites.
        argv = [unar, "-q", "-D", "-nr", "-f", "-k", "skip", "-p", NO_PASSWORD]
        code, out, err = run_tool([*argv, "-o", str(dest), str(stand_in)], check)
    if code != 0:
        # unar reports per-file failures on stdout, even with -q.
        output = out + "\n" + err
        raise FsopsFailed(f"unar could not extract {first.name}: {tail(output)}", path=str(first))
    return collect_tree(dest, first)
