"""What the pipeline reports when a job cannot go on."""

from __future__ import annotations

from revaer.errors import RevaerError

__all__ = ["FsopsFailed", "FsopsRefused"]


class FsopsFailed(RevaerError):
    """A stage failed (an I/O error, a tool's error, a damaged archive).

    ``path`` is the file concerned and ``member`` the archive member, when there is one; the
    ``fsops_failed`` event carries both so the operator can find it.
    """

    status = 422
    title = "FsOps failed"
    slug = "fsops-failed"

    def __init__(self, detail: str, *, path: str | None = None, member: str | None = None) -> None:
        super().__init__(detail)
        self.path = path
        self.member = member


class FsopsRefused(FsopsFailed):
    """A path or archive member would leave the allowed roots, or is not a plain file or dir."""

    title = "FsOps refused"
    slug = "fsops-refused"
