"""``revaer torrent add|remove``, ``ls``, ``status``, ``select``, ``action``."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from urllib.parse import parse_qs

import httpx

from tests.cli.support import API_KEY, FakeApi, body_of, run

TID = "6f1c3a52-0d7e-4b8e-9a41-2f5c7d9e0b13"
SUMMARY = {"torrent_id": TID, "name": "debian.iso", "state": "seeding", "progress": 1.0}
ADDED = {"torrents": [{"torrent_id": TID, "info_hash": "c9" * 20, "name": "debian.iso"}],
         "rejected": []}  # fmt: skip


def test_add_a_magnet_with_options(api: FakeApi) -> None:
    api.on("POST", "/v1/torrents", status=202, json=ADDED)
    magnet = "magnet:?xt=urn:btih:" + "c9" * 20
    result = run(
        api, "--api-key", API_KEY, "torrent", "add", magnet, "--tag", "a", "--tag", "b",
        "--paused", "--peer", "127.0.0.1:6881", "--max-download-bps", "1000",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert body_of(api.only_request()) == {
        "magnet": magnet, "tags": ["a", "b"], "paused": True, "peers": ["127.0.0.1:6881"],
        "max_download_bps": 1000,
    }  # fmt: skip
    assert result.stdout.splitlines() == [f"added {TID} debian.iso"]


def test_add_a_torrent_file_sends_it_in_base64(api: FakeApi, tmp_path: Path) -> None:
    api.on("POST", "/v1/torrents", status=202, json=ADDED)
    path = tmp_path / "a.torrent"
    path.write_bytes(b"d4:infod4:name1:aee")
    result = run(api, "--api-key", API_KEY, "--format", "json", "torrent", "add", str(path))
    assert result.exit_code == 0, result.output
    sent = body_of(api.only_request())
    assert isinstance(sent, dict)
    assert base64.b64decode(str(sent["metainfo"])) == path.read_bytes()
    assert json.loads(result.stdout) == ADDED


def test_add_of_a_missing_file_exits_2_and_sends_nothing(api: FakeApi, tmp_path: Path) -> None:
    result = run(api, "--api-key", API_KEY, "torrent", "add", str(tmp_path / "nope.torrent"))
    assert result.exit_code == 2
    assert "cannot be read" in result.stderr
    assert api.api_requests() == []


def test_a_duplicate_is_a_409_and_exits_3(api: FakeApi) -> None:
    api.problem("POST", "/v1/torrents", status=409, title="Conflict",
                detail=f"this torrent is already present as {TID}")  # fmt: skip
    result = run(api, "--api-key", API_KEY, "torrent", "add", "magnet:?xt=urn:btih:" + "a" * 40)
    assert result.exit_code == 3
    assert TID in result.stderr


def test_ls_walks_every_page_with_all(api: FakeApi) -> None:
    pages = iter([{"torrents": [SUMMARY], "next": "c1"},
                  {"torrents": [SUMMARY | {"name": "two"}], "next": None}])  # fmt: skip
    api.routes[("GET", "/v1/torrents")] = lambda _r: httpx.Response(200, json=next(pages))
    result = run(api, "--api-key", API_KEY, "ls", "--all", "--state", "seeding", "--limit", "1")
    assert result.exit_code == 0, result.output
    first, second = api.api_requests()
    assert parse_qs(first.url.query.decode()) == {"limit": ["1"], "state": ["seeding"]}
    assert parse_qs(second.url.query.decode())["cursor"] == ["c1"]
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["ID", "STATE", "PROGRESS", "NAME"]
    assert [line.split()[-1] for line in lines[1:]] == ["debian.iso", "two"]


def test_ls_prints_the_next_cursor_and_refuses_a_bad_sort(api: FakeApi) -> None:
    api.on("GET", "/v1/torrents", json={"torrents": [SUMMARY], "next": "abc"})
    result = run(api, "--api-key", API_KEY, "ls")
    assert result.exit_code == 0
    assert result.stdout.splitlines()[-1].startswith("next: abc")
    bad = run(api, "--api-key", API_KEY, "ls", "--sort", "colour")
    assert bad.exit_code == 2 and "--sort" in bad.stderr


def test_status_shows_files_and_trackers(api: FakeApi) -> None:
    detail = SUMMARY | {
        "download_bps": 0, "upload_bps": 10, "peers": 1, "seeds": 0, "download_dir": "/d",
        "tags": [], "last_error": None,
        "files": [{"index": 0, "path": "debian.iso", "priority": 4, "progress": 1.0}],
        "tracker_status": [{"url": "http://t/a", "status": "error", "message": "refused"}],
    }  # fmt: skip
    api.on("GET", f"/v1/torrents/{TID}", json=detail)
    result = run(api, "--api-key", API_KEY, "status", TID)
    assert result.exit_code == 0, result.output
    text = result.stdout
    assert (
        "state: seeding" in text and "debian.iso" in text and "error  http://t/a  (refused)" in text
    )


def test_status_shows_the_pipeline_job_and_action_fsops_reruns_it(api: FakeApi) -> None:
    detail = SUMMARY | {
        "fsops": {
            "state": "failed", "step": "extract", "library_path": "/lib/Show",
            "stages": [{"name": "validate", "status": "done"},
                       {"name": "extract", "status": "failed"}],
            "error": "e01.zip: archive member '../x' climbs out with '..'",
            "error_member": "../x", "error_path": None,
        }
    }  # fmt: skip
    api.on("GET", f"/v1/torrents/{TID}", json=detail)
    text = run(api, "--api-key", API_KEY, "status", TID).stdout
    assert "fsops: failed in extract  → /lib/Show" in text
    assert "validate:done  extract:failed" in text and "(../x)" in text
    api.on("POST", f"/v1/torrents/{TID}/action", json={"torrent_id": TID, "action": "fsops"})
    result = run(api, "--api-key", API_KEY, "action", TID, "fsops")
    assert result.exit_code == 0, result.output
    assert body_of(api.api_requests()[-1]) == {"type": "fsops"}


def test_select_sends_globs_and_priorities(api: FakeApi) -> None:
    api.on("POST", f"/v1/torrents/{TID}/select", json={"torrent_id": TID, "action": "select"})
    result = run(api, "--api-key", API_KEY, "select", TID, "--include", "*.mkv",
                 "--priority", "0=high", "--priority", "2=0")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert body_of(api.only_request()) == {
        "include": ["*.mkv"], "exclude": [], "skip_fluff": False,
        "priorities": [{"index": 0, "priority": "high"}, {"index": 2, "priority": 0}],
    }  # fmt: skip
    bad = run(api, "--api-key", API_KEY, "select", TID, "--priority", "first=high")
    assert bad.exit_code == 2 and "--priority" in bad.stderr


def test_actions_build_their_bodies(api: FakeApi) -> None:
    api.on("POST", f"/v1/torrents/{TID}/action", json={"torrent_id": TID, "action": "x"})
    cases = [
        (["pause"], {"type": "pause"}),
        (["rate", "--download-bps", "1000", "--upload-bps", "none"],
         {"type": "rate", "download_bps": 1000, "upload_bps": None}),
        (["move", "--download-dir", "/srv/x"], {"type": "move", "download_dir": "/srv/x"}),
        (["tags", "--add-tag", "a", "--remove-tag", "b"],
         {"type": "tags", "add": ["a"], "remove": ["b"]}),
        (["sequential", "--enable"], {"type": "sequential", "enable": True}),
        (["remove", "--delete-data"], {"type": "remove", "delete_data": True}),
    ]  # fmt: skip
    for args, body in cases:
        api.requests.clear()
        result = run(api, "--api-key", API_KEY, "action", TID, *args)
        assert result.exit_code == 0, (args, result.output)
        assert body_of(api.only_request()) == body
    api.requests.clear()
    removed = run(api, "--api-key", API_KEY, "torrent", "remove", TID)
    assert removed.exit_code == 0
    assert body_of(api.only_request()) == {"type": "remove", "delete_data": False}
    refused = [
        (["rate"], "--download-bps"),
        (["sequential"], "--enable"),
        (["move"], "--download-dir"),
        (["rate", "--download-bps", "fast"], "--download-bps"),
    ]
    for args, flag in refused:
        bad = run(api, "--api-key", API_KEY, "action", TID, *args)
        assert bad.exit_code == 2 and flag in bad.stderr, (args, bad.stderr)


def test_a_problem_with_pointers_exits_2(api: FakeApi) -> None:
    api.problem(
        "POST",
        f"/v1/torrents/{TID}/action",
        status=422,
        title="Validation failed",
        detail="/download_dir: must be absolute",
        invalid_params=[{"pointer": "/download_dir", "message": "must be absolute"}],
    )
    result = run(api, "--api-key", API_KEY, "action", TID, "move", "--download-dir", "rel")
    assert result.exit_code == 2
    assert "/download_dir" in result.stderr
