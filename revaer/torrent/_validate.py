"""Checks on command fields that need no state: bounds, control characters, paths, caps.

They run in the caller's task before a command is queued, so a bad command never reaches the
session actor; each problem names its field with a JSON pointer into the command.
"""

from __future__ import annotations

import ipaddress
import uuid
from collections.abc import Iterable, Sequence
from pathlib import PurePosixPath

from revaer.errors import InvalidParam, ValidationFailed, pointer
from revaer.torrent._commands import AddTorrent, ChangeTags, ConnectPeer, SelectFiles
from revaer.torrent._text import control_character
from revaer.torrent.limits import (
    MAX_GLOB_LENGTH,
    MAX_GLOBS,
    MAX_MAGNET_LENGTH,
    MAX_METAINFO_BYTES,
    MAX_NAME_LENGTH,
    MAX_PATH_LENGTH,
    MAX_RATE_BPS,
    MAX_TAG_LENGTH,
    MAX_TAGS,
    MAX_TRACKER_LENGTH,
    MAX_TRACKERS,
)

MAX_PORT = 65535

__all__ = [
    "absolute_path",
    "check_add",
    "check_caps",
    "check_connect",
    "check_select",
    "check_tags",
    "torrent_id_of",
]


def _strings(
    values: Sequence[str], field: str, *, most: int, longest: int, problems: list[InvalidParam]
) -> None:
    if len(values) > most:
        problems.append(
            InvalidParam(pointer=pointer(field), message=f"{len(values)} items; at most {most}")
        )
        return
    for index, value in enumerate(values):
        where = pointer(field, index)
        if not value:
            problems.append(InvalidParam(pointer=where, message="must not be empty"))
        elif len(value) > longest:
            problems.append(
                InvalidParam(pointer=where, message=f"longer than {longest} characters")
            )
        elif (bad := control_character(value)) is not None:
            problems.append(InvalidParam(pointer=where, message=bad))


def _globs(include: Sequence[str], exclude: Sequence[str], problems: list[InvalidParam]) -> None:
    _strings(include, "include", most=MAX_GLOBS, longest=MAX_GLOB_LENGTH, problems=problems)
    _strings(exclude, "exclude", most=MAX_GLOBS, longest=MAX_GLOB_LENGTH, problems=problems)


def path_problem(path: str) -> str | None:
    """Why ``path`` is not an acceptable download directory, or None."""
    if len(path) > MAX_PATH_LENGTH:
        return f"longer than {MAX_PATH_LENGTH} characters"
    if (bad := control_character(path)) is not None:
        return bad
    pure = PurePosixPath(path)
    if not pure.is_absolute() or ".." in pure.parts:
        return "must be an absolute path without '..'"
    return None


def absolute_path(path: str, field: str) -> str:
    """``path`` normalised; ``ValidationFailed`` at ``/<field>`` unless absolute and clean."""
    problem = path_problem(path)
    if problem is not None:
        raise ValidationFailed([InvalidParam(pointer=pointer(field), message=problem)])
    return str(PurePosixPath(path))


def _caps(
    download_bps: int | None, upload_bps: int | None, names: tuple[str, str]
) -> Iterable[InvalidParam]:
    for name, value in zip(names, (download_bps, upload_bps), strict=True):
        if value is not None and (isinstance(value, bool) or not 0 <= value <= MAX_RATE_BPS):
            yield InvalidParam(
                pointer=pointer(name), message=f"must be 0 to {MAX_RATE_BPS} (bytes/s) or null"
            )


def check_caps(download_bps: int | None, upload_bps: int | None) -> None:
    """Per-torrent caps in bytes/s: non-negative or None."""
    problems = list(_caps(download_bps, upload_bps, ("download_bps", "upload_bps")))
    if problems:
        raise ValidationFailed(problems)


