"""The torrent API's wire shapes as pydantic models: they validate requests and make the OpenAPI.

Every request model is strict (``1`` is not ``true``, ``"1"`` is not ``1``) and refuses unknown
fields; a failure becomes a 422 Problem whose ``invalid_params`` point into the body. Response
models are what the OpenAPI document shows; the hot list path encodes plain dicts of the same
shape with msgspec.
"""

from __future__ import annotations

import ipaddress
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    RootModel,
    StringConstraints,
    model_validator,
)

from revaer.torrent import PRIORITY_NAMES, control_character
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

__all__ = [
    "ACTION_MODELS",
    "MAX_PEERS",
    "ActionAccepted",
    "ActionRequest",
    "AddAccepted",
    "AddedItem",
    "BulkActionRequest",
    "BulkActionResult",
    "BulkResults",
    "EventHeaders",
    "EventParams",
    "FileDetail",
    "FsopsAction",
    "FsopsStage",
    "FsopsStatus",
    "ListParams",
    "Pieces",
    "PriorityChange",
    "Problem",
    "RejectedItem",
    "RemoveParams",
    "SelectRequest",
    "Selection",
    "TorrentAddRequest",
    "TorrentDetail",
    "TorrentFilter",
    "TorrentList",
    "TorrentSummary",
    "TrackerDetail",
    "split_peer",
]

MAX_PEERS = 64
"""``host:port`` peers one request may ask to dial."""
_UUID = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
# Base64 of the largest .torrent accepted, with padding.
_MAX_METAINFO_B64 = (MAX_METAINFO_BYTES + 2) // 3 * 4


def _printable(value: str) -> str:
    problem = control_character(value)
    if problem is not None:
        raise ValueError(problem)
    return value


Clean = AfterValidator(_printable)
"""No control characters (NUL, newlines, escapes): they would reach logs, files and PostgreSQL."""

Base64Torrent = Annotated[str, StringConstraints(min_length=1, max_length=_MAX_METAINFO_B64)]
Uuid = Annotated[str, StringConstraints(pattern=_UUID)]
Tag = Annotated[str, StringConstraints(min_length=1, max_length=MAX_TAG_LENGTH), Clean]
Tracker = Annotated[str, StringConstraints(min_length=1, max_length=MAX_TRACKER_LENGTH), Clean]
Glob = Annotated[str, StringConstraints(min_length=1, max_length=MAX_GLOB_LENGTH), Clean]
Path = Annotated[str, StringConstraints(min_length=1, max_length=MAX_PATH_LENGTH), Clean]
Name = Annotated[str, StringConstraints(min_length=1, max_length=MAX_NAME_LENGTH), Clean]
Magnet = Annotated[str, StringConstraints(min_length=1, max_length=MAX_MAGNET_LENGTH), Clean]


def split_peer(value: str) -> tuple[str, int]:
    """``address:port`` (IPv6 in brackets) as (address, port)."""
    host, _, port = value.rpartition(":")
    return host.strip("[]"), int(port)


def _peer(value: str) -> str:
    host, port = split_peer(value)
    try:
        ipaddress.ip_address(host)
    except ValueError:
        raise ValueError(
            "must be address:port with an IP address (no names are resolved)"
        ) from None
    if not 1 <= port <= 65535:
        raise ValueError("its port must be 1 to 65535")
    return value


Peer = Annotated[
    str,
    StringConstraints(max_length=64, pattern=r"^(\[[0-9A-Fa-f:.]+\]|[0-9.]+):[0-9]{1,5}$"),
    AfterValidator(_peer),
    Field(description="`address:port` (IPv6 in brackets); no names are resolved."),
]
Rate = Annotated[
    int, Field(ge=0, le=MAX_RATE_BPS, description="Bytes per second; 0 or null: no cap.")
]


def _priority(value: object) -> object:
    # A name becomes its number before the integer check (strict mode takes no strings).
    if isinstance(value, str):
        if value not in PRIORITY_NAMES:
            raise ValueError(f"must be one of {', '.join(PRIORITY_NAMES)} or 0 to 7")
        return PRIORITY_NAMES[value]
    return value


Priority = Annotated[
    int,
    BeforeValidator(
        _priority, json_schema_input_type=int | Literal["skip", "low", "normal", "high"]
    ),
    Field(ge=0, le=7),
]


