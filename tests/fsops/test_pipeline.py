"""The pipeline actor on real PostgreSQL and real files: confinement, tools health, live policy,
idempotent reruns. (A real download through the daemon: tests/integration/test_fsops_*.py.)"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import tarfile
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest
import trio

from revaer.db import Database
from revaer.events import FsopsCompleted, FsopsFailed
from revaer.runtime import HealthState
from tests.fsops import rarmaker
from tests.fsops.pipeline_harness import running_pipeline
from tests.integration.pg_proxy import PgProxy

pytestmark = pytest.mark.integration


def _tree(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*")}


def _zip(path: Path, name: str) -> None:
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("ok.txt", b"fine")
        z.writestr(zipfile.ZipInfo(name), b"escaped")


def _zip_symlink(path: Path) -> None:
    with zipfile.ZipFile(path, "w") as z:
        info = zipfile.ZipInfo("link")
        info.external_attr = 0o120777 << 16
        z.writestr(info, "../../outside/target")


def _tar(path: Path, member: tarfile.TarInfo, data: bytes = b"") -> None:
    with tarfile.open(path, "w") as t:
        ok = tarfile.TarInfo("ok.txt")
        ok.size = 4
        t.addfile(ok, io.BytesIO(b"fine"))
        t.addfile(member, io.BytesIO(data) if data else None)


def _tar_member(name: str, kind: bytes, *, link: str = "", size: int = 0) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = link
    info.size = size
    return info


def _rar_symlink(path: Path) -> None:
    rarmaker.write_rar5(path.parent, path.stem, [rarmaker.symlink("link", "../../outside/target")])


HOSTILE: dict[str, tuple[str, Callable[[Path], None], str]] = {
    "zip-slip": ("evil.zip", lambda p: _zip(p, "../../outside/evil.txt"), "../../outside/evil.txt"),
    "zip-absolute": ("abs.zip", lambda p: _zip(p, "/tmp/revaer-abs.txt"), "/tmp/revaer-abs.txt"),
    "zip-symlink": ("link.zip", _zip_symlink, "link"),
    "tar-slip": (
        "evil.tar",
        lambda p: _tar(p, _tar_member("../x.txt", tarfile.REGTYPE, size=3), b"bad"),
        "../x.txt",
    ),
    "tar-symlink-out": (
        "link.tar",
        lambda p: _tar(p, _tar_member("link", tarfile.SYMTYPE, link="/etc")),
        "link",
    ),
    "tar-hardlink": (
        "hard.tar",
        lambda p: _tar(p, _tar_member("hard", tarfile.LNKTYPE, link="ok.txt")),
        "hard",
    ),
    "tar-device": ("dev.tar", lambda p: _tar(p, _tar_member("null", tarfile.CHRTYPE)), "null"),
    "rar-symlink": ("link.rar", _rar_symlink, "link"),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
async def test_hostile_archive_fails_the_job_and_writes_nothing_outside(
    case: str, db: Database, tmp_path: Path
) -> None:
    if case.startswith("rar") and shutil.which("unar") is None:
        pytest.skip("unar not installed (apt-get install unar)")
    name, make, member = HOSTILE[case]
    root = tmp_path / "r"
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "target").write_text("keep")
    async with running_pipeline(db, root) as h:
        payload = h.downloads / "Release"
        payload.mkdir()
        make(payload / name)
        (payload / "notes.txt").write_text("n")
        before_outside = _tree(tmp_path / "outside")
        files = {f"Release/{p.name}": p.stat().st_size for p in sorted(payload.iterdir())}
        with h.subscribe() as events:
            torrent_id = h.complete("Release", files)
            outcome = await h.outcome(events, torrent_id)
        assert isinstance(outcome, FsopsFailed), outcome
        assert outcome.stage == "extract"
        assert outcome.member == member, outcome
        assert member in outcome.reason or name in outcome.reason
        status = h.pipeline.status(torrent_id)
        assert status is not None and status.state == "failed"
        assert status.error_member == member
    # Nothing outside the allowed roots, nothing in the library, no staging left behind
    # with content from the archive.
    assert _tree(tmp_path / "outside") == before_outside
    assert (tmp_path / "outside" / "target").read_text() == "keep"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["outside", "r"]
    assert not (root / "library").exists()
    assert not Path("/tmp/revaer-abs.txt").exists()
    assert not (root / "x.txt").exists() and not (root / "downloads" / "x.txt").exists()


async def test_a_download_dir_symlinked_outside_the_allow_list_is_refused(
    db: Database, tmp_path: Path
) -> None:
    root = tmp_path / "r"
    elsewhere = tmp_path / "elsewhere"
    (elsewhere / "Release").mkdir(parents=True)
    (elsewhere / "Release" / "a.txt").write_text("a")
    async with running_pipeline(db, root) as h:
        (h.downloads / "linked").symlink_to(elsewhere)
        with h.subscribe() as events:
            torrent_id = h.complete(
                "Release", {"Release/a.txt": 1}, save_path=h.downloads / "linked"
            )
            outcome = await h.outcome(events, torrent_id)
        assert isinstance(outcome, FsopsFailed)
        assert outcome.stage == "validate"
        assert str(elsewhere) in outcome.reason and "allow_paths" in outcome.reason
        assert _tree(elsewhere) == {"Release", "Release/a.txt"}  # refused before any write
        # Allowed explicitly, the same payload goes through.
        await h.set_policy(allow_paths=[str(elsewhere)])
        with h.subscribe() as events:
            again = h.complete("Release", {"Release/a.txt": 1}, save_path=h.downloads / "linked")
            done = await h.outcome(events, again)
        assert isinstance(done, FsopsCompleted), done
    assert (root / "library" / "Release" / "a.txt").read_text() == "a"
    # Nothing of the job's stays beside the payload: its record went to the library.
    assert _tree(elsewhere) == {"Release", "Release/a.txt"}
    assert (root / "library" / "Release" / ".revaer.meta").is_file()


async def test_a_missing_7z_degrades_health_by_name_and_recovers_without_restart(
    db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seven = shutil.which("7zz") or shutil.which("7z")
    if seven is None or shutil.which("unar") is None:
        pytest.skip("7zip and unar not installed (apt-get install 7zip unar)")
    # A PATH with every tool but 7z.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("unar", "lsar", "par2"):
        if found := shutil.which(tool):
            (bin_dir / tool).symlink_to(found)
    full_path = os.environ["PATH"]
    monkeypatch.setenv("PATH", str(bin_dir))
    async with running_pipeline(db, tmp_path / "r", probe_interval=0.2) as h:
        fsops = h.health.get("fsops")
        assert fsops is not None
        assert fsops.state == HealthState.DEGRADED
        assert fsops.reason is not None and fsops.reason.startswith("7z not found on PATH")
        assert "apt-get install 7zip" in fsops.reason
        # A 7z archive cannot be extracted meanwhile: the job says which tool is missing.
        payload = h.downloads / "Disc"
        payload.mkdir()
        (payload / "x.txt").write_text("x")
        monkeypatch.setenv("PATH", full_path)
        await trio.run_process([seven, "a", "-bso0", "-bsp0", "d.7z", "x.txt"], cwd=payload)
        monkeypatch.setenv("PATH", str(bin_dir))
        (payload / "x.txt").unlink()
        with h.subscribe() as events:
            torrent_id = h.complete("Disc", {"Disc/d.7z": (payload / "d.7z").stat().st_size})
            failed = await h.outcome(events, torrent_id)
        assert isinstance(failed, FsopsFailed) and "7z" in failed.reason, failed
        # The tool is back: the next periodic probe finds it, no restart.
        monkeypatch.setenv("PATH", full_path)
        with trio.fail_after(5):
            while (now := h.health.get("fsops")) is None or now.state != HealthState.OK:
                await trio.sleep(0.05)
        # And the operator's rerun goes through.
        with h.subscribe() as events:
            await h.pipeline.request(torrent_id)
            done = await h.outcome(events, torrent_id)
        assert isinstance(done, FsopsCompleted), done
    assert (tmp_path / "r" / "library" / "Disc" / "x.txt").read_text() == "x"


async def test_policy_applies_live_to_the_next_job(db: Database, tmp_path: Path) -> None:
    async with running_pipeline(db, tmp_path / "r") as h:
        (h.downloads / "a.mkv").write_bytes(b"a")
        await h.set_policy(
            move_mode="copy", tag_rules={"tv": {"subdir": "tv/hd", "move_mode": "hardlink"}}
        )
        with h.subscribe() as events:
            copied = h.complete("a.mkv", {"a.mkv": 1})
            await h.outcome(events, copied)
            linked = h.complete("a.mkv", {"a.mkv": 1}, tags=("misc", "tv"))
            await h.outcome(events, linked)
        lib = h.library
        assert not os.path.samefile(lib / "a" / "a.mkv", h.downloads / "a.mkv")  # a copy
        assert os.path.samefile(lib / "tv" / "hd" / "a" / "a.mkv", h.downloads / "a.mkv")
        # Another torrent of the same name gets its own folder: records never mix.
        (h.downloads / "a.mkv").unlink()
        (h.downloads / "a.mkv").write_bytes(b"b")
        with h.subscribe() as events:
            third = h.complete("a.mkv", {"a.mkv": 1})
            await h.outcome(events, third)
        assert (lib / "a" / "a.mkv").read_bytes() == b"a"
        assert (lib / "a (1)" / "a.mkv").read_bytes() == b"b"
        # A file already in the library with other content: renamed (the default), never
        # overwritten.
        (lib / "c").mkdir()
        (lib / "c" / "c.mkv").write_bytes(b"theirs")
        (h.downloads / "c.mkv").write_bytes(b"ours")
        with h.subscribe() as events:
            fourth = h.complete("c.mkv", {"c.mkv": 4})
            await h.outcome(events, fourth)
        assert (lib / "c" / "c.mkv").read_bytes() == b"theirs"
        assert (lib / "c" / "c (1).mkv").read_bytes() == b"ours"
        transfers = h.metrics.registry.get_sample_value(
            "revaer_fsops_steps_total", {"step": "transfer", "status": "ok"}
        )
        assert transfers == 4


async def test_jobs_survive_a_restart_of_the_actor(db: Database, tmp_path: Path) -> None:
    root = tmp_path / "r"
    async with running_pipeline(db, root, enabled=False) as h:
        (h.downloads / "b.txt").write_text("b")
        skipped = h.complete("b.txt", {"b.txt": 1})
        with trio.fail_after(5):
            while (status := h.pipeline.status(skipped)) is None:
                await trio.sleep(0.01)  # a skipped job announces nothing: look again
        assert status.state == "skipped" and status.error is not None
        catalog = h.catalog
    # Persisted: a new actor on the same database (and catalog) knows the job; one whose
    # torrent is gone (removed just before a crash) is forgotten.
    async with running_pipeline(db, root, enabled=True, catalog=catalog) as h:
        status = h.pipeline.status(skipped)
        assert status is not None and status.state == "skipped"
    async with running_pipeline(db, root, enabled=True) as h:
        assert h.pipeline.status(skipped) is None


def _undecodable_tar(payload: Path) -> None:
    # A name with a byte that is not UTF-8: tarfile hands it over as a lone surrogate.
    with tarfile.open(payload / "x.tar", "w", format=tarfile.GNU_FORMAT) as t:
        info = tarfile.TarInfo("caf\udce9.nfo")
        info.size = 1
        t.addfile(info, io.BytesIO(b"n"))
        keep = tarfile.TarInfo("keep.txt")
        keep.size = 1
        t.addfile(keep, io.BytesIO(b"k"))


def _bang_zip(payload: Path) -> None:
    with zipfile.ZipFile(payload / "Wow!.zip", "w") as z:
        z.writestr("inner.txt", b"i")


def _empty_zip(payload: Path) -> None:
    with zipfile.ZipFile(payload / "empty.zip", "w") as z:
        z.writestr(zipfile.ZipInfo("only-a-folder/"), b"")


def _two_covers(payload: Path) -> None:
    # Two archives side by side, each with its cover: both land in one folder.
    for cd in ("CD1", "CD2"):
        with zipfile.ZipFile(payload / f"{cd}.zip", "w") as z:
            z.writestr("cover.jpg", cd)


ODD: dict[str, tuple[Callable[[Path], object], str | None, set[str]]] = {
    # case: (lay out files in the payload folder, stage that fails or None, library files)
    "undecodable-member-name": (_undecodable_tar, None, {"keep.txt"}),
    "bang-in-archive-name": (_bang_zip, None, {"inner.txt"}),
    "two-files-one-name": (_two_covers, None, {"cover.jpg", "cover (1).jpg"}),
    "archive-of-nothing": (_empty_zip, None, set()),
    "symlink-loop": (lambda p: (p / "loop").symlink_to(p / "loop"), "validate", set()),
    "reserved-name": (lambda p: (p / ".revaer.meta").write_text("{}"), "validate", set()),
}


@pytest.mark.parametrize("case", sorted(ODD))
async def test_odd_payloads_end_in_a_clear_outcome_and_the_actor_goes_on(
    case: str, db: Database, tmp_path: Path
) -> None:
    make, failing_stage, library = ODD[case]
    async with running_pipeline(db, tmp_path / "r", cleanup_drop=["*.nfo"]) as h:
        payload = h.downloads / "Rel"
        payload.mkdir()
        make(payload)
        files = {
            f"Rel/{p.relative_to(payload).as_posix()}": 1
            for p in sorted(payload.rglob("*"))
            if p.is_symlink() or p.is_file()
        }
        with h.subscribe() as events:
            torrent_id = h.complete("Rel", files)
            outcome = await h.outcome(events, torrent_id)
            if failing_stage is None:
                assert isinstance(outcome, FsopsCompleted), outcome
                folder = h.library / "Rel"
                got = {p.name for p in folder.iterdir()} if folder.exists() else set()
                assert got - {".revaer.meta", ".revaer.sha256"} == library
            else:
                assert isinstance(outcome, FsopsFailed), outcome
                assert outcome.stage == failing_stage and outcome.path, outcome
            # The actor still takes jobs.
            (h.downloads / "next.txt").write_text("n")
            after = h.complete("next.txt", {"next.txt": 1})
            assert isinstance(await h.outcome(events, after), FsopsCompleted)


async def test_no_wanted_files_and_a_library_inside_the_downloads_are_refused(
    db: Database, tmp_path: Path
) -> None:
    root = tmp_path / "r"
    async with running_pipeline(db, root) as h:
        with h.subscribe() as events:
            empty = h.complete("Nothing", {})
            outcome = await h.outcome(events, empty)
        assert isinstance(outcome, FsopsFailed) and "no wanted files" in outcome.reason
        # A library that is the download directory would have cleanup delete the torrent's
        # own files: refused before anything is written.
        await h.set_policy(library_root=str(h.downloads))
        (h.downloads / "Rel").mkdir()
        (h.downloads / "Rel" / "a.nfo").write_text("a")
        with h.subscribe() as events:
            overlap = h.complete("Rel", {"Rel/a.nfo": 1})
            outcome = await h.outcome(events, overlap)
        assert isinstance(outcome, FsopsFailed) and "overlaps the payload" in outcome.reason
        assert sorted(p.name for p in (h.downloads / "Rel").iterdir()) == ["a.nfo"]


async def test_a_database_outage_holds_jobs_instead_of_crashing_the_actor(
    aio_loop: None, db_url: str, tmp_path: Path
) -> None:
    with contextlib.closing(PgProxy(db_url, password="pw")) as proxy:
        async with (
            Database.open(proxy.url, max_size=2) as db,
            running_pipeline(db, tmp_path / "r") as h,
        ):
            (h.downloads / "a.txt").write_text("a")
            with h.subscribe() as events:
                proxy.cut()
                torrent_id = h.complete("a.txt", {"a.txt": 1})
                # The job cannot even be written: nothing happens, nothing crashes...
                with trio.move_on_after(1.5):
                    await h.outcome(events, torrent_id)
                    raise AssertionError("a job ran without its state saved")
                # ...and once PostgreSQL is back it goes through.
                proxy.restore()
                done = await h.outcome(events, torrent_id, timeout=60)
            assert isinstance(done, FsopsCompleted), done
    assert (tmp_path / "r" / "library" / "a" / "a.txt").read_text() == "a"
