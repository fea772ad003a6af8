"""ProgressCoalescer: latest status wins, one progress event per torrent per interval."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from revaer.events import EventBus, Progress, Publisher
from revaer.torrent._coalescer import ProgressCoalescer
from revaer.torrent._records import StatusRecord

A = "00000000-0000-4000-8000-00000000000a"
B = "00000000-0000-4000-8000-00000000000b"


def status(done: int, **changes: Any) -> StatusRecord:
    base = StatusRecord(
        ref=None,  # type: ignore[arg-type]  # never looked at by the coalescer
        lt_state="downloading", paused=False, auto_managed=False, has_metadata=True,
        is_finished=False, is_seeding=False, moving_storage=False, total_done=done,
        total_wanted=1000, download_rate=100, upload_rate=0, num_peers=1, num_seeds=1,
        all_time_download=done, all_time_upload=0, session_download=done, error=None,
        save_path="/x", sequential=False, need_save_resume=False,
    )  # fmt: skip
    return replace(base, **changes)


def published(bus: EventBus) -> list[tuple[str, int]]:
    return [(e.payload.torrent_id, e.payload.bytes_done) for e in bus.events]  # type: ignore[attr-defined]


class RecordingBus(EventBus):
    def __init__(self) -> None:
        super().__init__()
        self.events: list[Any] = []

    def deliver(self, event: Any) -> Any:
        self.events.append(event)
        return super().deliver(event)


def test_latest_wins_and_each_torrent_is_rate_limited() -> None:
    bus = RecordingBus()
    coalescer = ProgressCoalescer(publisher=Publisher(bus), interval=0.1)
    live = {A, B}
    coalescer.offer([(A, status(10)), (B, status(5))])
    coalescer.offer([(A, status(20))])  # replaces A's waiting status
    coalescer.flush(1.00, live)
    assert published(bus) == [(A, 20), (B, 5)]
    coalescer.offer([(A, status(30))])
    coalescer.flush(1.05, live)  # too soon for A: kept for the next flush
    assert published(bus) == [(A, 20), (B, 5)]
    coalescer.flush(1.10, live)
    assert published(bus)[-1] == (A, 30)
    assert all(isinstance(e.payload, Progress) for e in bus.events)


def test_a_forgotten_or_removed_torrent_publishes_nothing() -> None:
    bus = RecordingBus()
    coalescer = ProgressCoalescer(publisher=Publisher(bus), interval=0.1)
    coalescer.offer([(A, status(10)), (B, status(5))])
    coalescer.forget(A)  # e.g. its status predates `completed`
    coalescer.flush(1.0, {A, B})
    coalescer.offer([(B, status(6))])
    coalescer.flush(2.0, {A})  # B was removed meanwhile
    assert published(bus) == [(B, 5)]
