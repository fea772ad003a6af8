"""The request id a command is sent under: bound while the session handles it, on its events."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from revaer.events import Event, StateChanged
from revaer.runtime import bound_request_id
from revaer.torrent import AddTorrent
from tests.torrent.engine_harness import RunningEngine, running_engine, tiny_metainfo

if TYPE_CHECKING:
    from loguru import Record

pytestmark = pytest.mark.integration


def session_lines(records: list[Record], request_id: str) -> list[str]:
    return [
        r["message"]
        for r in records
        if r["extra"].get("actor") == "session" and r["extra"].get("request_id") == request_id
    ]


def states(run: RunningEngine, torrent_id: str) -> list[tuple[str, str | None]]:
    """The torrent's published states, each with the request id it carried."""
    return [
        (e.payload.state, e.request_id)
        for e in run.log.of(torrent_id)
        if isinstance(e.payload, StateChanged)
    ]


async def test_an_add_and_what_libtorrent_reports_of_it_carry_the_request_id(
    tmp_path: Path, log_records: list[Record]
) -> None:
    async with running_engine(tmp_path / "e") as run:
        with bound_request_id("trace-add"):
            added = await run.engine.handle.add(AddTorrent(metainfo=tiny_metainfo(0)))
        tid = added.torrent_id
        torrent_added = await run.log.wait_for("torrent_added", tid)
        files = await run.log.wait_for("files_discovered", tid)
        first = await run.log.wait_for("state_changed", tid)
        assert (torrent_added.request_id, files.request_id) == ("trace-add", "trace-add")
        # Its first state is the add's doing; later ones are libtorrent's own.
        assert first.request_id == "trace-add"
        await run.log.wait_for("state_changed", tid, where=lambda p: p.state == "downloading")
        assert all(rid is None for _, rid in states(run, tid)[1:]), states(run, tid)
        assert any("PreparedAdds" in m for m in session_lines(log_records, "trace-add"))

        # Added paused, two in one command: each add's events carry the one id.
        with bound_request_id("trace-bulk"):
            bulk = await run.engine.handle.add_many(
                [AddTorrent(metainfo=tiny_metainfo(n), paused=True) for n in (1, 2)]
            )
        for item in bulk:
            assert not isinstance(item, Exception)
            await run.log.wait_for("state_changed", item.torrent_id)
            assert states(run, item.torrent_id) == [("paused", "trace-bulk")]
            (event,) = run.log.of(item.torrent_id, "torrent_added")
            assert event.request_id == "trace-bulk"


async def test_pause_and_resume_states_carry_the_id_of_the_action_that_caused_them(
    tmp_path: Path, log_records: list[Record]
) -> None:
    async with running_engine(tmp_path / "e") as run:
        handle = run.engine.handle
        tid = (await handle.add(AddTorrent(metainfo=tiny_metainfo(0)))).torrent_id
        await run.log.wait_for("state_changed", tid, where=lambda p: p.state == "downloading")

        with bound_request_id("trace-pause"):
            await handle.pause(tid)
        paused = await run.log.wait_for("state_changed", tid, where=lambda p: p.state == "paused")
        assert paused.request_id == "trace-pause"
        updated = run.log.of(tid, "torrent_updated")[-1]
        assert updated.request_id == "trace-pause"  # published while the command ran

        with bound_request_id("trace-resume"):
            await handle.resume(tid)
        resumed = await run.log.wait_for(
            "state_changed", tid, where=lambda p: p.previous == "paused"
        )
        assert resumed.request_id == "trace-resume"

        # The actor does not keep an id past its command: an unbound one publishes none.
        seen = len(run.log.events)
        await handle.set_sequential(tid, True)
        await run.log.wait_beyond(seen)
        after: list[Event] = run.log.events[seen:]
        assert [(e.kind, e.request_id) for e in after] == [("torrent_updated", None)]

        # Resuming a running torrent changes no state: its id is not left for a later change.
        with bound_request_id("trace-noop"):
            await handle.resume(tid)
        await handle.recheck(tid)
        checking = await run.log.wait_for(
            "state_changed", tid, where=lambda p: p.state == "checking"
        )
        assert checking.request_id is None

        assert any("PauseTorrent" in m for m in session_lines(log_records, "trace-pause"))
        assert any("ResumeTorrent" in m for m in session_lines(log_records, "trace-resume"))
