"""One client connection through a proxy: two pumps (upstream, downstream) applying toxic chains.

The fast path matters: every link of a game day goes through a proxy. While a direction's
chain is inert and nothing is queued, a pump writes each read straight to the other socket
(no copy, no queue, no extra task). Only when a toxic acts does it start a writer task
that releases timed segments in order.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
from collections.abc import Callable

from chaos.toxiproxy.toxic_chain import DirectionChain
from chaos.toxiproxy.toxics import Segment, Termination, TerminationKind

READ_SIZE_BYTES = 64 * 1024
# Bounds the data a toxic may hold back per direction (in segments) before reads pause.
QUEUE_LIMIT_SEGMENTS = 256


def reset_and_close(writer: asyncio.StreamWriter) -> None:
    """Close with SO_LINGER 0: the kernel answers with a TCP RST instead of a FIN."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


class DirectionPump:
    def __init__(
        self,
        connection: ProxiedConnection,
        stream: str,
        source: asyncio.StreamReader,
        destination: asyncio.StreamWriter,
    ) -> None:
        self.connection = connection
        self.stream = stream
        self.source = source
        self.destination = destination
        self.chain = DirectionChain()
        self.queue: asyncio.Queue[Segment | Termination] = asyncio.Queue(QUEUE_LIMIT_SEGMENTS)
        self.queued_count = 0  # items put in the queue and not yet written
        self.writer_task: asyncio.Task[None] | None = None

    async def run(self) -> None:
        clock = self.connection.clock
        try:
            while not self.connection.closed:
                data = await self.source.read(READ_SIZE_BYTES)
                if self.connection.closed:
                    return
                if not data:
                    await self.enqueue(self.chain.on_end_of_stream(clock()))
                    return
                if self.queued_count == 0 and self.chain.is_inert:
                    self.destination.write(data)
                    await self.destination.drain()
                    continue
                transformed = self.chain.on_data(data, clock())
                for segment in transformed.segments:
                    await self.enqueue(segment)
                if transformed.termination is not None:
                    await self.enqueue(transformed.termination)
                    return
        except (ConnectionError, OSError):
            self.connection.terminate(TerminationKind.CLOSE, self.stream)

    async def enqueue(self, item: Segment | Termination) -> None:
        if self.writer_task is None:
            self.writer_task = asyncio.get_running_loop().create_task(self.write_queued())
            self.connection.tasks.add(self.writer_task)
        self.queued_count += 1
        await self.queue.put(item)

    async def write_queued(self) -> None:
        clock = self.connection.clock
        try:
            while not self.connection.closed:
                item = await self.queue.get()
                due_at_s = item.release_at_s if isinstance(item, Segment) else item.at_s
                wait_s = due_at_s - clock()
                if wait_s > 0:
                    await asyncio.sleep(wait_s)
                if isinstance(item, Termination):
                    self.connection.terminate(item.kind, self.stream)
                    return
                self.destination.write(item.data)
                await self.destination.drain()
                self.queued_count -= 1
        except (ConnectionError, OSError):
            self.connection.terminate(TerminationKind.CLOSE, self.stream)


class ProxiedConnection:
    def __init__(
        self,
        client: tuple[asyncio.StreamReader, asyncio.StreamWriter],
        upstream: tuple[asyncio.StreamReader, asyncio.StreamWriter],
        clock: Callable[[], float],
        on_closed: Callable[[ProxiedConnection], None],
    ) -> None:
        self.client_writer = client[1]
        self.upstream_writer = upstream[1]
        self.clock = clock
        self.on_closed = on_closed
        self.closed = False
        self.pumps = {
            "upstream": DirectionPump(self, "upstream", client[0], upstream[1]),
            "downstream": DirectionPump(self, "downstream", upstream[0], client[1]),
        }
        self.tasks: set[asyncio.Task[None]] = set()
        self.timers: list[asyncio.TimerHandle] = []

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        for pump in self.pumps.values():
            self.tasks.add(loop.create_task(pump.run()))

    def schedule(self, termination: Termination | None, stream: str) -> None:
        """A toxic asked for the connection to end at termination.at_s, whatever flows meanwhile."""
        if termination is None or self.closed:
            return
        loop = asyncio.get_running_loop()
        delay_s = termination.at_s - self.clock()
        if delay_s <= 0:
            self.terminate(termination.kind, stream)
        else:
            self.timers.append(loop.call_later(delay_s, self.terminate, termination.kind, stream))

    def terminate_now(self) -> None:
        self.terminate(TerminationKind.CLOSE, "downstream")

    def terminate(self, kind: TerminationKind, stream: str) -> None:
        """Ends both sides. A reset sends RST to the stream's destination and closes the other side."""
        if self.closed:
            return
        self.closed = True
        if kind is TerminationKind.RESET:
            reset_writer = self.upstream_writer if stream == "upstream" else self.client_writer
            other_writer = self.client_writer if stream == "upstream" else self.upstream_writer
            reset_and_close(reset_writer)
            other_writer.close()
        else:
            self.client_writer.close()
            self.upstream_writer.close()
        current = asyncio.current_task()
        for task in self.tasks:
            if task is not current:
                task.cancel()
        for timer in self.timers:
            timer.cancel()
        self.on_closed(self)
