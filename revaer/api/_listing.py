"""Listing torrents: filters, sort orders and opaque keyset cursors over the in-memory catalog.

A page is "the next ``limit`` torrents after the last one seen" in the chosen order, with the
torrent id breaking ties, so a walk page by page sees every torrent whose sort key does not
change during the walk exactly once, whatever is added or removed meanwhile. The cursor
carries that position plus a digest of the query, signed: a cursor that was altered, cut
short, made by another daemon run, or used with other filters or another order is a 422.
"""

from __future__ import annotations

import base64
import binascii
import bisect
import hashlib
import hmac
import re
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import PurePosixPath
from typing import Any

import msgspec

from revaer.api._memo import RecordMemo
from revaer.errors import InvalidParam, ValidationFailed
from revaer.events import TorrentCatalog, TorrentRecord, TorrentState

__all__ = [
    "SORTS",
    "STATES",
    "CursorKey",
    "ListQuery",
    "TorrentMatch",
    "list_page",
    "matching",
]

STATES = frozenset(s.value for s in TorrentState)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _micros(at: datetime) -> int:
    return (at - _EPOCH) // _MICROSECOND


_MICROSECOND = datetime(1970, 1, 1, 0, 0, 0, 1, tzinfo=UTC) - _EPOCH

SortKey = Callable[[TorrentRecord], Any]
SORTS: dict[str, SortKey] = {
    "added_at": lambda r: _micros(r.added_at),
    "name": lambda r: r.name.casefold(),
    "progress": lambda r: r.progress,
    "size": lambda r: r.bytes_total,
    "state": lambda r: r.state.value,
}
"""Sort orders by name; ``-name`` reverses one."""


@dataclass(frozen=True, slots=True, kw_only=True)
class TorrentMatch:
    """A filter: each list is any-of (case-insensitive); the fields combine with AND."""

    states: frozenset[str] | None = None
    trackers: tuple[str, ...] | None = None
    extensions: frozenset[str] | None = None
    tags: frozenset[str] | None = None
    names: tuple[str, ...] | None = None

    @classmethod
    def of(
        cls,
        *,
        states: Iterable[str] | None = None,
        trackers: Iterable[str] | None = None,
        extensions: Iterable[str] | None = None,
        tags: Iterable[str] | None = None,
        names: Iterable[str] | None = None,
    ) -> TorrentMatch:
        """A filter from lists as a caller gave them, folded the way records' keys are (case,
        and an extension's leading dot)."""

        def fold(values: Iterable[str] | None) -> list[str] | None:
            return None if values is None else [v.casefold() for v in values]

        exts = fold(extensions)
        return cls(
            states=None if states is None else frozenset(s.lower() for s in states),
            trackers=None if (t := fold(trackers)) is None else tuple(t),
            extensions=None if exts is None else frozenset(e.lstrip(".") for e in exts),
            tags=None if (g := fold(tags)) is None else frozenset(g),
            names=None if (n := fold(names)) is None else tuple(n),
        )

    @property
    def empty(self) -> bool:
        """Whether it lets every torrent through."""
        return all(
            v is None for v in (self.states, self.trackers, self.extensions, self.tags, self.names)
        )

    def digest(self) -> str:
        """A stable text of the filter (cursors are bound to it)."""
        parts = [
            ",".join(sorted(values)) if values is not None else "*"
            for values in (self.states, self.trackers, self.extensions, self.tags, self.names)
        ]
        return "|".join(parts)


@dataclass(frozen=True, slots=True)
class _Keys:
    name: str
    trackers: str
    """Every tracker URL, lower-cased, one per line (one regex search covers them all)."""
    extensions: frozenset[str]
    tags: frozenset[str]


def _keys(record: TorrentRecord) -> _Keys:
    """The lower-cased filter keys of a record."""
    return _Keys(
        name=record.name.casefold(),
        trackers="\n".join(t.casefold() for t in record.trackers),
        extensions=frozenset(
            PurePosixPath(f.path).suffix.lstrip(".").casefold() for f in record.files
        ),
        tags=frozenset(t.casefold() for t in record.tags),
    )


_CACHE = RecordMemo(_keys)


Predicate = Callable[[TorrentRecord], bool]


def _predicate(match: TorrentMatch) -> Predicate | None:
    """One test per filter, built once per request (None: everything passes)."""
    keys_of = _CACHE.of
    checks: list[Predicate] = []
    if match.states is not None:
        states = match.states
        checks.append(lambda r: r.state in states)  # StrEnum members hash as their values
    if match.names is not None:
        names = re.compile("|".join(re.escape(n) for n in match.names))
        checks.append(lambda r: names.search(keys_of(r).name) is not None)
    if match.tags is not None:
        tags = match.tags
        checks.append(lambda r: not tags.isdisjoint(keys_of(r).tags))
    if match.extensions is not None:
        extensions = match.extensions
        checks.append(lambda r: not extensions.isdisjoint(keys_of(r).extensions))
    if match.trackers is not None:
        trackers = re.compile("|".join(re.escape(t) for t in match.trackers))
        checks.append(lambda r: trackers.search(keys_of(r).trackers) is not None)
    if not checks:
        return None
    if len(checks) == 1:
        return checks[0]
    return lambda r: all(check(r) for check in checks)


def matching(catalog: TorrentCatalog, match: TorrentMatch) -> Iterator[TorrentRecord]:
    """Every record ``match`` lets through, oldest first."""
    passes = _predicate(match)
    records = catalog.all()
    return iter(records) if passes is None else (r for r in records if passes(r))


