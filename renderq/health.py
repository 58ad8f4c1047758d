"""The standard ``grpc.health.v1.Health`` service, with the life cycle both servers give it.

Load balancers, Kubernetes probes and ``grpc_health_probe`` ask it whether a server may
take work. A server answers NOT_SERVING from the moment it listens until it says it is
ready (``serving``), SERVING while it is, and NOT_SERVING for good from the moment it
begins to stop (``stopping``), so a watcher learns of a shutdown before the port closes.
The overall status (service ``""``) and each named service move together.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

SERVICE_NAME: str = health.SERVICE_NAME
"""``grpc.health.v1.Health``: callable without a token."""
STOP_NOTICE_TIMEOUT = 1.0
"""Seconds the NOT_SERVING notice may take to reach watchers before stopping goes on regardless."""


class Health:
    def __init__(self, services: Sequence[str]) -> None:
        self._services = ("", *services)
        self._servicer = health.aio.HealthServicer()

    async def add_to(self, server: grpc.aio.Server) -> None:
        """Serve the health service on ``server`` (before it starts), NOT_SERVING for now."""
        # The servicer starts with "" SERVING; nothing may read that before the server is ready.
        await self._set(health_pb2.HealthCheckResponse.NOT_SERVING)
        health_pb2_grpc.add_HealthServicer_to_server(self._servicer, server)

    async def serving(self) -> None:
        """The server is ready: SERVING (ignored once it is stopping)."""
        await self._set(health_pb2.HealthCheckResponse.SERVING)

    async def stopping(self) -> None:
        """NOT_SERVING for good, said to every watcher before the server goes away."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(STOP_NOTICE_TIMEOUT):
                await self._servicer.enter_graceful_shutdown()

    async def _set(self, status: health_pb2.HealthCheckResponse.ServingStatus) -> None:
        for service in self._services:
            await self._servicer.set(service, status)
