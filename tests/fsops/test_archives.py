"""Archive grouping and safe extraction: round trips, hostile members, damage, tools, stopping."""

from __future__ import annotations

import io
import os
import random
import shutil
import stat
import subprocess
import sys
import tarfile
import time
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import pytest

from revaer.fsops._archive_tools import collect_tree
from revaer.fsops._archives import ArchiveSet, extract, find_archives
from revaer.fsops._errors import FsopsFailed, FsopsRefused
from revaer.fsops._tools import Toolbox, probe_tools
from tests.fsops import rarmaker

SEVEN = shutil.which("7zz") or shutil.which("7z")
needs_7z = pytest.mark.skipif(SEVEN is None, reason="7zz/7z not installed (apt-get install 7zip)")
needs_unar = pytest.mark.skipif(
    shutil.which("unar") is None or shutil.which("lsar") is None,
    reason="unar/lsar not installed (apt-get install unar)",
)

# Over one 1 MiB chunk, so streaming in chunks is exercised; random so 7z cannot shrink it.
BIG = random.Random(7).randbytes(1_300_000)
CONTENT: Mapping[str, bytes] = {
    "a.txt": b"hello\n",
    "dir/big.bin": BIG,
    "dir/sub/empty": b"",
    "dir/café.txt": b"non-ASCII name\n",
}
DIRS = ("dir", "dir/sub")
# Hostile members come after this harmless one, so "nothing written" means "checked first".
FIRST, BENIGN = "first.txt", b"harmless\n"


class Stop(Exception):
    """What the tests' check() raises to stop an extraction."""


@dataclass(frozen=True, slots=True)
class Stage:
    """tmp_path laid out as the pipeline does: archives in ``src``, a fresh ``dest`` to fill."""

    root: Path
    src: Path
    dest: Path


@pytest.fixture
def stage(tmp_path: Path) -> Stage:
    src = tmp_path / "in"
    src.mkdir()
    (tmp_path / "stage").mkdir()
    return Stage(root=tmp_path, src=src, dest=tmp_path / "stage" / "x")


@pytest.fixture
def toolbox() -> Toolbox:
    return probe_tools()


def tree(root: Path) -> set[str]:
    """Every path below ``root`` (links listed, never followed)."""
    found = set()
    for directory, dirs, files in os.walk(root):
        for name in dirs + files:
            found.add(os.path.relpath(os.path.join(directory, name), root))
    return found


def only_set(paths: list[Path]) -> ArchiveSet:
    [archive] = find_archives(paths)
    return archive


def assert_round_trip(archive: ArchiveSet, stage: Stage, toolbox: Toolbox) -> None:
    seen: list[int] = []
    written = extract(archive, stage.dest, toolbox=toolbox, progress=seen.append)
    assert written == sorted(PurePosixPath(name) for name in CONTENT)
    for name, data in CONTENT.items():
        assert (stage.dest / name).read_bytes() == data, name
    assert sum(seen) == sum(len(data) for data in CONTENT.values())
    extracted = {p.replace(os.sep, "/") for p in tree(stage.dest)}
    assert extracted == set(CONTENT) | set(DIRS)


def assert_refused(archive: ArchiveSet, stage: Stage, toolbox: Toolbox, member: str) -> None:
    """Refused naming ``member``, with nothing written anywhere (dest left absent)."""
    before = tree(stage.root)
    with pytest.raises(FsopsRefused) as caught:
        extract(archive, stage.dest, toolbox=toolbox)
    assert caught.value.member == member
    assert member in caught.value.detail
    assert archive.first.name in caught.value.detail
    # Refused from the listing, before a tool wrote anything (not by the check afterwards).
    assert "was extracted" not in caught.value.detail
    assert tree(stage.root) == before
    assert not stage.dest.exists()


def write_tree(root: Path) -> Path:
    for name, data in CONTENT.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return root


def seven(*args: str, cwd: Path | None = None) -> None:
    assert SEVEN is not None
    subprocess.run([SEVEN, *args], check=True, capture_output=True, cwd=cwd)