@dataclass(frozen=True, slots=True, kw_only=True)
class ListQuery:
    """A validated list request."""

    limit: int = 50
    sort: str = "added_at"
    descending: bool = False
    match: TorrentMatch = TorrentMatch()
    after: CursorKey | None = None

    def binding(self) -> str:
        """What a cursor is bound to: the order and the filter."""
        return f"{'-' if self.descending else ''}{self.sort}|{self.match.digest()}"


@dataclass(frozen=True, slots=True)
class CursorKey:
    """The position after the last torrent of a page: its sort value and its id."""

    value: Any
    torrent_id: str


class CursorCodec:
    """Signs cursors with this daemon run's key, so only its own cursors come back valid."""

    def __init__(self, key: bytes) -> None:
        self._key = key

    def encode(self, query: ListQuery, last: TorrentRecord) -> str:
        """The cursor of the page after ``last``."""
        value = SORTS[query.sort](last)
        body = msgspec.json.encode([query.binding(), value, last.torrent_id])
        mac = hmac.new(self._key, body, hashlib.sha256).digest()[:12]
        return base64.urlsafe_b64encode(mac + body).decode().rstrip("=")

    def decode(self, query: ListQuery, cursor: str) -> CursorKey:
        """The position in ``cursor``; 422 at ``/query/cursor`` when it is not one of ours for this
        query."""
        try:
            raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        except (binascii.Error, ValueError):
            raise _bad_cursor("not a cursor this API issued") from None
        mac, body = raw[:12], raw[12:]
        expected = hmac.new(self._key, body, hashlib.sha256).digest()[:12]
        if len(mac) < 12 or not hmac.compare_digest(mac, expected):
            raise _bad_cursor(
                "not a cursor of this daemon run (altered, cut short, or from before a restart);"
                " list again from the first page"
            )
        binding, value, torrent_id = msgspec.json.decode(body)
        if binding != query.binding():
            raise _bad_cursor(
                "this cursor belongs to a list with another order or other filters; pass the "
                "same sort and filters as the first page"
            )
        return CursorKey(value=value, torrent_id=str(torrent_id))


def _bad_cursor(message: str) -> ValidationFailed:
    return ValidationFailed([InvalidParam(pointer="/query/cursor", message=message)])


def list_page(
    catalog: TorrentCatalog, query: ListQuery
) -> tuple[list[TorrentRecord], TorrentRecord | None]:
    """One page, and its last record when another page follows (else None)."""
    _CACHE.size_for(len(catalog))
    wanted = query.limit + 1  # one more tells whether a next page exists
    if query.sort == "added_at" and not query.descending:
        records = _added_order(catalog, query, wanted)
    else:
        records = _sorted(catalog, query, wanted)
    if len(records) > query.limit:
        return records[: query.limit], records[query.limit - 1]
    return records, None


def _added_order(catalog: TorrentCatalog, query: ListQuery, wanted: int) -> list[TorrentRecord]:
    # The catalog keeps this order: no sort, and without a filter no scan.
    after = None
    if query.after is not None:
        after = (_EPOCH + _MICROSECOND * int(query.after.value), query.after.torrent_id)
    passes = _predicate(query.match)
    if passes is None:
        return catalog.page(after, wanted)
    out: list[TorrentRecord] = []
    for record in catalog.page_iter(after):
        if passes(record):
            out.append(record)
            if len(out) >= wanted:
                break
    return out


_Order = tuple[list[tuple[Any, str]], list[TorrentRecord]]


class _SortedCache:
    """The last few sorted orders, valid while the catalog does not change.

    A walk through 10,000 torrents by name then sorts once, not once per page; any change to
    the catalog (a progress update included) makes the next page sort again.
    """

    def __init__(self, size: int = 8) -> None:
        self._size = size
        self._entries: OrderedDict[
            tuple[Any, ...], tuple[list[tuple[Any, str]], list[TorrentRecord]]
        ]
        self._entries = OrderedDict()

    def order(self, catalog: TorrentCatalog, query: ListQuery) -> _Order:
        """(keys ascending, records in the same order) for ``query``'s sort and filter."""
        ident = (id(catalog), catalog.version, len(catalog), query.sort, query.match.digest())
        entry = self._entries.get(ident)
        if entry is None:
            key = SORTS[query.sort]
            keyed = sorted(
                ((key(r), r.torrent_id, r) for r in matching(catalog, query.match)), key=_sort_key
            )
            entry = ([(k, i) for k, i, _ in keyed], [r for _, _, r in keyed])
            self._entries[ident] = entry
            while len(self._entries) > self._size:
                self._entries.popitem(last=False)
        return entry


def _sort_key(keyed: tuple[Any, str, TorrentRecord]) -> tuple[Any, str]:
    # (key, id) is unique: the record itself is never compared.
    return keyed[0], keyed[1]


_ORDERS = _SortedCache()


def _sorted(catalog: TorrentCatalog, query: ListQuery, wanted: int) -> list[TorrentRecord]:
    keys, records = _ORDERS.order(catalog, query)
    mark = None if query.after is None else (query.after.value, query.after.torrent_id)
    if query.descending:
        end = len(keys) if mark is None else bisect.bisect_left(keys, mark)
        return records[max(0, end - wanted) : end][::-1]
    start = 0 if mark is None else bisect.bisect_right(keys, mark)
    return records[start : start + wanted]
