"""Request/response and one-way messages over framed TCP, multiplexed on one connection per peer.

Requests carry an id and get exactly one response frame; notifications (Raft messages) carry none.
Every wait is bounded by a timeout: a peer that does not answer is an unknown outcome, not a hang.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from cluster.runtime.framing import FrameError, encode_frame, read_frame
from cluster.runtime.task_cancel import cancel_and_wait

log = logging.getLogger(__name__)

Handler = Callable[[str, dict[str, Any]], Awaitable[Any]]
NotificationHandler = Callable[[str, dict[str, Any]], None]

# A peer whose socket buffer holds more than this is not reading: drop one-way messages rather than
# queue without bound (Raft retransmits), and make requests wait for the buffer to drain.
WRITE_BUFFER_HIGH_BYTES = 8 << 20


class RpcError(Exception):
    """An error the remote handler chose to return: `code` is machine-readable."""

    def __init__(self, code: str, message: str, data: dict[str, Any] | None = None) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.data = data or {}


class RpcUnavailable(Exception):
    """The request never reached the peer (cannot connect): it certainly did not take effect."""


class RpcTimeout(Exception):
    """The request was sent but no answer came in time: it may or may not have taken effect."""


class RpcServer:
    """Accepts connections and dispatches frames to `handler` (requests) and `on_notification`."""

    def __init__(self, handler: Handler, on_notification: NotificationHandler | None = None) -> None:
        self._handler = handler
        self._on_notification = on_notification
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self, host: str, port: int) -> int:
        self._server = await asyncio.start_server(self._serve_connection, host, port, limit=1 << 20)
        return self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for writer in list(self._connections):
            writer.close()
        for task in list(self._tasks):
            await cancel_and_wait(task)

    async def _serve_connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._connections.add(writer)
        output = _CoalescingWriter(writer)
        try:
            while True:
                try:
                    frame = await read_frame(reader)
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                except FrameError as error:
                    log.warning("dropping connection: %s", error)
                    return
                if not isinstance(frame, dict) or not isinstance(frame.get("method"), str):
                    log.warning("dropping connection: frame without a method")
                    return
                params = frame.get("params")
                if not isinstance(params, dict):
                    params = {}
                request_id = frame.get("id")
                if request_id is None:
                    if self._on_notification is not None:
                        try:
                            self._on_notification(frame["method"], params)
                        except Exception:  # a bad notification must not take the connection down
                            log.exception("notification %s failed", frame["method"])
                    continue
                task = asyncio.ensure_future(self._answer(output, request_id, frame["method"], params))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
        finally:
            self._connections.discard(writer)
            writer.close()

    async def _answer(self, output: _CoalescingWriter, request_id: Any, method: str, params: dict[str, Any]) -> None:
        try:
            result = await self._handler(method, params)
            response: dict[str, Any] = {"id": request_id, "result": result}
        except RpcError as error:
            response = {"id": request_id, "error": {"code": error.code, "message": error.message, "data": error.data}}
        except Exception as error:  # never let one request kill the process; report it
            log.exception("handler %s failed", method)
            response = {"id": request_id, "error": {"code": "Internal", "message": repr(error), "data": {}}}
        if output.writer.is_closing():
            return
        try:
            output.write(encode_frame(response))
            if output.buffered_bytes() > WRITE_BUFFER_HIGH_BYTES:
                output.flush()
                await output.writer.drain()
        except (ConnectionError, FrameError):
            output.writer.close()


class _CoalescingWriter:
    """Frames written in one event-loop pass leave in one send(): under load many requests and
    responses share a syscall, which on our machines costs more than building the frames."""

    def __init__(self, writer: asyncio.StreamWriter) -> None:
        self.writer = writer
        self._frames: list[bytes] = []

    def write(self, frame: bytes) -> None:
        if not self._frames:
            asyncio.get_running_loop().call_soon(self.flush)
        self._frames.append(frame)

    def buffered_bytes(self) -> int:
        return self.writer.transport.get_write_buffer_size() + sum(len(frame) for frame in self._frames)

    def flush(self) -> None:
        if not self._frames:
            return
        data = b"".join(self._frames)
        self._frames.clear()
        if not self.writer.is_closing():
            self.writer.write(data)


class RpcClient:
    """One lazily (re)connected connection to one peer address."""

    def __init__(self, address: tuple[str, int], connect_timeout_s: float = 1.0) -> None:
        self.address = address
        self._connect_timeout_s = connect_timeout_s
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._output: _CoalescingWriter | None = None
        self._reader_task: asyncio.Task[None] | None = None
        self._pending: dict[int, asyncio.Future[Any]] = {}
        self._ids = itertools.count(1)
        self._connect_lock = asyncio.Lock()
        self._closed = False

    @property
    def connected(self) -> bool:
        return self._writer is not None and not self._writer.is_closing()

    async def _ensure_connected(self) -> _CoalescingWriter:
        if self._closed:
            raise RpcUnavailable(f"client for {self.address} is closed")
        if self.connected:
            assert self._output is not None
            return self._output
        async with self._connect_lock:
            if self.connected:
                assert self._output is not None
                return self._output
            try:
                self._reader, self._writer = await asyncio.wait_for(
                    asyncio.open_connection(*self.address, limit=1 << 20), self._connect_timeout_s
                )
            except (TimeoutError, OSError) as error:
                raise RpcUnavailable(f"cannot connect to {self.address[0]}:{self.address[1]}: {error!r}") from error
            if self._closed:  # closed while connecting: a reader started now would outlive the process's loop
                self._writer.close()
                self._writer = None
                raise RpcUnavailable(f"client for {self.address} closed while connecting")
            self._output = _CoalescingWriter(self._writer)
            self._reader_task = asyncio.ensure_future(self._read_responses(self._reader, self._writer))
            return self._output

    async def _read_responses(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                frame = await read_frame(reader)
                if not isinstance(frame, dict):
                    continue
                future = self._pending.pop(frame.get("id"), None)  # type: ignore[arg-type]
                if future is None or future.done():
                    continue
                error = frame.get("error")
                if isinstance(error, dict):
                    future.set_exception(
                        RpcError(str(error.get("code")), str(error.get("message")), error.get("data") or {})
                    )
                else:
                    future.set_result(frame.get("result"))
        except (asyncio.IncompleteReadError, ConnectionError, FrameError, asyncio.CancelledError):
            pass
        finally:
            writer.close()
            if self._writer is writer:
                self._writer = None
            # Requests in flight on a broken connection have unknown outcomes.
            for request_id, future in list(self._pending.items()):
                if not future.done():
                    future.set_exception(RpcTimeout(f"connection to {self.address} lost with request in flight"))
                self._pending.pop(request_id, None)

    async def call(self, method: str, params: dict[str, Any], timeout_s: float) -> Any:
        output = await self._ensure_connected()
        request_id = next(self._ids)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = future
        try:
            output.write(encode_frame({"id": request_id, "method": method, "params": params}))
            if output.buffered_bytes() > WRITE_BUFFER_HIGH_BYTES:
                output.flush()
                await asyncio.wait_for(output.writer.drain(), timeout_s)
            return await asyncio.wait_for(future, timeout_s)
        except TimeoutError as error:
            raise RpcTimeout(f"{method} to {self.address} timed out after {timeout_s}s") from error
        except ConnectionError as error:
            raise RpcTimeout(f"{method} to {self.address}: connection lost: {error!r}") from error
        finally:
            self._pending.pop(request_id, None)

    async def notify(self, method: str, params: dict[str, Any]) -> bool:
        """Best effort: returns False when the message was dropped (peer unreachable or not reading)."""
        try:
            output = await self._ensure_connected()
        except RpcUnavailable:
            return False
        if output.buffered_bytes() > WRITE_BUFFER_HIGH_BYTES:
            return False
        try:
            output.write(encode_frame({"method": method, "params": params}))
        except (ConnectionError, FrameError):
            return False
        return True

    async def close(self) -> None:
        self._closed = True
        if self._writer is not None:
            self._writer.close()
        if self._reader_task is not None:
            await cancel_and_wait(self._reader_task)
