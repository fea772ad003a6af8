"""LtTorrent.inspect: tracker states from libtorrent's dicts; text it cannot decode."""

from __future__ import annotations

from typing import Any

from revaer.torrent._lt import LtTorrent, _tracker


class _Status:
    num_pieces = 3
    num_peers = 2
    num_seeds = 1
    num_connections = 4


class _Handle:
    """A torrent handle whose tracker list the bindings cannot decode."""

    def status(self, _flags: Any = 0) -> _Status:
        return _Status()

    def torrent_file(self) -> None:
        return None

    def trackers(self) -> list[dict[str, Any]]:
        raise UnicodeDecodeError("utf-8", b"\xe9", 0, 1, "invalid continuation byte")


def test_a_tracker_message_that_is_not_utf8_does_not_fail_the_inspection() -> None:
    inspection = LtTorrent(_Handle()).inspect()  # type: ignore[arg-type]
    assert inspection.trackers == ()
    assert (inspection.pieces_done, inspection.peers, inspection.connections) == (3, 2, 4)
    assert inspection.file_progress is None


def _entry(**result: Any) -> dict[str, Any]:
    return {"url": "http://t/announce", "tier": 1, "verified": False,
            "endpoints": [{"info_hashes": [result]}]}  # fmt: skip


def test_tracker_status_prefers_the_error_of_the_last_announce() -> None:
    refused = _tracker(
        _entry(fails=1, start_sent=True, last_error={"value": 111, "category": "system"})
    )
    assert refused.status == "error" and refused.message == "Connection refused"
    http = _tracker(_entry(fails=2, last_error={"value": 404, "category": "http"}))
    assert http.status == "error" and http.message == "http error 404"
    ok = _tracker(_entry(fails=0, start_sent=True, last_error={"value": 0}, scrape_complete=5,
                         scrape_incomplete=2))  # fmt: skip
    assert (ok.status, ok.seeds, ok.peers) == ("working", 5, 2)
    assert _tracker(_entry(updating=True)).status == "updating"
    assert _tracker(_entry()).status == "not_contacted"
