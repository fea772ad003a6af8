"""Query-string and header parameters: comma lists, ids, numbers; each problem names its field.

Pointers for parameters outside the body name where they are, as for the API key header:
``/query/limit`` for ``?limit=``, ``/headers/last-event-id`` for that header. An unknown
parameter is refused like an unknown body field: a typo (``?stat=``) must not silently list
everything.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Collection
from typing import TypeVar

from werkzeug.datastructures import MultiDict

from revaer.errors import InvalidParam, ValidationFailed, pointer

__all__ = ["MAX_LIST_ITEMS", "QueryReader", "parse_uuid", "query_pointer"]

T = TypeVar("T")

MAX_LIST_ITEMS = 1000
"""Items one comma list may hold."""
_MAX_PARAM_LENGTH = 64 * 1024


def query_pointer(name: str) -> str:
    """The pointer of query parameter ``name``."""
    return pointer("query", name)


def parse_uuid(value: str) -> str:
    """The canonical form of a UUID; ``ValueError`` when it is not one."""
    return str(uuid.UUID(value))


class QueryReader:
    """Reads parameters, collecting every problem; ``done`` raises them all at once."""

    def __init__(self, args: MultiDict[str, str], known: Collection[str]) -> None:
        self._args = args
        self.problems: list[InvalidParam] = [
            InvalidParam(
                pointer=query_pointer(name),
                message=f"unknown parameter (known: {', '.join(known)})",
            )
            for name in args
            if name not in known
        ]

    def _raw(self, name: str) -> str | None:
        values = self._args.getlist(name)
        if not values:
            return None
        if len(values) > 1:
            self.problems.append(InvalidParam(pointer=query_pointer(name), message="given twice"))
            return None
        if len(values[0]) > _MAX_PARAM_LENGTH:
            self.problems.append(
                InvalidParam(
                    pointer=query_pointer(name), message=f"over {_MAX_PARAM_LENGTH} characters"
                )
            )
            return None
        return values[0]

    def text_list(self, name: str, *, longest: int = 256) -> list[str] | None:
        """A comma list of non-empty strings, lower-cased (filters are case-insensitive)."""
        return self.items(name, lambda v: v if len(v) <= longest else _too_long(longest))

    def choices(self, name: str, allowed: Collection[str]) -> frozenset[str] | None:
        """A comma list whose items are each one of ``allowed`` (case-insensitive)."""

        def check(value: str) -> str:
            if value not in allowed:
                raise ValueError(f"{value!r} is not one of {', '.join(sorted(allowed))}")
            return value

        items = self.items(name, check)
        return None if items is None else frozenset(items)

    def uuids(self, name: str) -> frozenset[str] | None:
        """A comma list of UUIDs (canonical form)."""

        def check(value: str) -> str:
            try:
                return parse_uuid(value)
            except ValueError:
                raise ValueError(f"{value!r} is not a UUID") from None

        items = self.items(name, check)
        return None if items is None else frozenset(items)

    def items(self, name: str, parse: Callable[[str], T]) -> list[T] | None:
        """A comma list, each item lower-cased, stripped and parsed; None when absent."""
        raw = self._raw(name)
        if raw is None:
            return None
        parts = [p.strip().lower() for p in raw.split(",")]
        if len(parts) > MAX_LIST_ITEMS:
            self.problems.append(
                InvalidParam(pointer=query_pointer(name), message=f"at most {MAX_LIST_ITEMS} items")
            )
            return None
        out: list[T] = []
        for part in parts:
            if not part:
                self.problems.append(
                    InvalidParam(pointer=query_pointer(name), message="empty item")
                )
                return None
            try:
                out.append(parse(part))
            except ValueError as exc:
                self.problems.append(InvalidParam(pointer=query_pointer(name), message=str(exc)))
                return None
        return out

    def integer(self, name: str, *, low: int, high: int, default: int | None = None) -> int | None:
        """A decimal integer within ``[low, high]``."""
        raw = self._raw(name)
        if raw is None:
            return default
        return self.check_integer(query_pointer(name), raw, low=low, high=high)

    def check_integer(self, where: str, raw: str, *, low: int, high: int) -> int | None:
        """``raw`` as an integer within bounds, or a problem at ``where``."""
        text = raw.strip()
        numeric = text.isascii() and text.isdigit() and len(text) <= 20
        if not numeric or not low <= int(text) <= high:
            self.problems.append(
                InvalidParam(pointer=where, message=f"must be an integer from {low} to {high}")
            )
            return None
        return int(text)

    def text(self, name: str) -> str | None:
        """One string parameter as given."""
        return self._raw(name)

    def done(self) -> None:
        """Raise every problem found (422)."""
        if self.problems:
            raise ValidationFailed(self.problems)


def _too_long(longest: int) -> str:
    raise ValueError(f"an item is over {longest} characters")
