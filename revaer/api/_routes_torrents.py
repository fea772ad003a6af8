"""Torrent routes: add, list, inspect, select, act (one or many), and the ``/admin`` aliases."""

from __future__ import annotations

import base64
import binascii
import uuid
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlencode

import msgspec
import trio
from pydantic import ValidationError
from quart import Blueprint, Response, request

from revaer.api import _examples as ex
from revaer.api._body import (
    OFF_LOOP_BYTES,
    problems_of,
    read_form,
    read_model,
    read_object,
    validate_object,
)
from revaer.api._deps import ApiDeps
from revaer.api._listing import (
    SORTS,
    STATES,
    CursorCodec,
    ListQuery,
    TorrentMatch,
    list_page,
    matching,
)
from revaer.api._openapi import documented
from revaer.api._problem import render_problem
from revaer.api._query import QueryReader, parse_uuid
from revaer.api._views import detail, page_json
from revaer.api.schemas import (
    ACTION_MODELS,
    ActionAccepted,
    ActionRequest,
    AddAccepted,
    BulkActionRequest,
    BulkResults,
    ListParams,
    RemoveParams,
    SelectRequest,
    TorrentAddRequest,
    TorrentDetail,
    TorrentList,
    split_peer,
)
from revaer.errors import (
    InvalidParam,
    NotFound,
    RevaerError,
    ServiceUnavailable,
    ValidationFailed,
    pointer,
)
from revaer.events import TorrentRecord
from revaer.torrent import AddedTorrent, AddTorrent, Inspected
from revaer.torrent.limits import MAX_METAINFO_BYTES

__all__ = ["torrents_blueprint"]

_JSON = "application/json"
_ENCODER = msgspec.json.Encoder()
_LIST_FIELDS = ("tags", "trackers", "peers", "include", "exclude")
_BULK_CONCURRENCY = 16


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(_ENCODER.encode(body), status=status, content_type=_JSON, headers=headers)


class _Adds:
    """The add commands of one request, and where each came from (for error pointers)."""

    def __init__(self, fields: TorrentAddRequest) -> None:
        self.fields = fields
        self.commands: list[AddTorrent] = []
        self.origins: list[str] = []

    def add(self, origin: str, *, magnet: str | None = None, metainfo: bytes | None = None) -> None:
        f = self.fields
        self.commands.append(
            AddTorrent(
                magnet=magnet,
                metainfo=metainfo,
                torrent_id=f.id,
                name=f.name,
                download_dir=f.download_dir,
                sequential=f.sequential,
                paused=f.paused,
                tags=tuple(f.tags),
                trackers=tuple(f.trackers),
                include=tuple(f.include),
                exclude=tuple(f.exclude),
                skip_fluff=f.skip_fluff,
                max_download_bps=f.max_download_bps,
                max_upload_bps=f.max_upload_bps,
            )
        )
        self.origins.append(origin)


async def _metainfo(text: str) -> bytes:
    """The .torrent bytes of a base64 ``metainfo`` (a big one is decoded off the loop)."""
    if len(text) <= OFF_LOOP_BYTES:
        return _decode_metainfo(text)
    return await trio.to_thread.run_sync(_decode_metainfo, text)


