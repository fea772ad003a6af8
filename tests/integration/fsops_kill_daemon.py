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

from revaer.fsops import STAGES, _stages, _transfer


def _die(marker: Path) -> None:
    marker.write_text("killed")
    os.kill(os.getpid(), signal.SIGKILL)


def install(stage: str, marker: Path) -> None:
    if marker.exists():
        return
    original = STAGES[stage]
    if stage == "transfer":
        real_place = _transfer.place
        placed = 0

        def place(*args: Any, **kwargs: Any) -> Any:
            nonlocal placed
            result = real_place(*args, **kwargs)
            placed += 1
            if placed == 2:
                _die(marker)
            return result

        vars(_stages)["place"] = place  # the name the stage calls
        return
    if stage == "extract":
        real_extract = vars(_stages)["extract"]
        count = 0

        def extract(*args: Any, **kwargs: Any) -> Any:
            nonlocal count
            result = real_extract(*args, **kwargs)
            count += 1
            if count == 2:
                _die(marker)
            return result

        vars(_stages)["extract"] = extract
        return

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
