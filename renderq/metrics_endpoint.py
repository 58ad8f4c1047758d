"""The Prometheus endpoint both servers serve with ``--metrics-listen HOST:PORT``.

A minimal HTTP/1.1 server on the event loop answers ``GET /metrics`` with the text
format (or OpenMetrics, when the scraper asks for it). Not prometheus_client's
``start_http_server``: that one answers from a thread, and the collectors read the
server's live state (the farm's records, the agent's outbox), which only the event loop
may touch. Answering on the loop needs no lock anywhere, a scrape sees one consistent
moment, and it costs the loop the few milliseconds a collection takes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder
from prometheus_client.metrics_core import InfoMetricFamily

from renderq import __version__

log = logging.getLogger(__name__)

PATH = "/metrics"
REQUEST_TIMEOUT = 10.0
"""Seconds a client has to send its request head; a silent one is dropped."""
MAX_HEAD_BYTES = 16 << 10
"""Most bytes of a request head (request line and headers); a scrape sends a few hundred."""


class MetricsListenError(Exception):
    """The endpoint cannot listen on the address it was given; the message says why."""


def split_listen(listen: str) -> tuple[str, int]:
    """``host:port`` (``[::1]:9464`` for IPv6) into its parts; raises MetricsListenError."""
    host, colon, port = listen.rpartition(":")
    if not colon or not port.isdigit() or int(port) > 65535:
        raise MetricsListenError(f"the metrics address {listen!r} must be host:port, e.g. 0.0.0.0:9464")
    return host.removeprefix("[").removesuffix("]"), int(port)


def build_info(role: str) -> InfoMetricFamily:
    """``renderq_build_info{role, version} 1``: which server and release a scrape came from."""
    return InfoMetricFamily(
        "renderq_build", "The renderq release of this server.", value={"role": role, "version": __version__}
    )


class MetricsEndpoint:
    """Serves one registry (one per server process, so tests may run several servers in one)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.port = 0
        self._server: asyncio.Server | None = None

    async def start(self, listen: str) -> int:
        """Listen on ``listen``; the port (port 0 picks a free one). Raises MetricsListenError."""
        host, port = split_listen(listen)
        try:
            self._server = await asyncio.start_server(self._answer, host or None, port, limit=MAX_HEAD_BYTES)
        except OSError as exc:
            raise MetricsListenError(f"cannot serve metrics on {listen}: {exc.strerror or exc}") from None
        self.port = int(self._server.sockets[0].getsockname()[1])
        return self.port

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def _answer(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """One request, one answer, then the connection closes (scrapers reconnect freely)."""
        try:
            async with asyncio.timeout(REQUEST_TIMEOUT):
                head = await reader.readuntil(b"\r\n\r\n")
            writer.write(self._response(head.decode("latin-1")))
            await writer.drain()
        except (TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    def _response(self, head: str) -> bytes:
        """The whole HTTP response to the request whose head is ``head``."""
        request_line, *header_lines = head.split("\r\n")
        method, _, rest = request_line.partition(" ")
        target = rest.partition(" ")[0].partition("?")[0]
        headers = {}
        for line in header_lines:
            name, colon, value = line.partition(":")
            if colon:
                headers[name.strip().lower()] = value.strip()
        if method not in ("GET", "HEAD"):
            return _http("405 Method Not Allowed", b"only GET\n", extra="Allow: GET, HEAD\r\n")
        if target not in (PATH, "/"):
            return _http("404 Not Found", f"metrics are at {PATH}\n".encode())
        encode, content_type = choose_encoder(headers.get("accept", ""))
        body = encode(self.registry)
        return _http("200 OK", body, content_type, head_only=method == "HEAD")


def _http(
    status: str,
    body: bytes,
    content_type: str = "text/plain; charset=utf-8",
    *,
    extra: str = "",
    head_only: bool = False,
) -> bytes:
    head = (
        f"HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {len(body)}\r\n"
        f"{extra}Connection: close\r\n\r\n"
    )
    return head.encode("latin-1") + (b"" if head_only else body)
