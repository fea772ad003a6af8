"""The HTTP API. Import the server from ``revaer.api.server`` and the wire shapes from
``revaer.api.models``; this package itself stays import-light so the CLI does not load the server.
"""
