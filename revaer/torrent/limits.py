"""Bounds on what one command may carry, so no single input can stall or swamp the engine.

libtorrent de-duplicates trackers in quadratic time: 10,000 of them held its network thread
for 12 s (200 take under 2 ms). The other bounds keep names, globs and metadata files small.
"""

from __future__ import annotations

__all__ = [
    "MAX_GLOBS",
    "MAX_GLOB_LENGTH",
    "MAX_MAGNET_LENGTH",
    "MAX_METAINFO_BYTES",
    "MAX_NAME_LENGTH",
    "MAX_PATH_LENGTH",
    "MAX_RATE_BPS",
    "MAX_TAGS",
    "MAX_TAG_LENGTH",
    "MAX_TRACKERS",
    "MAX_TRACKER_LENGTH",
]

MAX_MAGNET_LENGTH = 8 * 1024
"""Real magnets are a few hundred bytes; 200 ``tr=`` trackers still fit."""
MAX_NAME_LENGTH = 255
MAX_METAINFO_BYTES = 16 * 1024 * 1024
MAX_TRACKERS = 200
"""Per source: a magnet's ``tr``, a .torrent's announce list, or a command's ``trackers``."""
MAX_TRACKER_LENGTH = 2048
MAX_TAGS = 64
MAX_TAG_LENGTH = 128
MAX_GLOBS = 64
"""Per list: ``include`` and ``exclude`` each."""
MAX_GLOB_LENGTH = 512
MAX_PATH_LENGTH = 4096
MAX_RATE_BPS = 2**31 - 1
"""libtorrent keeps rate limits in a signed 32-bit int (a larger one raises)."""
