"""Torrent commands: ``torrent add|remove``, ``ls``, ``status``, ``select``, ``action``.

Each maps onto one route of ``/v1/torrents`` (``ls --all`` walks the pages). Flags are
checked here first (exit 2, nothing sent); the server's Problems are shown with their pointers.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import click

from revaer.api.models import API_KEY_HEADER
from revaer.cli._context import CommandGroup, Invocation, pass_invocation
from revaer.cli._errors import InputError
from revaer.cli._output import align_columns
from revaer.cli._wire import decode_object, decode_torrent_list

__all__ = ["action", "ls", "select", "status", "torrent"]

_PRIORITIES = ("skip", "low", "normal", "high")
_MAX_TORRENT_FILE = 16 * 1024 * 1024
_STATES = (
    "queued", "checking", "fetching_metadata", "downloading", "seeding", "paused", "moving",
    "error",
)  # fmt: skip
_SORTS = ("added_at", "name", "progress", "size", "state")


def _headers(invocation: Invocation) -> dict[str, str]:
    return {API_KEY_HEADER: invocation.require_api_key().header_value()}


def _path_of(torrent_id: str) -> str:
    return "/v1/torrents/" + quote(torrent_id, safe="")


def _percent(value: object) -> str:
    return f"{float(value) * 100:5.1f}%" if isinstance(value, int | float) else "?"


@click.group(cls=CommandGroup)
def torrent() -> None:
    """Add and remove torrents (requires an API key)."""


@torrent.command("add")
@click.argument("source")
@click.option("--name", help="A label shown instead of the torrent's own name.")
@click.option("--id", "torrent_id", metavar="UUID", help="Choose the torrent's id.")
@click.option("--tag", "tags", multiple=True, help="A tag (repeat for more).")
@click.option("--tracker", "trackers", multiple=True, metavar="URL", help="An extra tracker.")
@click.option("--peer", "peers", multiple=True, metavar="ADDRESS:PORT", help="A peer to dial.")
@click.option("--download-dir", metavar="PATH", help="Absolute directory for the data.")
@click.option("--sequential/--no-sequential", default=None, help="Download in piece order.")
@click.option("--paused", is_flag=True, help="Add without starting.")
@click.option("--include", multiple=True, metavar="GLOB", help="Only files matching (repeat).")
@click.option("--exclude", multiple=True, metavar="GLOB", help="Skip files matching (repeat).")
@click.option("--skip-fluff", is_flag=True, help="Skip samples, .nfo, .txt and the like.")
@click.option("--max-download-bps", type=click.IntRange(min=0), help="Download cap, bytes/s.")
@click.option("--max-upload-bps", type=click.IntRange(min=0), help="Upload cap, bytes/s.")
@pass_invocation
def add(invocation: Invocation, /, source: str, **options: Any) -> None:
    """Add SOURCE: a magnet URI, or the path of a .torrent file."""
    body: dict[str, object] = {}
    if source.startswith("magnet:"):
        body["magnet"] = source
    else:
        body["metainfo"] = _read_torrent(source)
    renames = {"torrent_id": "id"}
    for name, value in options.items():
        if value is None or value == () or value is False:
            continue
        body[renames.get(name, name)] = list(value) if isinstance(value, tuple) else value
    headers = _headers(invocation)
    with invocation.open_client() as api:
        response = decode_object(api.request("POST", "/v1/torrents", body=body, headers=headers))
    added = response.get("torrents")
    lines = [
        f"added {t.get('torrent_id')} {t.get('name')}"
        for t in (added if isinstance(added, list) else [])
        if isinstance(t, dict)
    ]
    invocation.console.result(response, lines)


def _read_torrent(path: str) -> str:
    file = Path(path)
    try:
        size = file.stat().st_size
        if size > _MAX_TORRENT_FILE:
            raise InputError(f"SOURCE {path}", f"larger than {_MAX_TORRENT_FILE} bytes")
        data = file.read_bytes()
    except OSError as exc:
        raise InputError(
            f"SOURCE {path}", f"not a magnet and cannot be read ({exc.strerror or exc})"
        ) from None
    return base64.b64encode(data).decode()


@torrent.command("remove")
@click.argument("torrent_id", metavar="ID")
@click.option("--delete-data", is_flag=True, help="Delete the downloaded files too.")
@pass_invocation
def remove(invocation: Invocation, torrent_id: str, delete_data: bool) -> None:
    """Remove a torrent (its data stays unless --delete-data)."""
    _act(invocation, torrent_id, {"type": "remove", "delete_data": delete_data})


@click.command("ls")
@click.option("--limit", type=click.IntRange(1, 200), default=50, show_default=True)
@click.option("--cursor", help="The 'next' cursor of the previous page.")
@click.option("--state", help=f"Comma list of states ({', '.join(_STATES)}).")
@click.option("--tracker", help="Comma list of parts of tracker URLs.")
@click.option("--extension", help="Comma list of file extensions.")
@click.option("--tags", help="Comma list of tags (any of them).")
@click.option("--name", help="Comma list of parts of names.")
@click.option("--sort", help=f"One of {', '.join(_SORTS)}; prefix - to reverse.")
@click.option("--all", "walk", is_flag=True, help="Follow every page to the end.")
@pass_invocation
def ls(invocation: Invocation, /, walk: bool, **options: Any) -> None:
    """List torrents (a page, or every page with --all)."""
    sort = options.get("sort")
    if sort is not None and sort.removeprefix("-") not in _SORTS:
        raise InputError("--sort", f"must be one of {', '.join(_SORTS)} (prefix - to reverse)")
    params = {k: str(v) for k, v in options.items() if v is not None}
    headers = _headers(invocation)
    torrents: list[dict[str, object]] = []
    next_cursor: str | None = None
    with invocation.open_client() as api:
        while True:
            page = decode_torrent_list(
                api.request("GET", "/v1/torrents?" + urlencode(params), headers=headers)
            )
            torrents.extend(page["torrents"])
            next_cursor = page["next"]
            if not walk or next_cursor is None:
                break
            params["cursor"] = next_cursor
    rows = [
        [str(t.get("torrent_id")), str(t.get("state")), _percent(t.get("progress")),
         str(t.get("name"))]
        for t in torrents
    ]  # fmt: skip
    lines = align_columns(["ID", "STATE", "PROGRESS", "NAME"], rows)
    if next_cursor is not None:
        lines.append(f"next: {next_cursor}  (revaer ls --cursor ... for the next page)")
    invocation.console.result({"torrents": torrents, "next": next_cursor}, lines)


@click.command("status")
@click.argument("torrent_id", metavar="ID")
@pass_invocation
def status(invocation: Invocation, torrent_id: str) -> None:
    """Show one torrent: state, progress, files, trackers, its post-download job (follow it:
    tail --torrent ID)."""
    with invocation.open_client() as api:
        detail = decode_object(
            api.request("GET", _path_of(torrent_id), headers=_headers(invocation))
        )
    lines = [
        f"{detail.get('name')}  ({detail.get('torrent_id')})",
        f"state: {detail.get('state')}  progress: {_percent(detail.get('progress'))}"
        f"  down {detail.get('download_bps')} B/s  up {detail.get('upload_bps')} B/s"
        f"  peers {detail.get('peers')}  seeds {detail.get('seeds')}",
        f"download_dir: {detail.get('download_dir')}  tags: {detail.get('tags')}",
    ]
    files = detail.get("files")
    if isinstance(files, list) and files:
        lines.append("files:")
        lines.extend(
            f"  {f.get('index')}  p{f.get('priority')}  {_percent(f.get('progress'))}  "
            f"{f.get('path')}"
            for f in files
            if isinstance(f, dict)
        )
    trackers = detail.get("tracker_status")
    if isinstance(trackers, list) and trackers:
        lines.append("trackers:")
        lines.extend(
            f"  {t.get('status')}  {t.get('url')}"
            + (f"  ({t['message']})" if t.get("message") else "")
            for t in trackers
            if isinstance(t, dict)
        )
    if detail.get("last_error"):
        lines.append(f"last error: {detail['last_error']}")
    lines.extend(_fsops_lines(detail.get("fsops")))
    invocation.console.result(detail, lines)


def _fsops_lines(job: object) -> list[str]:
    """The post-download pipeline's job, if the torrent has one."""
    if not isinstance(job, dict):
        return []
    head = f"fsops: {job.get('state')}"
    if job.get("step") and job.get("state") in ("running", "failed"):
        head += f" in {job['step']}"
    if job.get("library_path"):
        head += f"  → {job['library_path']}"
    lines = [head]
    stages = job.get("stages")
    if isinstance(stages, list):
        lines.append(
            "  "
            + "  ".join(f"{s.get('name')}:{s.get('status')}" for s in stages if isinstance(s, dict))
        )
    if job.get("error"):
        where = job.get("error_member") or job.get("error_path")
        lines.append(f"  error: {job['error']}" + (f" ({where})" if where else ""))
    return lines


