"""FsOps: the post-download pipeline that puts a completed payload into the library.

Stages (each recorded in ``.revaer.meta`` and ``fs_jobs``; a rerun skips finished ones):
validate → par2 → extract → flatten → transfer → permissions → cleanup → checksum.
Every path stays inside the allowed roots (:class:`Confinement`); archive members that would
escape, links and device files are refused. Exceptions::

    RevaerError
    └── FsopsFailed      a stage failed (names the path or archive member)
        └── FsopsRefused a path or member outside the allowed roots, or not a plain file
"""

from revaer.fsops._confine import Confinement, safe_member_name
from revaer.fsops._errors import FsopsFailed, FsopsRefused
from revaer.fsops._jobs import JobStatus
from revaer.fsops._pipeline import EngineMoves, FsPipeline, PipelineIntake
from revaer.fsops._policy import FsPolicy
from revaer.fsops._stages import STAGE_NAMES, STAGES
from revaer.fsops._tools import TOOLS, Toolbox, probe_tools

__all__ = [
    "STAGES",
    "STAGE_NAMES",
    "TOOLS",
    "Confinement",
    "EngineMoves",
    "FsPipeline",
    "FsPolicy",
    "FsopsFailed",
    "FsopsRefused",
    "JobStatus",
    "PipelineIntake",
    "Toolbox",
    "probe_tools",
    "safe_member_name",
]