def make_7z(stage: Stage, name: str, *switches: str) -> list[Path]:
    source = write_tree(stage.root / "tree")
    seven("a", "-bso0", "-bsp0", *switches, str(stage.src / name), "*", cwd=source)
    shutil.rmtree(source)
    return sorted(p for p in stage.src.iterdir() if p.name.startswith(name))


def make_zip(path: Path, members: list[tuple[str | zipfile.ZipInfo, bytes]]) -> list[Path]:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for info, data in members:
            zf.writestr(info, data)
    return [path]


def zip_member(name: str, mode: int) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=(2024, 5, 6, 7, 8, 10))
    info.create_system = 3  # Unix, so the mode in external_attr counts
    info.external_attr = mode << 16
    return info


def tar_member(name: str, kind: bytes = tarfile.REGTYPE, linkname: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = linkname
    return info


def make_tar(path: Path, members: list[tuple[tarfile.TarInfo, bytes]], mode: str) -> list[Path]:
    with tarfile.open(path, mode) as tf:  # type: ignore[call-overload]  # mode is a literal
        for info, data in members:
            info.size = len(data) if info.isreg() else 0
            tf.addfile(info, io.BytesIO(data) if info.isreg() else None)
    return [path]


def rar_entries() -> list[rarmaker.Entry]:
    return [
        *(rarmaker.directory(d) for d in DIRS),
        *(rarmaker.file(name, data) for name, data in CONTENT.items()),
    ]


# --- grouping -------------------------------------------------------------------------------


def test_find_archives_groups_volumes_and_ignores_other_files() -> None:
    d = Path("/dl/job")
    names = [
        "notes.txt",
        "movie.mkv",
        "a.zip",
        "b.tar.gz",
        "c.tgz",
        "c2.tar.bz2",
        "c3.txz",
        "d.7z",
        "e.7z.002",
        "e.7z.001",
        "e.7z.003",
        "f.part2.rar",
        "f.part1.rar",
        "g.rar",
        "g.r01",
        "g.r00",
        "H.PART01.RAR",
        "H.PART10.RAR",
        "H.PART02.RAR",
        "orphan.part2.rar",
        "orphan.r00",
        "lone.7z.002",
        "x.sfv",
        "y.par2",
    ]
    found = find_archives(d / n for n in names)
    summary = [(s.first.name, [v.name for v in s.volumes], s.kind, s.tool) for s in found]
    assert summary == [
        ("H.PART01.RAR", ["H.PART01.RAR", "H.PART02.RAR", "H.PART10.RAR"], "rar", "unar"),
        ("a.zip", ["a.zip"], "zip", None),
        ("b.tar.gz", ["b.tar.gz"], "tar", None),
        ("c.tgz", ["c.tgz"], "tar", None),
        ("c2.tar.bz2", ["c2.tar.bz2"], "tar", None),
        ("c3.txz", ["c3.txz"], "tar", None),
        ("d.7z", ["d.7z"], "7z", "7z"),
        ("e.7z.001", ["e.7z.001", "e.7z.002", "e.7z.003"], "7z", "7z"),
        ("f.part1.rar", ["f.part1.rar", "f.part2.rar"], "rar", "unar"),
        ("g.rar", ["g.rar", "g.r00", "g.r01"], "rar", "unar"),
    ]
    non_first = {v for s in found for v in s.volumes[1:]}
    assert non_first.isdisjoint(s.first for s in found)


def test_find_archives_keeps_directories_apart() -> None:
    found = find_archives([Path("/a/x.part1.rar"), Path("/b/x.part2.rar"), Path("/b/x.part1.rar")])
    assert [s.volumes for s in found] == [
        (Path("/a/x.part1.rar"),),
        (Path("/b/x.part1.rar"), Path("/b/x.part2.rar")),
    ]


# --- round trips ----------------------------------------------------------------------------


def zip_content(path: Path) -> list[Path]:
    members: list[tuple[str | zipfile.ZipInfo, bytes]] = [(d + "/", b"") for d in DIRS]
    return make_zip(path, members + list(CONTENT.items()))


def test_zip_round_trip(stage: Stage, toolbox: Toolbox) -> None:
    assert_round_trip(only_set(zip_content(stage.src / "a.zip")), stage, toolbox)


def test_zip_without_directory_entries_and_modes_not_copied(stage: Stage, toolbox: Toolbox) -> None:
    paths = make_zip(
        stage.src / "a.zip",
        [(zip_member(name, 0o104755), data) for name, data in CONTENT.items()],
    )
    assert_round_trip(only_set(paths), stage, toolbox)
    info = (stage.dest / "a.txt").stat()
    assert info.st_mode & (stat.S_ISUID | 0o111) == 0
    assert info.st_mtime == time.mktime((2024, 5, 6, 7, 8, 10, 0, 0, -1))


@pytest.mark.parametrize(
    ("suffix", "mode"),
    [(".tar.gz", "w:gz"), (".tar.bz2", "w:bz2"), (".tar.xz", "w:xz"), (".tar", "w")],
)
def test_tar_round_trip(stage: Stage, toolbox: Toolbox, suffix: str, mode: str) -> None:
    members = [(tar_member(d, tarfile.DIRTYPE), b"") for d in DIRS]
    members += [(tar_member(name), data) for name, data in CONTENT.items()]
    assert_round_trip(only_set(make_tar(stage.src / f"a{suffix}", members, mode)), stage, toolbox)


def test_tar_with_a_top_directory_entry_round_trip(stage: Stage, toolbox: Toolbox) -> None:
    # `tar -C dir .` names the top directory "./" and every member "./name".
    with tarfile.open(stage.src / "dot.tar", "w") as tf:
        tf.add(write_tree(stage.root / "tree"), arcname=".")
        assert tf.getnames()[:2] == [".", "./a.txt"]
    shutil.rmtree(stage.root / "tree")
    assert_round_trip(only_set([stage.src / "dot.tar"]), stage, toolbox)


@needs_7z
def test_7z_round_trip(stage: Stage, toolbox: Toolbox) -> None:
    assert_round_trip(only_set(make_7z(stage, "a.7z")), stage, toolbox)


@needs_7z
def test_7z_extracts_a_mislabelled_tar(stage: Stage, toolbox: Toolbox) -> None:
    # 7-Zip opens what the file really is (and warns); the check reads its listing all the same.
    members = [(tar_member(d, tarfile.DIRTYPE), b"") for d in DIRS]
    members += [(tar_member(name), data) for name, data in CONTENT.items()]
    assert_round_trip(only_set(make_tar(stage.src / "tar.7z", members, "w")), stage, toolbox)


@needs_7z
def test_7z_multi_volume_round_trip(stage: Stage, toolbox: Toolbox) -> None:
    paths = make_7z(stage, "a.7z", "-mx=0", "-v400k")
    assert len(paths) >= 3
    archive = only_set(paths)
    assert archive.first.name == "a.7z.001"
    assert_round_trip(archive, stage, toolbox)


@needs_unar
@pytest.mark.parametrize("writer", [rarmaker.write_rar4, rarmaker.write_rar5])
def test_rar_round_trip(stage: Stage, toolbox: Toolbox, writer: Callable[..., list[Path]]) -> None:
    assert_round_trip(only_set(writer(stage.src, "a", rar_entries())), stage, toolbox)


@needs_unar
@pytest.mark.parametrize(
    ("writer", "old_style", "names"),
    [
        (rarmaker.write_rar4, False, ["a.part1.rar", "a.part2.rar", "a.part3.rar"]),
        (rarmaker.write_rar4, True, ["a.rar", "a.r00", "a.r01"]),
        (rarmaker.write_rar5, False, ["a.part1.rar", "a.part2.rar", "a.part3.rar"]),
    ],
)
def test_rar_multi_volume_round_trip(
    stage: Stage,
    toolbox: Toolbox,
    writer: Callable[..., list[Path]],
    old_style: bool,
    names: list[str],
) -> None:
    options = {"old_style": True} if old_style else {}
    paths = writer(stage.src, "a", rar_entries(), volume_size=500_000, **options)
    archive = only_set(sorted(paths))
    assert [v.name for v in archive.volumes] == names
    assert_round_trip(archive, stage, toolbox)


@needs_unar
def test_rar_ignores_similarly_named_sibling_archives(stage: Stage, toolbox: Toolbox) -> None:
    # unar on its own takes show.e04.rar for an earlier volume of show.e05.rar.
    rarmaker.write_rar5(stage.src, "show.e04", [rarmaker.file("e04.txt", b"four")])
    [e05] = rarmaker.write_rar5(stage.src, "show.e05", [rarmaker.file("e05.txt", b"five")])
    assert extract(only_set([e05]), stage.dest, toolbox=toolbox) == [PurePosixPath("e05.txt")]
    assert (stage.dest / "e05.txt").read_bytes() == b"five"


@needs_7z
def test_7z_names_with_wildcards_are_taken_literally(stage: Stage, toolbox: Toolbox) -> None:
    # 7-Zip expands * and ? in an archive name and turns * in -o into the archive's name.
    [odd] = make_7z(stage, "we?rd*.7z")
    source = stage.root / "other"
    source.mkdir()
    (source / "other.txt").write_bytes(b"other")
    seven("a", "-bso0", "-bsp0", str(stage.src / "weXrdY.7z"), "*", cwd=source)
    dest = stage.root / "stage" / "out*put"
    assert_round_trip(only_set([odd]), Stage(root=stage.root, src=stage.src, dest=dest), toolbox)
    assert sorted(p.name for p in (stage.root / "stage").iterdir()) == ["out*put"]


@needs_unar
def test_rar_names_with_wildcards_are_taken_literally(stage: Stage, toolbox: Toolbox) -> None:
    [odd] = rarmaker.write_rar5(stage.src, "we?rd*", rar_entries())
    rarmaker.write_rar5(stage.src, "weXrdY", [rarmaker.file("other.txt", b"other")])
    dest = stage.root / "stage" / "out*put"
    assert_round_trip(only_set([odd]), Stage(root=stage.root, src=stage.src, dest=dest), toolbox)


# --- hostile members ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "mode"),
    [
        ("../evil", 0o100644),
        ("../../evil", 0o100644),
        ("dir/../../evil", 0o100644),
        ("ABSOLUTE", 0o100644),
        ("link", stat.S_IFLNK | 0o777),
        ("fifo", stat.S_IFIFO | 0o644),
    ],
)
def test_zip_hostile_member_refused(stage: Stage, toolbox: Toolbox, name: str, mode: int) -> None:
    name = str(stage.root / "abs-evil") if name == "ABSOLUTE" else name
    data = b"/etc/passwd" if stat.S_ISLNK(mode) else b"evil"
    paths = make_zip(stage.src / "bad.zip", [(FIRST, BENIGN), (zip_member(name, mode), data)])
    assert_refused(only_set(paths), stage, toolbox, name)