def _priority(value: str) -> tuple[int, object]:
    index, sep, priority = value.partition("=")
    if not sep or not index.strip().isdigit():
        raise InputError("--priority", f"{value!r} is not INDEX=PRIORITY (e.g. 0=high)")
    name = priority.strip().lower()
    if name in _PRIORITIES:
        return int(index), name
    if name.isdigit() and 0 <= int(name) <= 7:
        return int(index), int(name)
    raise InputError("--priority", f"{priority!r} is not skip, low, normal, high or 0-7")


@click.command("select")
@click.argument("torrent_id", metavar="ID")
@click.option("--include", multiple=True, metavar="GLOB", help="Only files matching (repeat).")
@click.option("--exclude", multiple=True, metavar="GLOB", help="Skip files matching (repeat).")
@click.option("--skip-fluff", is_flag=True, help="Skip samples, .nfo, .txt and the like.")
@click.option(
    "--priority", "priorities", multiple=True, metavar="INDEX=PRIORITY",
    help="A file's priority: skip, low, normal, high or 0-7 (repeat).",
)  # fmt: skip
@pass_invocation
def select(
    invocation: Invocation,
    torrent_id: str,
    include: Sequence[str],
    exclude: Sequence[str],
    skip_fluff: bool,
    priorities: Sequence[str],
) -> None:
    """Change which files of a torrent are downloaded, and their priorities."""
    body = {
        "include": list(include),
        "exclude": list(exclude),
        "skip_fluff": skip_fluff,
        "priorities": [
            {"index": index, "priority": priority}
            for index, priority in (_priority(p) for p in priorities)
        ],
    }
    with invocation.open_client() as api:
        response = decode_object(
            api.request(
                "POST", _path_of(torrent_id) + "/select", body=body, headers=_headers(invocation)
            )
        )
    invocation.console.result(response, [f"selection changed for {torrent_id}"])


