"""``revaer tail``: resumes with Last-Event-ID, never prints an event twice, gives up when told."""

from __future__ import annotations

import json
from pathlib import Path

import httpx

from tests.cli.support import API_KEY, FakeApi, run

TID = "6f1c3a52-0d7e-4b8e-9a41-2f5c7d9e0b13"


def frame(event_id: int, kind: str = "state_changed") -> bytes:
    data = {"id": event_id, "kind": kind, "at": "2026-12-01T10:00:00Z", "torrent_id": TID,
            "state": "seeding", "data": {"torrent_id": TID, "state": "seeding"}}  # fmt: skip
    return f"id: {event_id}\nevent: {kind}\ndata: {json.dumps(data)}\n\n".encode()


def stream(*frames: bytes) -> httpx.Response:
    body = b"retry: 3000\n\n: keep-alive\n\n" + b"".join(frames)
    return httpx.Response(200, content=body, headers={"content-type": "text/event-stream"})


def test_tail_reconnects_resumes_and_never_prints_twice(api: FakeApi, tmp_path: Path) -> None:
    answers = iter([stream(frame(1), frame(2)), stream(frame(2), frame(3))])

    def respond(request: httpx.Request) -> httpx.Response:
        try:
            return next(answers)
        except StopIteration:
            raise httpx.ConnectError("refused", request=request) from None

    api.routes[("GET", "/v1/events")] = respond
    resume = tmp_path / "last-id"
    flags = ["--event", "state_changed", "--torrent", TID, "--resume-file", str(resume)]
    result = run(
        api, "--api-key", API_KEY, "tail", *flags, "--retry-secs", "0.01", "--retries", "1"
    )
    assert result.exit_code == 3, result.output
    assert [line.split()[0] for line in result.stdout.splitlines()] == ["1", "2", "3"]
    assert resume.read_text().strip() == "3"
    sent = api.api_requests()
    assert [r.headers.get("last-event-id") for r in sent] == [None, "2", "3", "3"]
    assert sent[0].url.params["event"] == "state_changed" and sent[0].url.params["torrent"] == TID
    assert "cannot connect" in result.stderr


def test_tail_continues_from_the_resume_file_and_prints_json(api: FakeApi, tmp_path: Path) -> None:
    resume = tmp_path / "last-id"
    resume.write_text("41\n")
    answers = iter([stream(frame(42), frame(43, "resync"))])

    def respond(request: httpx.Request) -> httpx.Response:
        try:
            return next(answers)
        except StopIteration:
            raise httpx.ConnectError("refused", request=request) from None

    api.routes[("GET", "/v1/events")] = respond
    result = run(api, "--api-key", API_KEY, "--format", "json", "tail", "--resume-file",
                 str(resume), "--retry-secs", "0.01", "--retries", "0")  # fmt: skip
    assert result.exit_code == 3
    assert [json.loads(line)["id"] for line in result.stdout.splitlines()] == [42, 43]
    assert api.api_requests()[0].headers["last-event-id"] == "41"


def test_tail_stops_at_a_problem_and_refuses_a_bad_resume_file(
    api: FakeApi, tmp_path: Path
) -> None:
    api.problem("GET", "/v1/events", status=422, title="Validation failed", detail="bad kind",
                invalid_params=[{"pointer": "/query/event", "message": "not a kind"}])  # fmt: skip
    result = run(api, "--api-key", API_KEY, "tail", "--event", "nope")
    assert result.exit_code == 2 and "/query/event" in result.stderr
    garbage = tmp_path / "last-id"
    garbage.write_text("not a number")
    bad = run(api, "--api-key", API_KEY, "tail", "--resume-file", str(garbage))
    assert bad.exit_code == 2 and "--resume-file" in bad.stderr
