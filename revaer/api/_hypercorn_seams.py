"""hypercorn's trio server with connection-level defences it lacks; checked against 0.18.0.

``serve`` replaces ``hypercorn.trio.serve`` for plain-HTTP binds. Each difference fixes a
defect seen on loopback:

- At most ``max_connections`` connections are open; the listener accepts the next one only
  when one has ended, so the rest wait in the kernel's listen backlog.
- A request head must arrive within ``header_timeout`` (of the accept, or of its first byte on
  a keep-alive connection); hypercorn only had the keep-alive timer, so a half-sent head held
  its connection for the whole keep-alive time.
- A connection ends as soon as it is closed. hypercorn waited for its keep-alive timer after
  the peer's EOF (descriptors in CLOSE-WAIT); its close could be cancelled half-way by the
  app's own cancellation (Quart cancels its request nursery when hypercorn reports the
  disconnect, inside that very close), leaving the socket open and read to the end of any
  body; and its reader could wait forever for a request it would never serve (a pipelined
  request after a ``connection: close`` answer). The same cancellation killed the keep-alive
  timer of every connection Quart had answered, so idle connections never timed out.
- An answer with ``connection: close`` is sent whole: bytes the client sends after its request
  were an h11 error on which hypercorn closed at once, mid-answer; they are dropped instead.
- HTTP/1.1 only: hypercorn answers an ``Upgrade: h2c`` request with ``101`` and switches to
  HTTP/2 (and does the same for a ``PRI * HTTP/2.0`` preface). Here the Upgrade header is
  ignored, so the request is served as HTTP/1.1, and a preface reaches the app as a request
  of ``http_version`` "2.0", which ``HardeningMiddleware`` refuses with a 400 and a close.

It relies on these hypercorn internals, which ``tests/integration/test_http_hostile.py``
checks: ``TCPServer`` (``run``, ``_read_data``, ``_idle_timeout``, ``_close``,
``_initiate_server_close``, ``protocol_send``, ``idle_task``, ``send_lock``, ``_task_group``),
``H11Protocol`` (``connection``, ``_check_protocol``, ``_handle_events`` reading
``connection.next_event``), and ``Lifespan``, ``WorkerContext`` and ``TaskGroup`` of
``hypercorn.trio``. Re-read ``hypercorn/trio/run.py``, ``trio/tcp_server.py`` and
``protocol/h11.py`` before moving ``HYPERCORN_VERSION``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial
from math import inf
from typing import Any

import h11
import trio
from hypercorn.config import Config
from hypercorn.events import Closed, Event, RawData, Updated
from hypercorn.protocol.h11 import H11Protocol
from hypercorn.trio.lifespan import Lifespan
from hypercorn.trio.task_group import TaskGroup
from hypercorn.trio.tcp_server import MAX_RECV, TCPServer
from hypercorn.trio.worker_context import WorkerContext
from hypercorn.typing import AppWrapper, ConnectionState, Framework, LifespanState
from hypercorn.utils import (
    ShutdownError,
    parse_socket_addr,
    raise_shutdown,
    repr_socket_addr,
    wrap_app,
)

__all__ = ["HYPERCORN_VERSION", "ConnectionLimits", "serve"]

HYPERCORN_VERSION = "0.18.0"
"""The hypercorn release these seams were read against."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ConnectionLimits:
    """What the server enforces per connection; fixed while a bind lasts."""

    header_timeout: float
    max_connections: int


