"""Writes that survive a crash or a power cut: the pieces every on-disk store here needs.

A file is written to a temporary name beside it, synced, renamed over the final name, and the
directory is synced so the rename itself is durable. The resume store batches these steps for
thousands of files (``revaer.torrent._resume``); the pipeline's records and manifests write
one file at a time (:func:`write_atomically`).
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

__all__ = ["fsync_directory", "write_atomically"]


def fsync_directory(directory: Path) -> None:
    """Make the renames and unlinks in ``directory`` durable.

    Some filesystems (FUSE, some network ones) cannot sync a directory; a file's own data is
    synced already and that is all they offer, so their refusal is not an error.
    """
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    except OSError as error:
        if error.errno not in (errno.EINVAL, errno.ENOTSUP):
            raise
    finally:
        os.close(fd)


def write_atomically(path: Path, data: bytes, *, mode: int = 0o644) -> None:
    """Replace ``path`` by ``data``: after a crash it holds the old content or the new one.

    The temporary file is ``.<name>.revaer-part`` (a leftover from a crash is overwritten);
    neither it nor ``path`` is followed if it is a symlink.
    """
    tmp = path.with_name(f".{path.name}.revaer-part")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC, mode)
    try:
        with os.fdopen(fd, "wb", closefd=False) as file:
            file.write(data)  # a buffered write: the whole of it, however the OS splits it
            file.flush()
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    fsync_directory(path.parent)