def torrent_id_of(given: str | None) -> str:
    """The canonical form of a given torrent id, or a new one."""
    if given is None:
        return str(uuid.uuid4())
    try:
        return str(uuid.UUID(given))
    except ValueError:
        raise ValidationFailed(
            [InvalidParam(pointer="/torrent_id", message="must be a UUID")]
        ) from None


def check_add(command: AddTorrent) -> None:
    """Every stateless problem of an add, each with its pointer; nothing is parsed yet."""
    problems: list[InvalidParam] = []
    if (command.magnet is None) == (command.metainfo is None):
        problems.append(InvalidParam(pointer="", message="give exactly one of magnet or metainfo"))
    if command.magnet is not None:
        if len(command.magnet) > MAX_MAGNET_LENGTH:
            problems.append(
                InvalidParam(
                    pointer="/magnet", message=f"longer than {MAX_MAGNET_LENGTH} characters"
                )
            )
        elif (bad := control_character(command.magnet)) is not None:
            problems.append(InvalidParam(pointer="/magnet", message=bad))
    if command.name is not None:
        if not command.name.strip() or len(command.name) > MAX_NAME_LENGTH:
            problems.append(
                InvalidParam(pointer="/name", message=f"must be 1 to {MAX_NAME_LENGTH} characters")
            )
        elif (bad := control_character(command.name)) is not None:
            problems.append(InvalidParam(pointer="/name", message=bad))
    if command.metainfo is not None and len(command.metainfo) > MAX_METAINFO_BYTES:
        problems.append(
            InvalidParam(pointer="/metainfo", message=f"larger than {MAX_METAINFO_BYTES} bytes")
        )
    _strings(
        command.trackers,
        "trackers",
        most=MAX_TRACKERS,
        longest=MAX_TRACKER_LENGTH,
        problems=problems,
    )
    _strings(command.tags, "tags", most=MAX_TAGS, longest=MAX_TAG_LENGTH, problems=problems)
    _globs(command.include, command.exclude, problems)
    if command.download_dir is not None and (bad := path_problem(command.download_dir)):
        problems.append(InvalidParam(pointer="/download_dir", message=bad))
    problems.extend(
        _caps(
            command.max_download_bps,
            command.max_upload_bps,
            ("max_download_bps", "max_upload_bps"),
        )
    )
    if problems:
        raise ValidationFailed(problems)
    torrent_id_of(command.torrent_id)


def check_connect(command: ConnectPeer) -> None:
    """An IP address (no name to resolve) and a TCP port."""
    problems: list[InvalidParam] = []
    try:
        ipaddress.ip_address(command.host)
    except ValueError:
        problems.append(InvalidParam(pointer="/host", message="must be an IPv4 or IPv6 address"))
    if isinstance(command.port, bool) or not 1 <= command.port <= MAX_PORT:
        problems.append(InvalidParam(pointer="/port", message=f"must be 1 to {MAX_PORT}"))
    if problems:
        raise ValidationFailed(problems)


def check_tags(command: ChangeTags) -> None:
    """Each list of tags bounded and clean (pointers ``/set``, ``/add``, ``/remove``)."""
    problems: list[InvalidParam] = []
    for name, values in (
        ("set", command.replace),
        ("add", command.add),
        ("remove", command.remove),
    ):
        if values is not None:
            _strings(values, name, most=MAX_TAGS, longest=MAX_TAG_LENGTH, problems=problems)
    if problems:
        raise ValidationFailed(problems)


def check_select(command: SelectFiles) -> None:
    """Globs bounded and clean, priorities within 0..7."""
    problems: list[InvalidParam] = []
    _globs(command.include, command.exclude, problems)
    problems.extend(
        InvalidParam(pointer=pointer("priorities", index), message="must be 0 (skip) to 7 (top)")
        for index, priority in command.priorities.items()
        if isinstance(priority, bool) or not 0 <= priority <= 7
    )
    problems.extend(
        InvalidParam(pointer=pointer("priorities", index), message="not a file index")
        for index in command.priorities
        if isinstance(index, bool) or index < 0
    )
    if problems:
        raise ValidationFailed(problems)