def _decode_metainfo(text: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise ValidationFailed(
            [InvalidParam(pointer="/metainfo", message="not base64 (RFC 4648, with padding)")]
        ) from None


async def _read_adds() -> _Adds:
    """The add commands of a JSON or ``multipart/form-data`` request."""
    if request.mimetype == "multipart/form-data":
        upload = await read_form(_LIST_FIELDS, file_limit=MAX_METAINFO_BYTES)
        try:
            # Form fields are text: lax mode reads "true" as true and "5" as 5.
            fields = TorrentAddRequest.model_validate(upload.fields, strict=False)
        except ValidationError as exc:
            raise ValidationFailed(problems_of(exc)) from None
        adds = _Adds(fields)
        if fields.magnet is not None:
            adds.add("/magnet", magnet=fields.magnet)
        if fields.metainfo is not None:
            adds.add("/metainfo", metainfo=await _metainfo(fields.metainfo))
        for where, content in upload.files:
            adds.add(where, metainfo=content)
    else:
        fields = await read_model(TorrentAddRequest)
        adds = _Adds(fields)
        if fields.magnet is not None and fields.metainfo is not None:
            raise ValidationFailed(
                [InvalidParam(pointer="", message="give exactly one of magnet or metainfo")]
            )
        if fields.magnet is not None:
            adds.add("/magnet", magnet=fields.magnet)
        elif fields.metainfo is not None:
            adds.add("/metainfo", metainfo=await _metainfo(fields.metainfo))
    if not adds.commands:
        raise ValidationFailed(
            [InvalidParam(pointer="", message="give a magnet, a metainfo or .torrent file(s)")]
        )
    if adds.fields.id is not None and len(adds.commands) > 1:
        raise ValidationFailed(
            [InvalidParam(pointer="/id", message="an id can only be given for one torrent")]
        )
    return adds


def _moved_pointer(error: RevaerError, origin: str) -> RevaerError:
    """An engine error about ``/metainfo`` of an uploaded file points at that file instead."""
    if origin in ("/magnet", "/metainfo") or not error.invalid_params:
        return error
    if error.status != 422:
        return error
    params = []
    for p in error.invalid_params:
        moved = p.pointer
        if moved == "/metainfo" or moved.startswith("/metainfo/"):
            moved = origin + moved.removeprefix("/metainfo")
        params.append(InvalidParam(pointer=moved, message=p.message))
    return ValidationFailed(params)


def _problem_doc(error: RevaerError) -> dict[str, Any]:
    return dict(
        render_problem(
            status=error.status,
            title=error.title,
            slug=error.slug,
            detail=error.detail,
            error=error,
        )
    )


def _list_query(codec: CursorCodec) -> ListQuery:
    reader = QueryReader(request.args, ListParams.model_fields)
    limit = reader.integer("limit", low=1, high=200, default=50)
    given_sort = reader.text("sort")
    sort_raw = "added_at" if given_sort is None else given_sort.strip().lower()
    descending = sort_raw.startswith("-")
    sort = sort_raw.removeprefix("-")
    if sort not in SORTS:
        reader.problems.append(
            InvalidParam(
                pointer="/query/sort",
                message=f"{sort_raw!r} is not one of {', '.join(SORTS)} (prefix - to reverse)",
            )
        )
    match = TorrentMatch.of(
        states=reader.choices("state", STATES),
        trackers=reader.text_list("tracker", longest=2048),
        extensions=reader.text_list("extension"),
        tags=reader.text_list("tags"),
        names=reader.text_list("name"),
    )
    cursor = reader.text("cursor")
    reader.done()
    query = ListQuery(limit=limit or 50, sort=sort, descending=descending, match=match)
    if cursor is not None:
        query = ListQuery(
            limit=query.limit,
            sort=sort,
            descending=descending,
            match=match,
            after=codec.decode(query, cursor),
        )
    return query


def torrents_blueprint(deps: ApiDeps) -> Blueprint:  # noqa: PLR0915 -- the routes, each small
    """``/v1/torrents*`` and the ``/admin/torrents*`` aliases."""
    bp = Blueprint("torrents", __name__)
    codec = CursorCodec(deps.cursor_key)
    engine = deps.engine

    def record_of(torrent_id: uuid.UUID) -> TorrentRecord:
        # The route's uuid converter refused anything else (a 404 from routing).
        record = deps.catalog.get(str(torrent_id))
        if record is None:
            raise NotFound(f"no torrent {torrent_id}")
        return record

    @documented(
        role="operate",
        request=TorrentAddRequest,
        form=TorrentAddRequest,
        responses={202: AddAccepted},
        problems=(409, 503),
        response_examples={202: ex.ADDED},
    )
    async def add_torrents() -> Response:
        """Add torrents: a magnet, a base64 .torrent, or `multipart/form-data` files.

        Answers 202 once libtorrent has them, with their ids and a `Location`; follow them in
        `/v1/events`. A torrent already present is a 409 naming its id. In a multipart upload
        each `.torrent` file part is one torrent, the other fields apply to all of them, and a
        refused file is listed in `rejected` while the others are added.
        """
        adds = await _read_adds()
        results = await engine.add_many(adds.commands)
        accepted: list[AddedTorrent] = []
        rejected: list[tuple[int, RevaerError]] = []
        for index, result in enumerate(results):
            if isinstance(result, RevaerError):
                rejected.append((index, _moved_pointer(result, adds.origins[index])))
            else:
                accepted.append(result)
        if not accepted:
            raise rejected[0][1]
        for added in accepted:
            for peer in adds.fields.peers:
                await engine.connect_peer(added.torrent_id, *split_peer(peer))
        body = {
            "torrents": [
                {"torrent_id": a.torrent_id, "info_hash": a.info_hash, "name": a.name}
                for a in accepted
            ],
            "rejected": [{"index": i, "problem": _problem_doc(e)} for i, e in rejected],
        }
        return _json(body, 202, {"location": f"/v1/torrents/{accepted[0].torrent_id}"})

    @documented(
        role="read",
        query=ListParams,
        responses={200: TorrentList},
        problems=(422,),
        response_examples={200: ex.LIST},
    )
    async def list_torrents() -> Response:
        """List torrents, a page at a time, filtered and sorted.

        Filters are comma lists (any-of, case-insensitive) combined with AND: `state`,
        `tracker` (part of a tracker URL), `extension` (of any file), `tags`, `name` (part of
        the name). `sort` is `added_at` (default), `name`, `progress`, `size` or `state`,
        `-` first to reverse. Pass `next` back as `cursor` (with the same filters and sort)
        for the following page; the `Link: rel="next"` header carries the whole URL.
        """
        query = _list_query(codec)
        records, last = list_page(deps.catalog, query)
        cursor = codec.encode(query, last) if last is not None else None
        headers = {}
        if cursor is not None:
            args = [(k, v) for k, v in request.args.items(multi=True) if k != "cursor"]
            headers["link"] = (
                f'<{request.path}?{urlencode([*args, ("cursor", cursor)])}>; rel="next"'
            )
        body = page_json(records, cursor, catalog_size=len(deps.catalog))
        return Response(body, content_type=_JSON, headers=headers)

    @documented(
        role="read",
        responses={200: TorrentDetail},
        problems=(404,),
        response_examples={200: ex.DETAIL},
    )
    async def get_torrent(torrent_id: uuid.UUID) -> Response:
        """One torrent: the summary plus files, trackers, pieces, selection and FsOps status.

        Live fields (per-file progress, tracker status, pieces, connections) come from the
        engine; while it is down they are null and `live` is false.
        """
        record = record_of(torrent_id)
        inspected: Inspected | None = None
        if engine.running:
            try:
                inspected = await engine.inspect(record.torrent_id)
            except (ServiceUnavailable, NotFound):
                inspected = None  # down, restarting, busy, or just removed: show the catalog
        return _json(detail(record, inspected, deps.fsops.status(record.torrent_id)))

    @documented(
        role="operate",
        request=SelectRequest,
        responses={200: ActionAccepted},
        problems=(404, 503),
        response_examples={200: ex.ACCEPTED | {"action": "select"}},
    )
    async def select_files(torrent_id: uuid.UUID) -> Response:
        """Change the file selection: include/exclude globs, skip_fluff, per-file priorities."""
        body = await read_model(SelectRequest)
        record = record_of(torrent_id)
        priorities: dict[int, int] = {}
        problems: list[InvalidParam] = []
        for n, change in enumerate(body.priorities):
            if record.files and change.index >= len(record.files):
                problems.append(
                    InvalidParam(
                        pointer=pointer("priorities", n, "index"),
                        message=f"no file {change.index} (the torrent has {len(record.files)})",
                    )
                )
                continue
            priorities[change.index] = change.priority
        if problems:
            raise ValidationFailed(problems)
        await engine.select(
            record.torrent_id,
            include=tuple(body.include),
            exclude=tuple(body.exclude),
            skip_fluff=body.skip_fluff,
            priorities=priorities,
        )
        return _json({"torrent_id": record.torrent_id, "action": "select"})

    async def act(record: TorrentRecord, action: Any) -> None:
        tid = record.torrent_id
        match action.type:
            case "pause":
                await engine.pause(tid)
            case "resume":
                await engine.resume(tid)
            case "remove":
                await engine.remove(tid, delete_data=action.delete_data)
            case "reannounce":
                await engine.reannounce(tid)
            case "recheck":
                await engine.recheck(tid)
            case "sequential":
                await engine.set_sequential(tid, action.enable)
            case "rate":
                given = action.model_fields_set
                await engine.set_rate_limits(
                    tid,
                    download_bps=action.download_bps
                    if "download_bps" in given
                    else record.max_download_bps,
                    upload_bps=action.upload_bps
                    if "upload_bps" in given
                    else record.max_upload_bps,
                )
            case "move":
                await engine.move(tid, action.download_dir)
            case "tags":
                await engine.change_tags(
                    tid,
                    replace=None if action.set is None else tuple(action.set),
                    add=tuple(action.add),
                    remove=tuple(action.remove),
                )
            case "peers":
                for peer in action.peers:
                    await engine.connect_peer(tid, *split_peer(peer))
            case "fsops":
                await deps.fsops.request(tid)

    def parse_action(doc: dict[str, Any], prefix: Sequence[str] = ()) -> Any:
        kind = doc.get("type")
        model = ACTION_MODELS.get(kind) if isinstance(kind, str) else None
        if model is None:
            raise ValidationFailed(
                [
                    InvalidParam(
                        pointer=pointer(*prefix, "type"),
                        message=f"must be one of {', '.join(ACTION_MODELS)}",
                    )
                ]
            )
        return validate_object(model, doc, prefix)

    @documented(
        role="operate",
        request=ActionRequest,
        responses={200: ActionAccepted},
        problems=(404, 409, 503),
        request_example=ex.ACTION,
        response_examples={200: ex.ACCEPTED},
    )
    async def action(torrent_id: uuid.UUID) -> Response:
        """Act on a torrent: `type` is pause, resume, remove, reannounce, recheck,
        sequential, rate, move, tags, peers or fsops (see the body schema for each one's
        fields). `fsops` queues the post-download pipeline again (409 until it completed)."""
        parsed = parse_action(await read_object())
        record = record_of(torrent_id)
        await act(record, parsed)
        return _json({"torrent_id": record.torrent_id, "action": parsed.type})

    @documented(
        role="operate",
        request=BulkActionRequest,
        responses={200: BulkResults},
        problems=(503,),
        response_examples={200: ex.BULK},
    )
    async def bulk_action() -> Response:
        """One action for many torrents, by `ids` or by `filter`; a result per torrent."""
        doc = await read_object()
        action_doc = doc.get("action")
        if isinstance(action_doc, dict):
            parse_action(action_doc, ("action",))  # the type first: clear pointers
        body = validate_object(BulkActionRequest, doc)
        if (body.ids is None) == (body.filter is None):
            raise ValidationFailed([InvalidParam(pointer="", message="give ids or a filter")])
        if body.ids is not None:
            targets = [parse_uuid(i) for i in body.ids]
        else:
            assert body.filter is not None
            f = body.filter
            unknown = [s for s in f.state or () if s.lower() not in STATES]
            if unknown:
                raise ValidationFailed(
                    [InvalidParam(pointer="/filter/state", message=f"unknown state {unknown[0]!r}")]
                )
            match = TorrentMatch.of(
                states=f.state, trackers=f.tracker, extensions=f.extension, tags=f.tags,
                names=f.name,
            )  # fmt: skip
            targets = [r.torrent_id for r in matching(deps.catalog, match)]
        results: list[dict[str, Any] | None] = [None] * len(targets)
        limiter = trio.CapacityLimiter(_BULK_CONCURRENCY)

        async def one(index: int, torrent_id: str) -> None:
            async with limiter:
                try:
                    record = deps.catalog.get(torrent_id)
                    if record is None:
                        raise NotFound(f"no torrent {torrent_id}")
                    await act(record, body.action)
                except RevaerError as exc:
                    results[index] = {
                        "torrent_id": torrent_id, "status": exc.status,
                        "problem": _problem_doc(exc),
                    }  # fmt: skip
                else:
                    results[index] = {"torrent_id": torrent_id, "status": 200, "problem": None}

        async with trio.open_nursery() as nursery:
            for index, torrent_id in enumerate(targets):
                nursery.start_soon(one, index, torrent_id)
        return _json({"action": body.action.type, "results": results})

    @documented(
        role="operate",
        query=RemoveParams,
        responses={200: ActionAccepted},
        problems=(404, 422, 503),
        response_examples={200: ex.ACCEPTED | {"action": "remove"}},
    )
    async def admin_remove(torrent_id: uuid.UUID) -> Response:
        """Remove a torrent (`?delete_data=true` deletes its files too)."""
        record = record_of(torrent_id)
        reader = QueryReader(request.args, RemoveParams.model_fields)
        flag = (reader.text("delete_data") or "false").lower()
        if flag not in ("true", "false", "1", "0"):
            reader.problems.append(
                InvalidParam(pointer="/query/delete_data", message="must be true or false")
            )
        reader.done()
        await engine.remove(record.torrent_id, delete_data=flag in ("true", "1"))
        return _json({"torrent_id": record.torrent_id, "action": "remove"})

    bp.add_url_rule("/v1/torrents", "add", add_torrents, methods=["POST"])
    bp.add_url_rule("/v1/torrents", "list", list_torrents, methods=["GET"])
    bp.add_url_rule("/v1/torrents/actions", "bulk_action", bulk_action, methods=["POST"])
    bp.add_url_rule("/v1/torrents/<uuid:torrent_id>", "get", get_torrent, methods=["GET"])
    bp.add_url_rule(
        "/v1/torrents/<uuid:torrent_id>/select", "select", select_files, methods=["POST"]
    )
    bp.add_url_rule("/v1/torrents/<uuid:torrent_id>/action", "action", action, methods=["POST"])
    bp.add_url_rule("/admin/torrents", "admin_list", list_torrents, methods=["GET"])
    bp.add_url_rule("/admin/torrents", "admin_add", add_torrents, methods=["POST"])
    bp.add_url_rule("/admin/torrents/<uuid:torrent_id>", "admin_get", get_torrent, methods=["GET"])
    bp.add_url_rule(
        "/admin/torrents/<uuid:torrent_id>", "admin_remove", admin_remove, methods=["DELETE"]
    )
    return bp
