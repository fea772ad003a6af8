"""ResumeStore: atomic files under resume_dir, loading them back, and health on failure."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import stat
import uuid
from pathlib import Path
from typing import Any

import pytest

from revaer.runtime import HealthRegistry, HealthState
from revaer.torrent._resume import (
    ResumeStore,
    ResumeStoreUnavailable,
    StoredTorrent,
    TorrentMeta,
)

ID_A = "0b1f6a52-7c1e-4d55-9a0e-3f4c2b9d8e01"
ID_B = "5d2c9e7a-1b3f-4a6d-8c2e-9f0a1b2c3d4e"
ID_C = "9e8d7c6b-5a4f-4e3d-9c2b-1a0f9e8d7c6b"


def meta(torrent_id: str = ID_A, **changes: Any) -> TorrentMeta:
    base = TorrentMeta(
        torrent_id=torrent_id,
        info_hash="a" * 40,
        name="Some Linux ISO",
        source="magnet",
        magnet="magnet:?xt=urn:btih:" + "a" * 40 + "&dn=Some+Linux+ISO",
        download_dir="/downloads/incoming",
        sequential=True,
        paused=False,
        tags=("linux", "iso"),
        trackers=("udp://tracker.example:6969/announce", "https://t.example/ann?passkey=x"),
        include=("*.iso",),
        exclude=("*.txt", "sample/*"),
        skip_fluff=True,
        priorities=(0, 4, 7),
        max_download_bps=1_000_000,
        max_upload_bps=None,
        added_at="2025-01-02T03:04:05.678901+00:00",
    )
    return dataclasses.replace(base, **changes)


def state(health: HealthRegistry) -> tuple[HealthState, str | None]:
    record = health.get("resume_store")
    assert record is not None
    return record.state, record.reason


@pytest.fixture
def health() -> HealthRegistry:
    return HealthRegistry()


@pytest.fixture
def directory(tmp_path: Path) -> Path:
    return tmp_path / "state" / "resume"


@pytest.fixture
def store(directory: Path, health: HealthRegistry) -> ResumeStore:
    return ResumeStore(directory, health=health)


# --- TorrentMeta as JSON -------------------------------------------------------------------


def test_meta_round_trips_every_field_through_json() -> None:
    original = meta(source="torrent", magnet=None, priorities=None, max_upload_bps=0)
    assert TorrentMeta.from_json(json.loads(json.dumps(original.to_json()))) == original
    assert TorrentMeta.from_json(meta().to_json()) == meta()
    assert original.to_json()["format"] == 1


def test_unknown_keys_are_ignored_for_newer_writers() -> None:
    doc = meta().to_json() | {"future_field": {"x": 1}}
    assert TorrentMeta.from_json(doc) == meta()


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("format", 2, "format: unsupported version 2"),
        ("format", "1", "format: expected an integer"),
        ("torrent_id", 7, "torrent_id: expected a string"),
        ("torrent_id", "../../etc/passwd", "torrent_id: "),
        ("info_hash", "xyz", "info_hash: "),
        ("source", "ftp", "source: "),
        ("magnet", None, "magnet: required"),
        ("sequential", 1, "sequential: expected a boolean"),
        ("paused", "no", "paused: expected a boolean"),
        ("tags", "linux", "tags: expected an array"),
        ("trackers", ["ok", 3], "trackers[1]: "),
        ("priorities", [1, 9], "priorities: each must be within 0..7"),
        ("priorities", [True], "priorities[0]: "),
        ("max_download_bps", 1.5, "max_download_bps: expected an integer or null"),
        ("max_upload_bps", -1, "max_upload_bps: must be within 0..2147483647"),
        ("max_upload_bps", 2**31, "max_upload_bps: must be within 0..2147483647"),
        ("added_at", "yesterday", "added_at: "),
        ("added_at", "2025-01-02T03:04:05", "added_at: "),
    ],
)
def test_from_json_names_the_bad_field(field: str, value: object, message: str) -> None:
    doc = meta().to_json() | {field: value}
    with pytest.raises(ValueError, match="^" + re.escape(message)):
        TorrentMeta.from_json(doc)


@pytest.mark.parametrize("field", ["format", "name", "magnet", "priorities", "max_upload_bps"])
def test_from_json_names_a_missing_field(field: str) -> None:
    doc = meta().to_json()
    del doc[field]
    with pytest.raises(ValueError, match=f"^{field}: missing"):
        TorrentMeta.from_json(doc)


def test_from_json_rejects_a_document_that_is_not_an_object() -> None:
    with pytest.raises(ValueError, match=r"^document: expected a JSON object"):
        TorrentMeta.from_json([meta().to_json()])


# --- saving and loading --------------------------------------------------------------------


async def test_saved_torrents_load_back_oldest_first_with_their_blobs(
    store: ResumeStore, directory: Path, health: HealthRegistry
) -> None:
    newest = meta(ID_A, added_at="2025-03-01T00:00:00+00:00")
    # Same instant in another offset: sorting is by time, not by the text.
    oldest = meta(ID_B, added_at="2025-01-01T05:00:00+05:00", source="torrent", magnet=None)
    middle = meta(ID_C, added_at="2025-02-01T00:00:00Z")
    for m in (newest, oldest, middle):
        await store.save_meta(m)
    await store.save_resume(ID_A, b"d8:file-format22:libtorrent resume filee")
    await store.save_resume(ID_B, bytes(range(256)))

    fresh = ResumeStore(directory, health=health)
    assert await fresh.load_all() == [
        StoredTorrent(meta=oldest, resume=bytes(range(256))),
        StoredTorrent(meta=middle, resume=None),
        StoredTorrent(meta=newest, resume=b"d8:file-format22:libtorrent resume filee"),
    ]
    assert state(health) == (HealthState.OK, None)


async def test_a_later_save_replaces_the_earlier_one(store: ResumeStore) -> None:
    await store.save_meta(meta(paused=False))
    await store.save_resume(ID_A, b"old")
    await store.save_meta(meta(paused=True, priorities=(1, 1, 1)))
    await store.save_resume(ID_A, b"new")
    assert await store.load_all() == [
        StoredTorrent(meta=meta(paused=True, priorities=(1, 1, 1)), resume=b"new")
    ]
    assert store.statistics().saves == 4


async def test_files_are_named_by_torrent_id_and_private(
    store: ResumeStore, directory: Path
) -> None:
    await store.save_meta(meta())
    await store.save_resume(ID_A, b"blob")
    assert sorted(p.name for p in directory.iterdir()) == [
        f"{ID_A}.fastresume",
        f"{ID_A}.meta.json",
    ]
    # Tracker URLs carry passkeys: only the daemon's user may read them.
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    for path in directory.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert json.loads((directory / f"{ID_A}.meta.json").read_text()) == meta().to_json()


async def test_a_missing_directory_loads_as_empty(store: ResumeStore, directory: Path) -> None:
    assert await store.load_all() == []
    assert not directory.exists()


async def test_remove_deletes_both_files_and_is_idempotent(
    store: ResumeStore, directory: Path
) -> None:
    await store.save_meta(meta(ID_A))
    await store.save_resume(ID_A, b"blob")
    await store.save_meta(meta(ID_B))
    await store.remove(ID_A)
    await store.remove(ID_A)
    await store.remove(ID_C)  # never saved
    assert [t.meta.torrent_id for t in await store.load_all()] == [ID_B]
    assert sorted(p.name for p in directory.iterdir()) == [f"{ID_B}.meta.json"]
    assert store.statistics().failures == 0


@pytest.mark.parametrize(
    "torrent_id",
    [
        "../escape",
        "/etc/passwd",
        "",
        ID_A.upper(),
        "{" + ID_A + "}",
        ID_A.replace("-", ""),
        "urn:uuid:" + ID_A,
    ],
)
async def test_anything_but_a_canonical_uuid_is_rejected(
    store: ResumeStore, directory: Path, torrent_id: str
) -> None:
    with pytest.raises(ValueError, match="torrent_id"):
        await store.save_resume(torrent_id, b"blob")
    with pytest.raises(ValueError, match="torrent_id"):
        await store.remove(torrent_id)
    with pytest.raises(ValueError, match="torrent_id"):
        meta(torrent_id)
    assert not directory.exists()


# --- failures and recovery -----------------------------------------------------------------


async def test_a_failed_rename_keeps_the_previous_file_and_degrades_until_a_save_works(
    store: ResumeStore, directory: Path, health: HealthRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    await store.save_resume(ID_A, b"good old blob")
    final = directory / f"{ID_A}.fastresume"

    def refuse(src: object, dst: object) -> None:
        raise OSError(28, "No space left on device")

    with monkeypatch.context() as patch:
        patch.setattr(os, "replace", refuse)
        with pytest.raises(ResumeStoreUnavailable, match="No space left on device"):
            await store.save_resume(ID_A, b"new blob")

    assert final.read_bytes() == b"good old blob"
    assert sorted(p.name for p in directory.iterdir()) == [final.name]  # no .tmp left behind
    assert state(health) == (
        HealthState.DEGRADED,
        f"cannot write {final}: No space left on device",
    )
    stats = store.statistics()
    assert (stats.saves, stats.failures) == (1, 1)
    assert stats.last_error == f"cannot write {final}: No space left on device"

    await store.save_resume(ID_A, b"new blob")
    assert final.read_bytes() == b"new blob"
    assert state(health) == (HealthState.OK, None)
    # The last error is history, kept for diagnosis after recovery.
    assert store.statistics().last_error == f"cannot write {final}: No space left on device"


async def test_the_data_is_synced_before_the_rename_and_the_directory_after(
    store: ResumeStore, directory: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    steps: list[str] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd: int) -> None:
        kind = "directory" if stat.S_ISDIR(os.fstat(fd).st_mode) else "file"
        steps.append(f"fsync {kind}")
        real_fsync(fd)

    def replace(src: str | Path, dst: str | Path) -> None:
        steps.append("replace")
        real_replace(src, dst)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    await store.save_meta(meta())
    assert steps == ["fsync file", "replace", "fsync directory"]


async def test_a_directory_that_cannot_be_created_degrades_and_recovers(
    tmp_path: Path, health: HealthRegistry
) -> None:
    # chmod does not stop root, so block the directory with a regular file in its path.
    blocker = tmp_path / "state"
    blocker.write_bytes(b"not a directory")
    store = ResumeStore(blocker / "resume", health=health)
    with pytest.raises(ResumeStoreUnavailable):
        await store.save_meta(meta())
    health_state, reason = state(health)
    assert health_state is HealthState.DEGRADED
    assert reason == f"cannot write {blocker / 'resume' / (ID_A + '.meta.json')}: Not a directory"

    blocker.unlink()
    await store.save_meta(meta())
    assert state(health) == (HealthState.OK, None)
    assert await store.load_all() == [StoredTorrent(meta=meta(), resume=None)]


async def test_a_directory_that_cannot_be_listed_raises_and_degrades(
    tmp_path: Path, health: HealthRegistry
) -> None:
    not_a_directory = tmp_path / "resume"
    not_a_directory.write_bytes(b"")
    store = ResumeStore(not_a_directory, health=health)
    with pytest.raises(ResumeStoreUnavailable, match="Not a directory"):
        await store.load_all()
    assert state(health) == (
        HealthState.DEGRADED,
        f"cannot read {not_a_directory}: Not a directory",
    )


# --- what a crash or damage leaves behind --------------------------------------------------


async def test_damaged_metadata_is_moved_aside_and_skipped(
    store: ResumeStore, directory: Path, health: HealthRegistry
) -> None:
    await store.save_meta(meta(ID_A))
    await store.save_resume(ID_A, b"blob a")
    await store.save_meta(meta(ID_B))
    await store.save_resume(ID_B, b"blob b")
    await store.save_meta(meta(ID_C))
    (directory / f"{ID_A}.meta.json").write_bytes(b'{"format": 1, "torrent_id": ')  # torn
    # A copy under another torrent's name would otherwise load the same torrent twice.
    (directory / f"{ID_C}.meta.json").write_bytes(json.dumps(meta(ID_B).to_json()).encode())

    assert await store.load_all() == [StoredTorrent(meta=meta(ID_B), resume=b"blob b")]

    names = sorted(p.name for p in directory.iterdir())
    assert f"{ID_A}.meta.json.corrupt" in names
    assert f"{ID_C}.meta.json.corrupt" in names
    assert f"{ID_A}.meta.json" not in names
    assert (directory / f"{ID_A}.meta.json.corrupt").read_bytes() == (
        b'{"format": 1, "torrent_id": '
    )
    health_state, reason = state(health)
    assert health_state is HealthState.DEGRADED
    assert reason is not None
    assert str(directory / f"{ID_A}.meta.json.corrupt") in reason
    assert str(directory / f"{ID_C}.meta.json.corrupt") in reason
    assert store.statistics().quarantined == 2

    # The next load finds nothing new to complain about; the blob of the lost torrent stays.
    assert await store.load_all() == [StoredTorrent(meta=meta(ID_B), resume=b"blob b")]
    assert state(health) == (HealthState.OK, None)
    assert (directory / f"{ID_A}.fastresume").read_bytes() == b"blob a"


async def test_an_earlier_corrupt_file_is_never_overwritten(
    store: ResumeStore, directory: Path
) -> None:
    directory.mkdir(parents=True)
    (directory / f"{ID_A}.meta.json.corrupt").write_bytes(b"first")
    (directory / f"{ID_A}.meta.json").write_bytes(b"second")
    assert await store.load_all() == []
    assert (directory / f"{ID_A}.meta.json.corrupt").read_bytes() == b"first"
    assert (directory / f"{ID_A}.meta.json.2.corrupt").read_bytes() == b"second"


async def test_leftover_temporary_files_are_removed_and_nothing_else(
    store: ResumeStore, directory: Path
) -> None:
    await store.save_meta(meta())
    leftovers = [
        f"{ID_A}.meta.json.{uuid.uuid4().hex}.tmp",
        f"{ID_B}.fastresume.{uuid.uuid4().hex}.tmp",
    ]
    # An add interrupted after its blob and before its metadata leaves an orphan blob.
    orphan = f"{ID_C}.fastresume"
    unrelated = ["notes.tmp", "README"]
    for name in [*leftovers, orphan, *unrelated]:
        (directory / name).write_bytes(b"half written")

    assert await store.load_all() == [StoredTorrent(meta=meta(), resume=None)]
    assert sorted(p.name for p in directory.iterdir()) == sorted([f"{ID_A}.meta.json", *unrelated])


async def test_a_torrent_file_whose_blob_is_missing_is_moved_aside(
    store: ResumeStore, directory: Path, health: HealthRegistry
) -> None:
    # Metadata of a .torrent without its blob (left by a crash before blob-first writes):
    # there is no info dictionary to restore it from.
    await store.save_meta(meta(ID_A, source="torrent", magnet=None))
    await store.save_meta(meta(ID_B))  # a magnet needs no blob: it restores from the URI
    assert [t.meta.torrent_id for t in await store.load_all()] == [ID_B]
    assert (directory / f"{ID_A}.meta.json.corrupt").exists()
    assert state(health)[0] is HealthState.DEGRADED


async def test_a_new_torrent_is_stored_blob_first(
    store: ResumeStore, directory: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    order: list[str] = []
    real_replace = os.replace

    def replace(src: str | Path, dst: str | Path) -> None:
        order.append(Path(dst).name)
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", replace)
    await store.save_torrent(meta(source="torrent", magnet=None), b"blob")
    assert order == [f"{ID_A}.fastresume", f"{ID_A}.meta.json"]


async def test_a_batch_of_blobs_is_written_with_one_directory_sync(
    store: ResumeStore, directory: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    await store.save_meta(meta(ID_A))
    synced: list[str] = []
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        synced.append("directory" if stat.S_ISDIR(os.fstat(fd).st_mode) else "file")
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    await store.save_resumes({ID_A: b"a", ID_B: b"b", ID_C: b"c"})
    assert synced == ["file", "file", "file", "directory"]
    assert (directory / f"{ID_B}.fastresume").read_bytes() == b"b"


async def test_the_clean_mark_is_taken_once(store: ResumeStore) -> None:
    assert await store.take_clean_mark() is False  # a new store was never stopped cleanly
    await store.mark_clean()
    assert await store.take_clean_mark() is True
    assert await store.take_clean_mark() is False  # until the next clean stop


async def test_a_failed_removal_raises_and_keeps_the_files(
    tmp_path: Path, health: HealthRegistry
) -> None:
    directory = tmp_path / "resume"
    store = ResumeStore(directory, health=health)
    await store.save_meta(meta(ID_A))
    directory.rename(tmp_path / "aside")
    directory.write_text("a file where the directory was")
    with pytest.raises(ResumeStoreUnavailable, match="cannot remove"):
        await store.remove(ID_A)
    assert state(health)[0] is HealthState.DEGRADED
    directory.unlink()
    (tmp_path / "aside").rename(directory)
    assert [t.meta.torrent_id for t in await store.load_all()] == [ID_A]


async def test_a_big_batch_syncs_the_file_system_once_instead_of_each_file(
    store: ResumeStore, directory: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    synced: list[str] = []
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        synced.append("directory" if stat.S_ISDIR(os.fstat(fd).st_mode) else "file")
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    torrents = [(meta(str(uuid.uuid4())), b"blob") for _ in range(100)]
    await store.save_torrents(torrents)
    assert synced == ["directory"]  # syncfs covered the 200 files
    loaded = {t.meta.torrent_id for t in await store.load_all()}
    assert loaded == {m.torrent_id for m, _ in torrents}


async def test_a_remove_whose_metadata_is_gone_is_done_even_if_the_blob_stays(
    store: ResumeStore, directory: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    await store.save_torrent(meta(source="torrent", magnet=None), b"blob")
    real_unlink = Path.unlink

    def unlink(self: Path, missing_ok: bool = False) -> None:
        if self.name.endswith(".fastresume"):
            raise OSError(5, "Input/output error")
        real_unlink(self, missing_ok=missing_ok)

    with monkeypatch.context() as patch:
        patch.setattr(Path, "unlink", unlink)
        await store.remove(ID_A)  # the torrent is gone; the blob is an orphan now
    assert await store.load_all() == []
    assert list(directory.iterdir()) == []  # the orphan was deleted at load


async def test_a_failed_batch_of_new_torrents_leaves_none_of_them(
    store: ResumeStore, directory: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    torrents = [(meta(str(uuid.uuid4())), b"blob") for _ in range(4)]
    real_replace = os.replace
    done: list[str] = []

    def replace(src: str | Path, dst: str | Path) -> None:
        if len(done) == 5:  # after four blobs and one metadata file are in place
            raise OSError(28, "No space left on device")
        done.append(str(dst))
        real_replace(src, dst)

    with monkeypatch.context() as patch:
        patch.setattr(os, "replace", replace)
        with pytest.raises(ResumeStoreUnavailable):
            await store.save_torrents(torrents)
    assert await store.load_all() == []
    assert list(directory.iterdir()) == []