@pytest.mark.parametrize(
    ("name", "kind", "linkname"),
    [
        ("../evil", tarfile.REGTYPE, ""),
        ("ABSOLUTE", tarfile.REGTYPE, ""),
        ("out", tarfile.SYMTYPE, "/etc/passwd"),
        ("up", tarfile.SYMTYPE, "../../x"),
        ("in", tarfile.SYMTYPE, "first.txt"),
        ("hard", tarfile.LNKTYPE, "first.txt"),
        ("hard-out", tarfile.LNKTYPE, "/etc/passwd"),
        ("tty", tarfile.CHRTYPE, ""),
        ("disk", tarfile.BLKTYPE, ""),
        ("fifo", tarfile.FIFOTYPE, ""),
    ],
)
def test_tar_hostile_member_refused(
    stage: Stage, toolbox: Toolbox, name: str, kind: bytes, linkname: str
) -> None:
    name = str(stage.root / "abs-evil") if name == "ABSOLUTE" else name
    members = [(tar_member(FIRST), BENIGN), (tar_member(name, kind, linkname), b"evil")]
    assert_refused(
        only_set(make_tar(stage.src / "bad.tar.gz", members, "w:gz")), stage, toolbox, name
    )


@needs_7z
@pytest.mark.parametrize("target", ["a.txt", "/etc/passwd"])
def test_7z_symlink_member_refused(stage: Stage, toolbox: Toolbox, target: str) -> None:
    source = write_tree(stage.root / "tree")
    (source / "link").symlink_to(target)
    seven("a", "-bso0", "-bsp0", "-snl", str(stage.src / "bad.7z"), "*", cwd=source)
    shutil.rmtree(source)
    assert_refused(only_set([stage.src / "bad.7z"]), stage, toolbox, "link")


