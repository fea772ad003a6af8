"""Revaer: a headless torrent orchestrator.

The library lives in subpackages, each a layer (see docs/architecture.md); the composition root
that wires them into a running daemon is the top-level ``supervisors`` package.
"""

__version__ = "0.1.0"
