"""The ``revaer`` command-line client: drives a Revaer daemon over its HTTP API.

Only ``revaer.api.models`` is imported from the rest of Revaer; httpx only in ``_http``.
Tests and embedding programs replace the HTTP transport by passing a ``Wiring`` as click's
``obj`` (for example ``CliRunner().invoke(cli, args, obj=Wiring(transport=...))``).
"""

from revaer.cli._context import Wiring
from revaer.cli._main import cli, main

__all__ = ["Wiring", "cli", "main"]