@needs_7z
@pytest.mark.parametrize("name", ["../evil", "../../evil", "ABSOLUTE"])
def test_7z_climbing_member_refused(stage: Stage, toolbox: Toolbox, name: str) -> None:
    name = str(stage.root / "abs-evil") if name == "ABSOLUTE" else name
    [archive] = make_7z(stage, "bad.7z")
    # 7-Zip stores only relative names; renaming a member inside the archive plants the bad one.
    seven("rn", str(archive), "a.txt", name)
    assert_refused(only_set([archive]), stage, toolbox, name)


@needs_7z
@pytest.mark.parametrize(
    ("name", "kind", "linkname"),
    [
        ("out", tarfile.SYMTYPE, "/etc/passwd"),
        ("hard", tarfile.LNKTYPE, "first.txt"),
        ("tty", tarfile.CHRTYPE, ""),
    ],
)
def test_7z_refuses_links_in_other_formats_it_opens(
    stage: Stage, toolbox: Toolbox, name: str, kind: bytes, linkname: str
) -> None:
    # 7-Zip opens whatever a ".7z" really holds; its listing is checked the same way.
    members = [(tar_member(FIRST), BENIGN), (tar_member(name, kind, linkname), b"")]
    [disguised] = make_tar(stage.src / "disguised.7z", members, "w")
    assert_refused(only_set([disguised]), stage, toolbox, name)


