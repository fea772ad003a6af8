"""Write the API's OpenAPI document to docs/api/openapi.json (``--check``: fail on drift)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import revaer
from revaer.api.server import ApiDeps, create_app

TARGET = Path(__file__).resolve().parent.parent / "docs" / "api" / "openapi.json"


def document() -> str:
    """The document exactly as ``GET /docs/openapi.json`` serves it."""
    # Route documentation needs no service: nothing is called while the document is built.
    unused: Any = None
    deps = ApiDeps(
        config=unused, setup=unused, snapshots=unused, health=unused, metrics=unused,
        verifier=unused, limiter=unused, usage=unused, bus=unused, journal=unused,
        catalog=unused, engine=unused, fsops=unused,
        version=revaer.__version__,
    )  # fmt: skip
    app = create_app(deps)  # the provider holds the app weakly: keep it alive here
    schema = app.extensions["QUART_SCHEMA"].openapi_provider.schema()
    return json.dumps(schema, indent=2) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="exit 1 if the file is out of date")
    args = parser.parse_args()
    text = document()
    if args.check:
        if not TARGET.exists() or TARGET.read_text() != text:
            sys.stderr.write(f"{TARGET} is out of date: run scripts/export-openapi\n")
            return 1
        sys.stdout.write(f"openapi_paths={len(json.loads(text)['paths'])}\n")
        return 0
    TARGET.write_text(text)
    sys.stdout.write(f"wrote {TARGET}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
