"""A loopback TCP proxy that a test cuts, to take a shared server (PostgreSQL) away from the
processes under test without touching it."""

from __future__ import annotations

import asyncio
import threading


class TcpProxy:
    """Loopback TCP proxy to (host, port) in a thread of its own, to take a server away from the
    processes that use it without touching the (shared) server: `cut()` aborts every connection
    (RST: the peer sees it die, as when the server restarts) and stops listening, so that new
    connections are refused; `restore()` listens again on the same port. `hold_replies()` stops
    passing the server's bytes to the clients (the server still gets theirs) until the next cut or
    restore: a request the server has carried out whose answer never arrives.

        proxy = TcpProxy("127.0.0.1", 5432).start()
        url = make_url(database_url()).set(host="127.0.0.1", port=proxy.port)
    """

    def __init__(self, host: str, port: int):
        self.target = (host, port)
        self.port = 0
        self.loop = asyncio.new_event_loop()
        self.server = None
        self.writers: set = set()
        self.connections = 0
        self.replies = asyncio.Event()  # set: the server's bytes flow to the clients
        self.loop.call_soon_threadsafe(self.replies.set)
        threading.Thread(target=self.loop.run_forever, daemon=True).start()

    def _call(self, coro):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(10)

    async def _pipe(self, reader, writer, replies: bool = False):
        try:
            while data := await reader.read(65536):
                if replies:
                    await self.replies.wait()
                writer.write(data)
                await writer.drain()
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    async def _handle(self, client_reader, client_writer):
        try:
            server_reader, server_writer = await asyncio.open_connection(*self.target)
        except OSError:
            client_writer.close()
            return
        if not self.server.is_serving():  # cut while this connection was being set up
            client_writer.transport.abort()
            server_writer.transport.abort()
            return
        self.connections += 1
        self.writers |= {client_writer, server_writer}
        await asyncio.gather(
            self._pipe(client_reader, server_writer), self._pipe(server_reader, client_writer, replies=True)
        )
        self.writers -= {client_writer, server_writer}

    async def _start(self):
        self.replies.set()
        if self.server is not None and self.server.is_serving():
            return
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", self.port, reuse_address=True)
        self.port = self.server.sockets[0].getsockname()[1]

    async def _cut(self):
        self.server.close()
        for writer in list(self.writers):
            transport = writer.transport
            if transport is not None:
                transport.abort()  # RST: the peer sees the connection die, not a polite close
        self.writers.clear()
        self.replies.set()  # the held pipes see their writers gone and end
        await self.server.wait_closed()

    def start(self) -> TcpProxy:
        self._call(self._start())
        return self

    def cut(self) -> None:
        self._call(self._cut())

    def hold_replies(self) -> None:
        self.loop.call_soon_threadsafe(self.replies.clear)

    def restore(self) -> None:
        """Listen again on the same port (nothing if it is listening)."""
        self.start()

    def close(self) -> None:
        try:
            self._call(self._cut())
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