@needs_unar
@pytest.mark.parametrize("writer", [rarmaker.write_rar4, rarmaker.write_rar5])
@pytest.mark.parametrize(
    "entry",
    [
        rarmaker.symlink("out", "/etc/passwd"),
        rarmaker.symlink("in", "first.txt"),
        rarmaker.file("../evil", b"evil"),
        rarmaker.file("../../evil", b"evil"),
        rarmaker.file("/abs/evil", b"evil"),
    ],
    ids=["symlink-out", "symlink-in", "dotdot", "dotdot2", "absolute"],
)
def test_rar_hostile_member_refused(
    stage: Stage, toolbox: Toolbox, writer: Callable[..., list[Path]], entry: rarmaker.Entry
) -> None:
    paths = writer(stage.src, "bad", [rarmaker.file(FIRST, BENIGN), entry])
    assert_refused(only_set(paths), stage, toolbox, entry.name)


@needs_unar
def test_rar5_hard_link_refused(stage: Stage, toolbox: Toolbox) -> None:
    entries = [rarmaker.file("first.txt", b"x"), rarmaker.hardlink("hard", "first.txt")]
    paths = rarmaker.write_rar5(stage.src, "bad", entries)
    assert_refused(only_set(paths), stage, toolbox, "hard")


@pytest.mark.parametrize("kind", ["symlink", "hardlink", "fifo"])
def test_tool_output_with_a_link_or_special_file_is_refused(tmp_path: Path, kind: str) -> None:
    # What a tool wrote is walked afterwards, in case the listing missed something.
    out = tmp_path / "out"
    out.mkdir()
    (out / "ok.txt").write_bytes(b"ok")
    outside = tmp_path / "secret"
    outside.write_bytes(b"secret")
    odd = out / "odd"
    if kind == "symlink":
        odd.symlink_to(outside)
    elif kind == "hardlink":
        odd.hardlink_to(outside)
    else:
        os.mkfifo(odd)
    archive = tmp_path / "a.rar"
    with pytest.raises(FsopsRefused, match="was extracted as") as caught:
        collect_tree(out, archive)
    assert caught.value.member == "odd"
    odd.unlink()
    assert collect_tree(out, archive) == [(PurePosixPath("ok.txt"), 2)]


# --- encrypted, damaged ---------------------------------------------------------------------


@needs_7z
@pytest.mark.parametrize(
    ("name", "switches"),
    [("e.zip", ("-tzip",)), ("e.7z", ()), ("headers.7z", ("-mhe=on",))],
)
def test_encrypted_archive_fails(
    stage: Stage, toolbox: Toolbox, name: str, switches: tuple[str, ...]
) -> None:
    paths = make_7z(stage, name, "-pSECRET", *switches)
    with pytest.raises(FsopsFailed) as caught:
        extract(only_set(paths), stage.dest, toolbox=toolbox)
    assert not isinstance(caught.value, FsopsRefused)
    assert "encrypted" in caught.value.detail
    assert name in caught.value.detail
    assert not stage.dest.exists()


