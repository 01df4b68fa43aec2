"""A Postmark stand-in on a loopback port, for worker processes under test.

It speaks just enough HTTP/1.1 for httpx: one request per connection, a JSON
answer. ``hang_next`` makes the next requests wait forever (a provider that
never answers); ``delay_seconds`` makes every answer late.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid

from tests.support.proxy import free_port


class FakePostmarkServer:
    def __init__(self) -> None:
        self.port = free_port()
        self.received: list[dict[str, object]] = []
        self.answered: list[dict[str, object]] = []
        self.hang_next = 0
        self.delay_seconds = 0.0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for writer in list(self._writers):
            writer.close()

    async def wait_for_requests(self, count: int, seconds: float = 30) -> None:
        async with asyncio.timeout(seconds):
            while len(self.received) < count:
                await asyncio.sleep(0.05)

    async def _handle(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self._writers.add(writer)
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.decode("latin-1").split("\r\n"):
                name, _, value = line.partition(":")
                if name.strip().lower() == "content-length":
                    length = int(value.strip())
            body = json.loads(await reader.readexactly(length)) if length else {}
            self.received.append(body)
            if self.hang_next > 0:
                self.hang_next -= 1
                await reader.read()  # until the client goes away
                return
            await asyncio.sleep(self.delay_seconds)
            payload = json.dumps(
                {"ErrorCode": 0, "Message": "OK", "MessageID": str(uuid.uuid4())}
            ).encode()
            status_line = (
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(payload)}\r\nConnection: close\r\n\r\n"
            )
            writer.write(status_line.encode() + payload)
            await writer.drain()
            self.answered.append(body)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            with contextlib.suppress(Exception):
                writer.close()
            self._writers.discard(writer)


async def _serve(port: int, delay_seconds: float) -> None:
    server = FakePostmarkServer()
    server.port = port
    server.delay_seconds = delay_seconds
    await server.start()
    await asyncio.Event().wait()


if __name__ == "__main__":
    # A process of its own, so that a benchmark's worker does not share its
    # CPU with the fake: python -m tests.support.fake_postmark PORT DELAY_MS
    import sys

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(int(sys.argv[1]), int(sys.argv[2]) / 1000))
