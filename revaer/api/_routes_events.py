"""``GET /v1/events`` (alias ``/v1/torrents/events``): the Server-Sent Events stream."""

from __future__ import annotations

from functools import partial

from quart import Blueprint, Response, request

from revaer.api._deps import ApiDeps
from revaer.api._openapi import documented
from revaer.api._query import QueryReader
from revaer.api._sse import StreamSettings, event_stream
from revaer.api.models import API_KEY_HEADER
from revaer.api.schemas import EventHeaders, EventParams
from revaer.events import EVENT_KINDS, EventFilter, TorrentState

__all__ = ["LAST_EVENT_ID", "events_blueprint", "stream_request"]

LAST_EVENT_ID = "Last-Event-ID"
_MAX_ID = 2**63 - 1
_STATES = frozenset(s.value for s in TorrentState)


def stream_request() -> tuple[EventFilter, int | None]:
    """The filters and the id to replay after, from the query and ``Last-Event-ID``."""
    reader = QueryReader(request.args, EventParams.model_fields)
    wanted = EventFilter(
        torrents=reader.uuids("torrent"),
        kinds=reader.choices("event", EVENT_KINDS),
        states=reader.choices("state", _STATES),
    )
    after: int | None = None
    header = request.headers.get(LAST_EVENT_ID)
    if header is not None and header.strip():
        # The header wins over ?since=: it is what a reconnecting EventSource sends.
        after = reader.check_integer("/headers/last-event-id", header, low=0, high=_MAX_ID)
    else:
        after = reader.integer("since", low=0, high=_MAX_ID)
    reader.done()
    return wanted, after


def events_blueprint(deps: ApiDeps) -> Blueprint:
    """The event stream routes."""
    bp = Blueprint("events", __name__)

    @documented(
        role="read",
        query=EventParams,
        headers=EventHeaders,
        responses={200: None},
        stream=True,
        problems=(422,),
    )
    async def events() -> Response:
        """Stream events (Server-Sent Events), replaying from ``Last-Event-ID``.

        Frames are `id:`/`event:`/`data:`; a `retry:` hint comes first and a `: keep-alive`
        comment every `app_profile.events.keepalive_seconds` (20 s) when idle. A client
        reconnecting with `Last-Event-ID` (or `?since=`) first gets exactly the events it
        missed that match its filters, then live ones. An id older than the journal keeps
        gets a `resync` event: re-list, then follow. A client that stops reading is dropped
        with a final `lagged` event.
        """
        wanted, after = stream_request()
        events_settings = deps.snapshots.value.app_profile.get("events") or {}
        settings = StreamSettings(
            keepalive_seconds=float(events_settings.get("keepalive_seconds", 20)),
            queue_size=int(events_settings.get("stream_queue", deps.sse_queue_size)),
        )
        body = event_stream(
            bus=deps.bus,
            journal=deps.journal,
            db=deps.config.db,
            hub=deps.streams,
            wanted=wanted,
            after=after,
            settings=settings,
            allowed=partial(deps.verifier.still_valid, request.headers.get(API_KEY_HEADER, "")),
        )
        response = Response(
            body,
            200,
            {"cache-control": "no-cache", "x-accel-buffering": "no"},
            content_type="text/event-stream",
        )
        response.timeout = None  # a stream has no end to wait for
        return response

    bp.add_url_rule("/v1/events", "events", events, methods=["GET"])
    bp.add_url_rule("/v1/torrents/events", "torrent_events", events, methods=["GET"])
    return bp