_ACTIONS = ("pause", "resume", "remove", "reannounce", "recheck", "sequential", "rate", "move",
            "tags", "peers", "fsops")  # fmt: skip


def _rate(value: str | None, flag: str) -> int | None:
    if value in (None, "none", "null"):
        return None
    assert value is not None
    if not value.isdigit():
        raise InputError(flag, f"{value!r} is not a number of bytes/s or 'none'")
    return int(value)


@click.command("action")
@click.argument("torrent_id", metavar="ID")
@click.argument("kind", metavar="TYPE", type=click.Choice(_ACTIONS))
@click.option("--delete-data", is_flag=True, help="remove: delete the files too.")
@click.option("--enable/--disable", default=None, help="sequential: on or off.")
@click.option("--download-bps", metavar="N|none", help="rate: download cap (none: no cap).")
@click.option("--upload-bps", metavar="N|none", help="rate: upload cap (none: no cap).")
@click.option("--download-dir", metavar="PATH", help="move: the new directory.")
@click.option("--set-tag", "set_tags", multiple=True, help="tags: replace the tags (repeat).")
@click.option("--add-tag", "add_tags", multiple=True, help="tags: add a tag (repeat).")
@click.option("--remove-tag", "remove_tags", multiple=True, help="tags: drop a tag (repeat).")
@click.option("--peer", "peers", multiple=True, metavar="ADDRESS:PORT", help="peers: dial.")
@pass_invocation
def action(invocation: Invocation, /, torrent_id: str, kind: str, **o: Any) -> None:
    """Act on a torrent: TYPE is pause, resume, remove, reannounce, recheck, sequential,
    rate, move, tags, peers, or fsops (run the post-download pipeline again)."""
    _act(invocation, torrent_id, _action_body(kind, o))


def _action_body(kind: str, o: dict[str, Any]) -> dict[str, object]:  # noqa: PLR0912 -- a branch per type
    body: dict[str, object] = {"type": kind}
    if kind == "remove":
        body["delete_data"] = o["delete_data"]
    elif kind == "sequential":
        if o["enable"] is None:
            raise InputError("--enable/--disable", "required for sequential")
        body["enable"] = o["enable"]
    elif kind == "rate":
        if o["download_bps"] is None and o["upload_bps"] is None:
            raise InputError("--download-bps/--upload-bps", "give at least one for rate")
        if o["download_bps"] is not None:
            body["download_bps"] = _rate(o["download_bps"], "--download-bps")
        if o["upload_bps"] is not None:
            body["upload_bps"] = _rate(o["upload_bps"], "--upload-bps")
    elif kind == "move":
        if not o["download_dir"]:
            raise InputError("--download-dir", "required for move")
        body["download_dir"] = o["download_dir"]
    elif kind == "tags":
        if o["set_tags"]:
            body["set"] = list(o["set_tags"])
        body["add"] = list(o["add_tags"])
        body["remove"] = list(o["remove_tags"])
    elif kind == "peers":
        if not o["peers"]:
            raise InputError("--peer", "required for peers")
        body["peers"] = list(o["peers"])
    return body


def _act(invocation: Invocation, torrent_id: str, body: dict[str, object]) -> None:
    with invocation.open_client() as api:
        response = decode_object(
            api.request(
                "POST", _path_of(torrent_id) + "/action", body=body, headers=_headers(invocation)
            )
        )
    invocation.console.result(response, [f"{body['type']}: done for {torrent_id}"])
