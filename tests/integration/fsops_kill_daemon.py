"""``revaer-app`` with a test seam: SIGKILL itself once, inside one pipeline stage.

``python -m tests.integration.fsops_kill_daemon STAGE MARKER -- <revaer-app flags>`` wraps
``revaer.fsops.STAGES[STAGE]``: the first time the stage runs (``MARKER`` does not exist yet)
the process writes ``MARKER`` and kills itself with SIGKILL — for ``transfer`` and ``extract``
half-way through (after the first file placed / the first archive extracted), for every other
stage after its work is done but before the pipeline could record it. Later runs (``MARKER``
exists) are not touched. The product knows nothing of this: the seam is the stage table.
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path
from typing import Any

from revaer.fsops import STAGES, _stages


def _die(marker: Path) -> None:
    marker.write_text("killed")
    os.kill(os.getpid(), signal.SIGKILL)


def _die_on_call(name: str, nth: int, marker: Path) -> None:
    """Wrap the function ``name`` the stages call so its ``nth`` return kills the process."""
    real = vars(_stages)[name]
    calls = 0

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        result = real(*args, **kwargs)
        calls += 1
        if calls == nth:
            _die(marker)
        return result

    vars(_stages)[name] = wrapper  # the name the stage looks up when it calls


def install(stage: str, marker: Path) -> None:
    if marker.exists():
        return
    if stage == "transfer":
        _die_on_call("place", 2, marker)  # half-way: after the second file placed
        return
    if stage == "extract":
        _die_on_call("extract", 2, marker)  # after the second archive
        return
    original = STAGES[stage]

    async def killing(job: _stages.Job) -> Any:
        result = await original(job)
        _die(marker)
        return result

    STAGES[stage] = killing


if __name__ == "__main__":
    stage, marker = sys.argv[1], Path(sys.argv[2])
    install(stage, marker)
    from supervisors.main import main

    sys.argv = ["revaer-app", *sys.argv[4:]]
    main()
