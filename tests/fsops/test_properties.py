"""Property tests: file selection rules and path confinement hold for any input."""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from revaer.events import FileInfo
from revaer.fsops import Confinement, FsopsRefused, safe_member_name
from revaer.torrent._selection import Selection, compute_priorities, is_fluff

_PART = st.sampled_from(
    ["Show", "Sample", "extras", "ep1.mkv", "ep2.mkv", "proof.jpg", "a.nfo", "info.txt", "x"]
)
_PATH = st.lists(_PART, min_size=1, max_size=4).map("/".join)
_GLOB = st.sampled_from(["*.mkv", "*.nfo", "Sample/*", "*sample*", "Show/*", "*", "x", "*/x"])
_GLOBS = st.lists(_GLOB, max_size=3).map(tuple)


def _files(paths: list[str]) -> list[FileInfo]:
    return [FileInfo(index=i, path=p, size=1, priority=4) for i, p in enumerate(paths)]


@settings(max_examples=300, deadline=None)
@given(
    paths=st.lists(_PATH, min_size=1, max_size=8, unique=True),
    include=_GLOBS,
    exclude=_GLOBS,
    skip_fluff=st.booleans(),
    seed=st.randoms(use_true_random=False),
)
def test_selection_is_deterministic_order_independent_and_exclude_wins(
    paths: list[str],
    include: tuple[str, ...],
    exclude: tuple[str, ...],
    skip_fluff: bool,
    seed: object,
) -> None:
    files = _files(paths)
    rules = Selection(include=include, exclude=exclude, skip_fluff=skip_fluff)
    first = compute_priorities(files, rules)
    assert compute_priorities(files, rules) == first  # deterministic
    # The order of the file list and of the globs changes nothing.
    shuffled = list(files)
    seed.shuffle(shuffled)  # type: ignore[attr-defined]
    reordered = Selection(
        include=tuple(reversed(include)), exclude=tuple(reversed(exclude)), skip_fluff=skip_fluff
    )
    assert compute_priorities(shuffled, reordered) == first
    # A file an exclude glob matches is never downloaded, whatever include says; fluff is
    # dropped when skip_fluff is on.
    excluded = compute_priorities(files, Selection(exclude=exclude))
    for f in files:
        if excluded[f.index] == 0:
            assert first[f.index] == 0, f.path
        if skip_fluff and is_fluff(f.path):
            assert first[f.index] == 0, f.path
    # Without rules every file is wanted.
    assert all(p > 0 for p in compute_priorities(files, Selection()))


_NAME_PART = st.sampled_from(["a", "b", "..", ".", "", "c.txt", "C:", "\\", "x\\..", "/"])


@settings(max_examples=500, deadline=None)
@given(parts=st.lists(_NAME_PART, min_size=1, max_size=6))
def test_member_names_never_leave_their_directory(
    tmp_path_factory: pytest.TempPathFactory, parts: list[str]
) -> None:
    name = "/".join(parts)
    base = Path("/srv/stage")
    try:
        rel = safe_member_name(name)
    except FsopsRefused as exc:
        assert exc.member == name
        return
    assert not rel.is_absolute() and ".." not in rel.parts
    joined = Path(os.path.normpath(base / rel))
    assert joined.is_relative_to(base) and joined != base


@settings(max_examples=200, deadline=None)
@given(parts=st.lists(st.sampled_from(["a", "b", "..", ".", "link", "out"]), max_size=6))
def test_confinement_follows_symlinks_and_dotdot(
    tmp_path_factory: pytest.TempPathFactory, parts: list[str]
) -> None:
    top = tmp_path_factory.getbasetemp() / "confine"
    allowed = top / "allowed"
    if not allowed.exists():
        (allowed / "a" / "b").mkdir(parents=True)
        (top / "out").mkdir()
        (allowed / "link").symlink_to(top / "out")  # a link that leaves the allowed root
        (allowed / "a" / "link").symlink_to(allowed / "a" / "b")  # one that stays inside
    conf = Confinement([allowed])
    candidate = allowed.joinpath(*parts) if parts else allowed
    real = candidate.resolve()
    inside = real == allowed.resolve() or real.is_relative_to(allowed.resolve())
    assert conf.contains(candidate) == inside
    if inside:
        assert conf.check(candidate, what="path") == real
    else:
        with pytest.raises(FsopsRefused) as refused:
            conf.check(candidate, what="path")
        assert str(candidate) in refused.value.detail


def test_a_symlinked_root_is_judged_by_its_target(tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    (tmp_path / "alias").symlink_to(tmp_path / "real")
    conf = Confinement([tmp_path / "real"])
    assert conf.contains(tmp_path / "alias" / "x")
    assert not Confinement([tmp_path / "elsewhere"]).contains(tmp_path / "alias")
    assert PurePosixPath("x") == safe_member_name("./x")
