"""A TCP proxy the tests control, to make a real server unreachable or hang.

Outages are simulated here, never by stopping the shared PostgreSQL or Redis:
``refuse()`` closes the listening socket and cuts every open connection (so new
connections are refused), ``hang()`` accepts connections and never answers,
``restore()`` forwards again, on the same port.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from typing import Literal

Mode = Literal["forward", "refuse", "hang"]


def free_port() -> int:
    """A port nothing listens on (right now)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class TcpProxy:
    def __init__(
        self,
        *,
        host: str | None = None,
        port: int | None = None,
        unix_path: str | None = None,
    ) -> None:
        self.target_host = host
        self.target_port = port
        self.target_unix = unix_path
        self.port = free_port()
        self.mode: Mode = "forward"
        self.connections = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(
            self._handle, "127.0.0.1", self.port, reuse_address=True
        )

    async def refuse(self) -> None:
        self.mode = "refuse"
        if self._server is not None:
            self._server.close()
            self._server = None
        self._cut_connections()

    async def hang(self) -> None:
        self._cut_connections()
        self.mode = "hang"
        if self._server is None:
            await self.start()

    async def restore(self) -> None:
        self._cut_connections()
        self.mode = "forward"
        if self._server is None:
            await self.start()

    async def close(self) -> None:
        await self.refuse()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def _cut_connections(self) -> None:
        for writer in list(self._writers):
            writer.close()
        self._writers.clear()

    async def _handle(
        self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter
    ) -> None:
        self._writers.add(client_writer)
        self.connections += 1
        if self.mode == "hang":
            # Hold the connection open and say nothing until cut.
            with contextlib.suppress(Exception):
                await client_reader.read()
            return
        try:
            if self.target_unix is not None:
                upstream = await asyncio.open_unix_connection(self.target_unix)
            else:
                upstream = await asyncio.open_connection(
                    self.target_host, self.target_port
                )
        except OSError:
            client_writer.close()
            return
        server_reader, server_writer = upstream
        self._writers.add(server_writer)
        for source, sink in (
            (client_reader, server_writer),
            (server_reader, client_writer),
        ):
            task = asyncio.create_task(self._pipe(source, sink))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    @staticmethod
    async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            writer.close()
