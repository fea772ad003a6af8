"""A TCP proxy in front of the test PostgreSQL that can cut the daemon off its database."""

from __future__ import annotations

import contextlib
import socket
import threading
from urllib.parse import parse_qs, urlsplit, urlunsplit


class PgProxy:
    """Listens on 127.0.0.1 and forwards to the server ``db_url`` names (Unix socket or TCP).

    Use it as ``with contextlib.closing(PgProxy(...)) as proxy``. ``cut()`` drops every
    connection and refuses new ones (accepted, then closed at once, as a server that went
    away); ``restore()`` serves again. ``url`` is ``db_url`` through the proxy, with
    ``password`` filled in when ``db_url`` has none (trust authentication ignores it).
    """

    def __init__(self, db_url: str, *, password: str) -> None:
        parts = urlsplit(db_url)
        socket_dir = parse_qs(parts.query).get("host", [""])[0]
        if socket_dir.startswith("/"):
            self._target: tuple[int, object] = (
                socket.AF_UNIX,
                f"{socket_dir}/.s.PGSQL.{parts.port or 5432}",
            )
        else:
            self._target = (socket.AF_INET, (parts.hostname or "127.0.0.1", parts.port or 5432))
        self._listener = socket.socket()
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen()
        self.port: int = self._listener.getsockname()[1]
        self.password = parts.password or password
        user = parts.username or "postgres"
        self.url = urlunsplit(
            ("postgresql", f"{user}:{self.password}@127.0.0.1:{self.port}", parts.path, "", "")
        )
        self._lock = threading.Lock()
        self._serving = True
        self._live: set[socket.socket] = set()
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def cut(self) -> None:
        """Drop every connection; refuse new ones until :meth:`restore`."""
        with self._lock:
            self._serving = False
            live, self._live = self._live, set()
        for sock in live:
            _close(sock)

    def restore(self) -> None:
        """Forward new connections again."""
        with self._lock:
            self._serving = True

    def close(self) -> None:
        """Stop listening and drop everything."""
        self._closed = True
        self.cut()
        _close(self._listener)

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            with self._lock:
                serving = self._serving
            if not serving:
                _close(client)
                continue
            family, address = self._target
            upstream = socket.socket(family, socket.SOCK_STREAM)
            try:
                upstream.connect(address)  # type: ignore[arg-type]
            except OSError:
                _close(client)
                _close(upstream)
                continue
            with self._lock:
                self._live.update((client, upstream))
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=_pump, args=(source, sink), daemon=True).start()


def _pump(source: socket.socket, sink: socket.socket) -> None:
    try:
        while data := source.recv(65536):
            sink.sendall(data)
    except OSError:
        pass
    finally:
        _close(source)
        _close(sink)


def _close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    with contextlib.suppress(OSError):
        sock.close()