class _Strict(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", allow_inf_nan=False)


class TorrentAddRequest(_Strict):
    """Add a torrent: exactly one of `magnet` or `metainfo`, plus optional settings."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "magnet": "magnet:?xt=urn:btih:c9e15763f722f23e98a29decdfae341b98d53056",
                    "tags": ["linux"],
                    "download_dir": "/srv/revaer/downloads",
                    "include": ["*.iso"],
                    "max_download_bps": 10485760,
                }
            ]
        }
    )

    magnet: Magnet | None = Field(default=None, description="A `magnet:?xt=urn:bti[hm]:…` URI.")
    metainfo: (
        Annotated[str, StringConstraints(min_length=1, max_length=_MAX_METAINFO_B64)] | None
    ) = Field(default=None, description="The .torrent file, base64-encoded.")
    name: Name | None = Field(
        default=None, description="A label shown instead of the torrent's own name."
    )
    id: Uuid | None = Field(default=None, description="Choose the torrent's id (a UUID).")
    tags: list[Tag] = Field(default_factory=list, max_length=MAX_TAGS)
    trackers: list[Tracker] = Field(
        default_factory=list, max_length=MAX_TRACKERS, description="Extra tracker URLs."
    )
    peers: list[Peer] = Field(
        default_factory=list, max_length=MAX_PEERS, description="Peers to dial at once."
    )
    download_dir: Path | None = Field(
        default=None, description="Absolute directory; default: the engine's download_root."
    )
    sequential: bool | None = Field(
        default=None, description="Download in order; default: engine_profile.sequential_default."
    )
    paused: bool = Field(default=False, description="Add without starting.")
    include: list[Glob] = Field(default_factory=list, max_length=MAX_GLOBS)
    exclude: list[Glob] = Field(default_factory=list, max_length=MAX_GLOBS)
    skip_fluff: bool = Field(default=False, description="Skip samples, .nfo, .txt and the like.")
    max_download_bps: Rate | None = None
    max_upload_bps: Rate | None = None


class PriorityChange(_Strict):
    """One file's priority: a name or 0 (skip) to 7 (top)."""

    index: int = Field(ge=0, le=10_000_000)
    priority: Priority = Field(
        description="`skip`, `low`, `normal`, `high` or 0–7 "
        f"({', '.join(f'{k}={v}' for k, v in PRIORITY_NAMES.items())})."
    )


class SelectRequest(_Strict):
    """New file selection: globs, fluff skipping, and per-file priorities by index."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "include": ["*.mkv"],
                    "skip_fluff": True,
                    "priorities": [{"index": 0, "priority": "high"}],
                }
            ]
        }
    )

    include: list[Glob] = Field(default_factory=list, max_length=MAX_GLOBS)
    exclude: list[Glob] = Field(default_factory=list, max_length=MAX_GLOBS)
    skip_fluff: bool = False
    priorities: list[PriorityChange] = Field(default_factory=list, max_length=100_000)


class PauseAction(_Strict):
    """Stop transferring."""

    type: Literal["pause"]


class ResumeAction(_Strict):
    """Transfer again."""

    type: Literal["resume"]


class RemoveAction(_Strict):
    """Remove the torrent; `delete_data` deletes its downloaded files too."""

    type: Literal["remove"]
    delete_data: bool = False


class ReannounceAction(_Strict):
    """Announce to every tracker now."""

    type: Literal["reannounce"]


class RecheckAction(_Strict):
    """Verify the data on disk again."""

    type: Literal["recheck"]


class SequentialAction(_Strict):
    """Download in piece order, or not."""

    type: Literal["sequential"]
    enable: bool


class RateAction(_Strict):
    """Per-torrent caps; a field left out stays as it is, null removes the cap."""

    type: Literal["rate"]
    download_bps: Rate | None = None
    upload_bps: Rate | None = None


class MoveAction(_Strict):
    """Move the data to another absolute directory (confirmed by `torrent_updated`)."""

    type: Literal["move"]
    download_dir: Path


class TagsAction(_Strict):
    """Replace the tags (`set`), then `add` and `remove` some."""

    type: Literal["tags"]
    set: list[Tag] | None = Field(default=None, max_length=MAX_TAGS)
    add: list[Tag] = Field(default_factory=list, max_length=MAX_TAGS)
    remove: list[Tag] = Field(default_factory=list, max_length=MAX_TAGS)


class FsopsAction(_Strict):
    """Run the post-download pipeline again, every stage (e.g. after changing `fs_policy`)."""

    type: Literal["fsops"]


class PeersAction(_Strict):
    """Dial peers now (`address:port`)."""

    type: Literal["peers"]
    peers: list[Peer] = Field(min_length=1, max_length=MAX_PEERS)


Action = Annotated[
    PauseAction
    | ResumeAction
    | RemoveAction
    | ReannounceAction
    | RecheckAction
    | SequentialAction
    | RateAction
    | MoveAction
    | TagsAction
    | PeersAction
    | FsopsAction,
    Field(discriminator="type"),
]
ACTION_MODELS: dict[str, type[_Strict]] = {
    model.model_fields["type"].annotation.__args__[0]: model  # type: ignore[union-attr]
    for model in (
        PauseAction, ResumeAction, RemoveAction, ReannounceAction, RecheckAction,
        SequentialAction, RateAction, MoveAction, TagsAction, PeersAction, FsopsAction,
    )
}  # fmt: skip
"""Each action's model by its ``type``."""


FilterItem = Annotated[str, StringConstraints(min_length=1, max_length=2048), Clean]


class TorrentFilter(_Strict):
    """Which torrents: every list is any-of, case-insensitive; fields combine with AND.

    At least one field must be given: an action on every torrent needs their ids.
    """

    state: list[FilterItem] | None = Field(default=None, min_length=1, max_length=16)
    tracker: list[FilterItem] | None = Field(default=None, min_length=1, max_length=64)
    extension: list[FilterItem] | None = Field(default=None, min_length=1, max_length=64)
    tags: list[FilterItem] | None = Field(default=None, min_length=1, max_length=64)
    name: list[FilterItem] | None = Field(default=None, min_length=1, max_length=64)

    @model_validator(mode="after")
    def _something(self) -> TorrentFilter:
        if all(v is None for v in (self.state, self.tracker, self.extension, self.tags, self.name)):
            raise ValueError("give at least one of state, tracker, extension, tags, name")
        return self


class BulkActionRequest(_Strict):
    """One action for many torrents: by `ids`, or by a `filter` (exactly one)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"filter": {"state": ["seeding"]}, "action": {"type": "pause"}}]
        }
    )

    ids: list[Uuid] | None = Field(default=None, min_length=1, max_length=10_000)
    filter: TorrentFilter | None = None
    action: Action


class Problem(BaseModel):
    """RFC 9457 problem details; `invalid_params` point into the request."""

    type: str
    title: str
    status: int
    detail: str
    instance: str | None = None
    request_id: str | None = None
    invalid_params: list[dict[str, str]] | None = None


class AddedItem(BaseModel):
    """A torrent the request added."""

    torrent_id: str
    info_hash: str
    name: str


class RejectedItem(BaseModel):
    """An item of a multi-file upload that was refused (the others were added)."""

    index: int
    problem: Problem


class AddAccepted(BaseModel):
    """Accepted: the torrents are in the session; follow them in `/v1/events`."""

    torrents: list[AddedItem]
    rejected: list[RejectedItem] = Field(default_factory=list)


class ActionAccepted(BaseModel):
    """The action was stored and handed to libtorrent; events show its effect."""

    torrent_id: str
    action: str


class BulkActionResult(BaseModel):
    """One torrent's outcome in a bulk action."""

    torrent_id: str
    status: int
    problem: Problem | None = None


class BulkResults(BaseModel):
    """Per-torrent outcomes, in request (or list) order."""

    action: str
    results: list[BulkActionResult]


class TorrentSummary(BaseModel):
    """A torrent as lists show it. Sizes in bytes, rates in bytes/s, times RFC 3339."""

    torrent_id: str
    info_hash: str
    name: str
    state: str
    progress: float
    bytes_done: int
    bytes_total: int
    download_bps: int
    upload_bps: int
    eta_seconds: int | None
    peers: int
    seeds: int
    ratio: float
    tags: list[str]
    trackers: list[str]
    download_dir: str
    sequential: bool
    max_download_bps: int | None
    max_upload_bps: int | None
    added_at: str
    completed_at: str | None
    last_error: str | None


class TorrentList(BaseModel):
    """One page; `next` is the cursor of the following page (also in `Link: rel="next"`)."""

    torrents: list[TorrentSummary]
    next: str | None


class FileDetail(BaseModel):
    """One file: its index, path under the download directory, priority 0-7, bytes done."""

    index: int
    path: str
    size: int
    priority: int
    progress: float
    bytes_done: int | None


class TrackerDetail(BaseModel):
    """A tracker and what its last announce did (`unknown` while the engine is down)."""

    url: str
    tier: int | None
    status: Literal["working", "updating", "error", "not_contacted", "unknown"]
    message: str | None
    seeds: int | None
    peers: int | None


class Pieces(BaseModel):
    """Piece counts (null before metadata)."""

    total: int
    done: int
    length: int


class Selection(BaseModel):
    """The stored selection rules."""

    include: list[str]
    exclude: list[str]
    skip_fluff: bool


class FsopsStage(BaseModel):
    """One pipeline stage and where the job is with it."""

    name: str = Field(description="validate, par2, extract, flatten, transfer, permissions, ...")
    status: Literal["pending", "running", "done", "skipped", "failed"]
    at: str | None = Field(description="When it finished (RFC 3339).")
    detail: str | None = Field(description="Why it was skipped, or why it failed.")


class FsopsStatus(BaseModel):
    """The post-download pipeline's job (null until the torrent completes)."""

    state: Literal["queued", "running", "completed", "failed", "skipped"]
    step: str | None = Field(description="The stage running, or the one that failed.")
    stages: list[FsopsStage] = Field(description="Every stage, in order, with its status.")
    attempts: int
    library_path: str | None = Field(description="The payload's folder in the library.")
    manifest: str | None = Field(description="The sha256 manifest (`sha256sum -c` format).")
    queued_at: str | None
    started_at: str | None
    finished_at: str | None
    error: str | None
    error_member: str | None = Field(description="The archive member the job failed on.")
    error_path: str | None = Field(description="The file the job failed on.")


class TorrentDetail(TorrentSummary):
    """The summary plus files, trackers, pieces, connections, selection and FsOps."""

    files: list[FileDetail]
    tracker_status: list[TrackerDetail]
    pieces: Pieces | None
    connections: int | None
    selection: Selection | None
    paused: bool | None
    fsops: FsopsStatus | None
    live: bool = Field(description="Whether the engine answered (else live fields are null).")


class ActionRequest(RootModel[Action]):
    """An action on one torrent; `type` selects the fields."""


class ListParams(BaseModel):
    """Query parameters of the torrent list (comma lists are any-of, case-insensitive)."""

    limit: int | None = Field(default=None, ge=1, le=200, description="Page size (default 50).")
    cursor: str | None = Field(default=None, description="`next` of the previous page.")
    sort: (
        Literal[
            "added_at", "-added_at", "name", "-name", "progress", "-progress", "size", "-size",
            "state", "-state",
        ]
        | None
    ) = Field(default=None, description="Order (default `added_at`); `-` reverses.")  # fmt: skip
    state: str | None = Field(default=None, description="States, e.g. `downloading,seeding`.")
    tracker: str | None = Field(default=None, description="Parts of tracker URLs.")
    extension: str | None = Field(default=None, description="File extensions, e.g. `mkv,iso`.")
    tags: str | None = Field(default=None, description="Tags (any of them).")
    name: str | None = Field(default=None, description="Parts of the name.")


class EventParams(BaseModel):
    """Query parameters of the event stream (comma lists, case-insensitive)."""

    torrent: str | None = Field(default=None, description="Torrent ids (UUIDs).")
    event: str | None = Field(default=None, description="Event kinds, e.g. `state_changed`.")
    state: str | None = Field(default=None, description="Torrent states the events carry.")
    since: int | None = Field(
        default=None, ge=0, description="Replay after this id (like `Last-Event-ID`)."
    )


class EventHeaders(BaseModel):
    """Headers of the event stream."""

    last_event_id: int | None = Field(
        default=None, ge=0, description="Replay the events after this id (`id:` of the last seen)."
    )


class RemoveParams(BaseModel):
    """Query parameters of `DELETE /admin/torrents/{torrent_id}`."""

    delete_data: bool | None = Field(default=None, description="Delete the downloaded files.")
