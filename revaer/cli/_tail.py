"""``revaer tail``: follow the event stream, reconnecting, never printing an event twice.

The id of the last event printed is kept (``--resume-file`` keeps it across runs) and sent as
``Last-Event-ID`` on every reconnect, so the daemon replays exactly what was missed; an event
whose id is not above it is skipped. A dropped connection is retried after ``--retry-secs``,
doubling to 30 s while it keeps failing.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import urlencode

import click

from revaer.api.models import API_KEY_HEADER
from revaer.cli._context import Invocation, pass_invocation
from revaer.cli._errors import InputError, RequestFailedError
from revaer.cli._http import StreamEvent
from revaer.cli._output import OutputFormat
from revaer.cli._params import SECONDS

__all__ = ["tail"]

_MAX_DELAY = 30.0
# Not events of a torrent: the stream's own notices, printed always.
_NOTICES = frozenset({"resync", "lagged"})


def _read_resume(path: Path | None) -> int | None:
    if path is None or not path.exists():
        return None
    text = path.read_text(encoding="utf-8").strip()
    if not text.isdigit():
        raise InputError(f"--resume-file {path}", "does not hold an event id")
    return int(text)


def _write_resume(path: Path, event_id: int) -> None:
    # Atomic: a crash leaves the old id or the new one, never half of one.
    scratch = path.with_name(path.name + ".tmp")
    scratch.write_text(f"{event_id}\n", encoding="utf-8")
    os.replace(scratch, path)


def _line(event: StreamEvent) -> str:
    try:
        doc = json.loads(event.data)
    except ValueError:
        return f"{event.id or '-'} {event.event} {event.data}"
    if event.event in _NOTICES:
        return f"{event.id or '-'} {event.event}: {doc.get('reason')}"
    data = doc.get("data") or {}
    brief = ", ".join(
        f"{k}={v}" for k, v in data.items() if k != "torrent_id" and not isinstance(v, list | dict)
    )
    return (
        f"{event.id} {event.event} {doc.get('torrent_id') or '-'} {doc.get('state') or '-'} {brief}"
    )


@click.command("tail")
@click.option("--torrent", "torrents", multiple=True, metavar="ID", help="Only this torrent.")
@click.option("--event", "kinds", multiple=True, metavar="KIND", help="Only this kind.")
@click.option("--state", "states", multiple=True, help="Only events of torrents in it.")
@click.option("--since", type=click.IntRange(min=0), help="Start after this event id.")
@click.option(
    "--resume-file", type=click.Path(dir_okay=False, path_type=Path),
    help="Keeps the last event id; the next run continues after it.",
)  # fmt: skip
@click.option("--retry-secs", type=SECONDS, default=1.0, show_default=True,
              help="First wait before reconnecting (doubles to 30 s).")  # fmt: skip
@click.option(
    "--retries", type=click.IntRange(min=0), default=None,
    help="Give up after this many failed reconnects in a row (default: never).",
)  # fmt: skip
@pass_invocation
def tail(
    invocation: Invocation,
    /,
    torrents: Sequence[str],
    kinds: Sequence[str],
    states: Sequence[str],
    since: int | None,
    resume_file: Path | None,
    retry_secs: float,
    retries: int | None,
) -> None:
    """Follow events as they happen (Server-Sent Events), resuming where it left off."""
    headers = {API_KEY_HEADER: invocation.require_api_key().header_value()}
    params = {
        name: ",".join(values)
        for name, values in (("torrent", torrents), ("event", kinds), ("state", states))
        if values
    }
    path = "/v1/events" + (f"?{urlencode(params)}" if params else "")
    stored = _read_resume(resume_file)
    last = stored if stored is not None else since
    failures = 0
    delay = retry_secs
    as_json = invocation.console.format is OutputFormat.JSON
    while True:
        resume = {"last-event-id": str(last)} if last is not None else {}
        try:
            with invocation.open_client() as api:
                for event in api.stream_events(path, headers=headers | resume):
                    failures, delay = 0, retry_secs
                    if event.id is not None and last is not None and event.id <= last:
                        continue  # already printed before a reconnect
                    click.echo(event.data if as_json else _line(event))
                    if event.id is not None:
                        last = event.id
                        if resume_file is not None:
                            _write_resume(resume_file, last)
                    if event.event == "lagged":
                        break  # reconnect now: the replay fills the gap
        except RequestFailedError as error:
            failures += 1
            if retries is not None and failures > retries:
                raise
            invocation.console.diagnostic(f"{error.message}; reconnecting in {delay:g} s")
            time.sleep(delay)
            delay = min(_MAX_DELAY, delay * 2)
            continue
        # The server ended the stream (it is stopping): reconnect after the first delay.
        time.sleep(retry_secs)