@needs_unar
def test_encrypted_rar_fails(stage: Stage, toolbox: Toolbox) -> None:
    # The generator cannot encrypt; it sets the member's password flag, which is what lsar reads.
    entry = rarmaker.Entry(name="secret.txt", data=b"0123456789abcdef", encrypted=True)
    paths = rarmaker.write_rar4(stage.src, "e", [entry])
    with pytest.raises(FsopsFailed, match="encrypted"):
        extract(only_set(paths), stage.dest, toolbox=toolbox)


def truncate(path: Path, keep: float) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])


def test_truncated_zip_fails(stage: Stage, toolbox: Toolbox) -> None:
    [path] = zip_content(stage.src / "t.zip")
    truncate(path, 0.6)
    with pytest.raises(FsopsFailed, match=r"t\.zip is damaged"):
        extract(only_set([path]), stage.dest, toolbox=toolbox)
    assert not stage.dest.exists()


def test_corrupt_zip_member_fails_and_leaves_dest_empty(stage: Stage, toolbox: Toolbox) -> None:
    stage.dest.mkdir()
    with zipfile.ZipFile(stage.src / "c.zip", "w") as zf:  # stored, so a flipped byte is data
        zf.writestr("ok.txt", b"fine")
        zf.writestr("bad.bin", BIG)
    data = bytearray((stage.src / "c.zip").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (stage.src / "c.zip").write_bytes(bytes(data))
    with pytest.raises(FsopsFailed, match=r"bad\.bin") as caught:
        extract(only_set([stage.src / "c.zip"]), stage.dest, toolbox=toolbox)
    assert caught.value.member == "bad.bin"
    assert list(stage.dest.iterdir()) == []  # dest given existing and empty stays


def test_truncated_tar_gz_fails(stage: Stage, toolbox: Toolbox) -> None:
    members = [(tar_member(name), data) for name, data in CONTENT.items()]
    [path] = make_tar(stage.src / "t.tar.gz", members, "w:gz")
    truncate(path, 0.5)
    with pytest.raises(FsopsFailed, match="damaged"):
        extract(only_set([path]), stage.dest, toolbox=toolbox)
    assert not stage.dest.exists()


def test_not_a_zip_fails(stage: Stage, toolbox: Toolbox) -> None:
    (stage.src / "fake.zip").write_bytes(b"not a zip at all")
    with pytest.raises(FsopsFailed, match="damaged"):
        extract(only_set([stage.src / "fake.zip"]), stage.dest, toolbox=toolbox)


@needs_7z
@pytest.mark.parametrize("keep", [0.02, 0.6])
def test_truncated_7z_fails_with_the_tools_words(
    stage: Stage, toolbox: Toolbox, keep: float
) -> None:
    [path] = make_7z(stage, "t.7z")
    truncate(path, keep)
    with pytest.raises(FsopsFailed) as caught:
        extract(only_set([path]), stage.dest, toolbox=toolbox)
    assert "7z could not" in caught.value.detail
    assert "t.7z" in caught.value.detail
    assert not stage.dest.exists()


@needs_7z
def test_7z_missing_volume_fails(stage: Stage, toolbox: Toolbox) -> None:
    paths = make_7z(stage, "a.7z", "-mx=0", "-v400k")
    paths[1].unlink()
    with pytest.raises(FsopsFailed, match="7z could not"):
        extract(only_set([paths[0], *paths[2:]]), stage.dest, toolbox=toolbox)


@needs_unar
@pytest.mark.parametrize("writer", [rarmaker.write_rar4, rarmaker.write_rar5])
def test_damaged_rar_fails(
    stage: Stage, toolbox: Toolbox, writer: Callable[..., list[Path]]
) -> None:
    [path] = writer(stage.src, "t", rar_entries())
    truncate(path, 0.5)  # inside big.bin's data
    with pytest.raises(FsopsFailed, match=r"unar could not extract t\.rar"):
        extract(only_set([path]), stage.dest, toolbox=toolbox)
    assert not stage.dest.exists()


@needs_unar
def test_not_a_rar_fails(stage: Stage, toolbox: Toolbox) -> None:
    (stage.src / "fake.rar").write_bytes(b"not a rar at all")
    with pytest.raises(FsopsFailed, match=r"unar could not read fake\.rar: not an archive"):
        extract(only_set([stage.src / "fake.rar"]), stage.dest, toolbox=toolbox)


@pytest.mark.parametrize(
    ("name", "tool", "hint"), [("a.7z", "7z", "7zip"), ("a.rar", "unar", "unar")]
)
def test_missing_tool_fails_with_install_hint(
    stage: Stage, name: str, tool: str, hint: str
) -> None:
    (stage.src / name).write_bytes(b"whatever")
    with pytest.raises(FsopsFailed) as caught:
        extract(only_set([stage.src / name]), stage.dest, toolbox=probe_tools(path="/nonexistent"))
    assert f"{tool} is needed" in caught.value.detail
    assert f"apt-get install {hint}" in caught.value.detail
    assert not stage.dest.exists()


def test_dest_must_be_empty(stage: Stage, toolbox: Toolbox) -> None:
    stage.dest.mkdir()
    (stage.dest / "already").write_bytes(b"")
    with pytest.raises(FsopsFailed, match="not empty"):
        extract(only_set(zip_content(stage.src / "a.zip")), stage.dest, toolbox=toolbox)
    assert (stage.dest / "already").exists()


# --- stopping -------------------------------------------------------------------------------


def stop_on_call(n: int) -> Callable[[], None]:
    calls = 0

    def check() -> None:
        nonlocal calls
        calls += 1
        if calls >= n:
            raise Stop

    return check


def test_check_stops_a_zip_midway(stage: Stage, toolbox: Toolbox) -> None:
    members = [(f"f{i}.bin", bytes([i]) * 1000) for i in range(5)]
    paths = make_zip(stage.src / "five.zip", list(members))
    seen: list[int] = []
    with pytest.raises(Stop):
        extract(
            only_set(paths),
            stage.dest,
            toolbox=toolbox,
            check=stop_on_call(3),
            progress=seen.append,
        )
    assert 0 < sum(seen) < 5000
    assert not stage.dest.exists()


def test_check_stops_a_tar_while_listing(stage: Stage, toolbox: Toolbox) -> None:
    members = [(tar_member(f"f{i}.bin"), bytes([i]) * 1000) for i in range(5)]
    paths = make_tar(stage.src / "five.tar", members, "w")
    with pytest.raises(Stop):
        extract(only_set(paths), stage.dest, toolbox=toolbox, check=stop_on_call(3))
    assert not stage.dest.exists()


@pytest.mark.parametrize(("name", "tools"), [("a.7z", ("7z",)), ("a.rar", ("unar", "lsar"))])
def test_check_kills_a_running_tool(stage: Stage, name: str, tools: tuple[str, ...]) -> None:
    # A stand-in tool that records its pid and then hangs; the Toolbox is the seam.
    pidfile = stage.root / "pid"
    script = stage.root / "hang"
    script.write_text(
        f"#!{sys.executable}\n"
        "import os, time\n"
        f"with open({str(pidfile) + '.tmp'!r}, 'w') as f: f.write(str(os.getpid()))\n"
        f"os.replace({str(pidfile) + '.tmp'!r}, {str(pidfile)!r})\n"
        "time.sleep(30)\n"
    )
    script.chmod(0o755)
    hanging = Toolbox(found=dict.fromkeys(tools, str(script)), missing=())
    (stage.src / name).write_bytes(b"whatever")

    def check() -> None:
        if pidfile.exists():
            raise Stop

    with pytest.raises(Stop):
        extract(only_set([stage.src / name]), stage.dest, toolbox=hanging, check=check)
    pid = int(pidfile.read_text())
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    assert not stage.dest.exists()


@needs_7z
def test_check_stops_a_real_7z(stage: Stage, toolbox: Toolbox) -> None:
    paths = make_7z(stage, "a.7z")
    with pytest.raises(Stop):
        extract(only_set(paths), stage.dest, toolbox=toolbox, check=stop_on_call(2))
    assert not stage.dest.exists()