async def serve(
    app: Framework,
    config: Config,
    limits: ConnectionLimits,
    *,
    shutdown_trigger: Callable[[], Awaitable[object]],
    task_status: trio.TaskStatus[list[str]] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve ``app`` on ``config``'s plain-HTTP binds until ``shutdown_trigger`` returns.

    Like ``hypercorn.trio.serve`` (lifespan, graceful drain for ``graceful_timeout``), started
    with ``nursery.start``, which returns the bound URLs.
    """
    asgi = wrap_app(app, config.wsgi_max_body_size, "asgi")
    lifespan_state: LifespanState = {}
    lifespan = Lifespan(asgi, config, lifespan_state)
    context = WorkerContext(None)
    slots = trio.Semaphore(limits.max_connections)

    async def handle(stream: trio.SocketStream) -> None:
        try:
            await _Connection(asgi, config, context, lifespan_state.copy(), stream, limits)
        finally:
            slots.release()

    async with trio.open_nursery() as lifespan_nursery:
        await lifespan_nursery.start(lifespan.handle_lifespan)
        await lifespan.wait_for_startup()
        async with trio.open_nursery() as server_nursery:
            sockets = config.create_sockets()
            listeners: list[_BoundedListener] = []
            binds: list[str] = []
            for sock in sockets.insecure_sockets:
                sock.listen(config.backlog)
                inner = trio.SocketListener(trio.socket.from_stdlib_socket(sock))
                listeners.append(_BoundedListener(inner, slots))
                binds.append(f"http://{repr_socket_addr(sock.family, sock.getsockname())}")
            task_status.started(binds)
            try:
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(raise_shutdown, shutdown_trigger)
                    nursery.start_soon(raise_shutdown, context.terminate.wait)
                    nursery.start_soon(
                        partial(
                            trio.serve_listeners, handle, listeners, handler_nursery=server_nursery
                        )
                    )
            except BaseExceptionGroup as error:
                _, other_errors = error.split(ShutdownError)
                if other_errors is not None:
                    raise other_errors from None
            finally:
                await context.terminated.set()
                server_nursery.cancel_scope.deadline = trio.current_time() + config.graceful_timeout
        await lifespan.wait_for_shutdown()
        lifespan_nursery.cancel_scope.cancel()


class _BoundedListener(trio.abc.Listener[trio.SocketStream]):
    """Accepts only while a connection slot is free; the connection's handler releases it."""

    def __init__(self, inner: trio.SocketListener, slots: trio.Semaphore) -> None:
        self._inner = inner
        self._slots = slots

    async def accept(self) -> trio.SocketStream:
        await self._slots.acquire()
        try:
            return await self._inner.accept()
        except BaseException:
            self._slots.release()
            raise

    async def aclose(self) -> None:
        await self._inner.aclose()


class _HTTP11Protocol(H11Protocol):
    """hypercorn's HTTP/1.1 protocol that never switches to HTTP/2 nor cuts an answer short."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.connection = _Http11(
            h11.SERVER, max_incomplete_event_size=self.config.h11_max_incomplete_size
        )

    async def _check_protocol(self, event: h11.Request) -> None:
        # hypercorn sends 101 for an h2c Upgrade and switches for a PRI preface here.
        return


class _Http11(h11.Connection):
    """h11, ignoring what a client sends after a request answered with ``connection: close``.

    h11 raises on such bytes (a pipelined request, junk after the body), and hypercorn then
    closes at once, in the middle of the answer it is sending.
    """

    def next_event(self) -> h11.Event | type[h11.NEED_DATA] | type[h11.PAUSED]:
        if self.their_state is h11.MUST_CLOSE:
            return h11.NEED_DATA
        return super().next_event()


class _Connection(TCPServer):
    """One plain-HTTP connection: head deadline, prompt close, HTTP/1.1 only."""

    def __init__(
        self,
        app: AppWrapper,
        config: Config,
        context: WorkerContext,
        state: LifespanState,
        stream: trio.SocketStream,
        limits: ConnectionLimits,
    ) -> None:
        super().__init__(app, config, context, state, stream)  # type: ignore[arg-type]
        self._header_timeout = limits.header_timeout
        self._h11: _HTTP11Protocol
        self._reading = trio.CancelScope()
        self._idle_scope = trio.CancelScope()
        self._head_begun = True
        """Whether a byte of the next request arrived (its head deadline is running)."""
        self._fresh = True

    async def run(self) -> None:
        # hypercorn's run without TLS, and with a protocol that stays HTTP/1.1.
        stream: trio.SocketStream = self.stream  # type: ignore[assignment]
        try:
            client = parse_socket_addr(stream.socket.family, stream.socket.getpeername())
            server = parse_socket_addr(stream.socket.family, stream.socket.getsockname())
            async with TaskGroup() as task_group:
                self._task_group = task_group
                self._h11 = _HTTP11Protocol(
                    self.app,
                    self.config,
                    self.context,
                    task_group,
                    ConnectionState(self.state),
                    False,
                    client,
                    server,
                    self.protocol_send,
                )
                self.protocol = self._h11  # type: ignore[assignment]
                await self.protocol.initiate()
                await self.idle_task.restart(self._task_group, self._idle_timeout)
                await self._read_data()
        except OSError:
            pass
        finally:
            await self._close()

    async def protocol_send(self, event: Event) -> None:
        if isinstance(event, Closed):
            # The reader may be parked waiting to be allowed to read a next request.
            self._reading.cancel()
        if isinstance(event, Updated):
            # Sent from the app's task, which Quart has often cancelled by then (it cancels
            # its request nursery on hypercorn's disconnect): a timer started there would
            # be cancelled at once, and the idle connection never timed out.
            with trio.CancelScope(shield=True):
                await super().protocol_send(event)
        else:
            await super().protocol_send(event)

    async def _read_data(self) -> None:
        with self._reading:
            while True:
                try:
                    with trio.fail_after(self.config.read_timeout or inf):
                        data = await self.stream.receive_some(MAX_RECV)
                except (trio.ClosedResourceError, trio.BrokenResourceError, trio.TooSlowError):
                    break
                if data and not self._head_begun:
                    self._head_begun = True
                    self._idle_scope.deadline = trio.current_time() + self._header_timeout
                if data and self._h11.connection.their_state is h11.MUST_CLOSE:
                    continue  # junk after a closing answer (see _Http11): not even buffered
                await self._h11.handle(RawData(bytes(data)))
                if not data:
                    break
        await self._h11.handle(Closed())
        # hypercorn would keep the connection until the keep-alive timer ran out.
        await self.idle_task.stop()

    async def _idle_timeout(self) -> None:
        # Runs while no request is in progress; the protocol stops it when a head is complete.
        with trio.CancelScope() as self._idle_scope:
            if self._fresh:
                self._fresh = False
                self._idle_scope.deadline = trio.current_time() + self._header_timeout
            else:
                self._head_begun = False
                self._idle_scope.deadline = trio.current_time() + self.config.keep_alive_timeout
            await self.context.terminated.wait()
        with trio.CancelScope(shield=True):
            await self._initiate_server_close()

    async def _close(self) -> None:
        # Never let a cancellation leave the socket half-closed and still read. Shutting down
        # the write side while another task sends makes that send fail with BusyResourceError
        # (hypercorn does not take its send lock here); a blocked send is woken by the close.
        with trio.CancelScope(shield=True):
            if self.send_lock.locked():
                await self.stream.aclose()
            else:
                async with self.send_lock:
                    await super()._close()
