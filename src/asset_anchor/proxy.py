"""The client's address and scheme, as told by the proxies we trust.

Behind a proxy the TCP peer is the proxy; the client is in ``X-Forwarded-For``.
That header is a list anyone can start: each proxy appends the address it saw,
so only the entries our own proxies wrote can be believed, and they are at the
right-hand end. With ``FORWARDED_HOPS`` proxies in front of the service, the
client is the entry that many places from the right; anything to its left
was written by the client and is ignored. The headers are read only when the
peer is in ``FORWARDED_ALLOW_IPS``, so a client that reaches the service
directly cannot claim another address at all.

The address found here feeds the per-address rate limits and lockouts and
every security event, which is why it must not be the left-most entry.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from starlette.types import ASGIApp, Receive, Scope, Send

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_trusted(spec: str) -> tuple[bool, list[Network]]:
    """``FORWARDED_ALLOW_IPS``: ``*`` (any peer), or IPs and CIDRs by commas."""
    items = [item.strip() for item in spec.split(",") if item.strip()]
    if "*" in items:
        return True, []
    return False, [ipaddress.ip_network(item, strict=False) for item in items]


def client_from_forwarded(values: Iterable[str], hops: int) -> str | None:
    """The address ``hops`` places from the right of the ``X-Forwarded-For`` list.

    Fewer entries than hops means a proxy of ours wrote the whole list, so its
    first entry is the client. An entry that is not an IP address (``unknown``,
    garbage) gives None: the peer's address is kept then.
    """
    entries = [
        entry.strip() for value in values for entry in value.split(",") if entry.strip()
    ]
    if not entries:
        return None
    candidate = entries[-hops] if len(entries) >= hops else entries[0]
    try:
        return str(ipaddress.ip_address(candidate.strip("[]")))
    except ValueError:
        return None


class ForwardedHeadersMiddleware:
    """Rewrite the ASGI scope's client and scheme from trusted proxy headers."""

    def __init__(self, app: ASGIApp, *, trusted: str, hops: int) -> None:
        self.app = app
        self.trust_all, self.networks = parse_trusted(trusted)
        self.hops = hops

    def _trusted(self, peer: str) -> bool:
        if self.trust_all:
            return True
        try:
            address = ipaddress.ip_address(peer)
        except ValueError:
            return False
        return any(address in network for network in self.networks)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            peer = scope.get("client")
            if peer is not None and self._trusted(peer[0]):
                scope = dict(scope)
                self._apply(scope)
        await self.app(scope, receive, send)

    def _apply(self, scope: Scope) -> None:
        forwarded_for: list[str] = []
        proto: str | None = None
        for name, value in scope["headers"]:
            if name == b"x-forwarded-for":
                forwarded_for.append(value.decode("latin-1"))
            elif name == b"x-forwarded-proto":
                proto = value.decode("latin-1").split(",")[-1].strip().lower()
        client = client_from_forwarded(forwarded_for, self.hops)
        if client is not None:
            scope["client"] = (client, 0)
        if proto in ("http", "https"):
            if scope["type"] == "websocket":
                proto = {"http": "ws", "https": "wss"}[proto]
            scope["scheme"] = proto
