"""Zero-config: find agents over mDNS and advertise the controller.

Finding an agent only means dialling it; mDNS grants no trust (the link does that).
"""

from __future__ import annotations

import asyncio
import logging
import socket

from zeroconf import IPVersion, ServiceStateChange, Zeroconf
from zeroconf.asyncio import AsyncServiceBrowser, AsyncServiceInfo, AsyncZeroconf

import renderq
from renderq.controller.links import LinkManager
from renderq.mdns import AGENT_SERVICE, CONTROLLER_SERVICE, service_info

log = logging.getLogger(__name__)

RESOLVE_TIMEOUT_MS = 3000


class Discovery:
    def __init__(self, links: LinkManager, port: int, addresses: list[str]) -> None:
        self.links = links
        self.port = port
        self.addresses = addresses
        """What the controller advertises: only addresses its server accepts on."""
        self._zc: AsyncZeroconf | None = None
        self._browser: AsyncServiceBrowser | None = None
        self._pending: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        self._zc = AsyncZeroconf(ip_version=IPVersion.V4Only)
        info = service_info(
            CONTROLLER_SERVICE,
            f"renderq-controller-{socket.gethostname()}-{self.port}",
            self.port,
            {"version": renderq.__version__, "id": self.links.controller_id},
            self.addresses,
        )
        await self._zc.async_register_service(info, allow_name_change=True)
        self._browser = AsyncServiceBrowser(self._zc.zeroconf, AGENT_SERVICE, handlers=[self._on_change])
        log.info(
            "mDNS browsing service=%s advertising addresses=%s port=%d",
            AGENT_SERVICE,
            ",".join(self.addresses),
            self.port,
        )

    def _on_change(
        self, zeroconf: Zeroconf, service_type: str, name: str, state_change: ServiceStateChange
    ) -> None:
        if state_change in (ServiceStateChange.Added, ServiceStateChange.Updated):
            task = asyncio.get_running_loop().create_task(self._resolve(service_type, name))
            self._pending.add(task)
            task.add_done_callback(self._pending.discard)

    async def _resolve(self, service_type: str, name: str) -> None:
        assert self._zc is not None
        info = AsyncServiceInfo(service_type, name)
        if not await info.async_request(self._zc.zeroconf, RESOLVE_TIMEOUT_MS) or not info.port:
            log.warning("mDNS agent did not resolve name=%s", name)
            return
        props = {k.decode(): (v or b"").decode() for k, v in info.properties.items()}
        addresses = [f"{a}:{info.port}" for a in info.parsed_addresses(IPVersion.V4Only)]
        if addresses:
            log.info(
                "mDNS found agent name=%s agent=%s addresses=%s",
                name,
                props.get("id", "?"),
                ",".join(addresses),
            )
            self.links.dial(addresses, props.get("id", ""))

    async def close(self) -> None:
        for task in self._pending:
            task.cancel()
        if self._browser is not None:
            await self._browser.async_cancel()
        if self._zc is not None:
            await self._zc.async_unregister_all_services()
            await self._zc.async_close()
