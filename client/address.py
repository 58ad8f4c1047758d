"""Where the controller is: an explicit address, else the environment, else mDNS.

Zero-config on a LAN (the controller advertises ``_renderq._tcp``), explicit where
multicast does not reach (routed networks, SSH tunnels, cloud).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
from collections.abc import Awaitable, Callable, Mapping

from zeroconf import IPVersion, ServiceStateChange, Zeroconf
from zeroconf.asyncio import AsyncServiceBrowser, AsyncServiceInfo, AsyncZeroconf

from renderq.client.errors import ControllerNotFound, InvalidArgument
from renderq.mdns import CONTROLLER_SERVICE

log = logging.getLogger(__name__)

ENV_VAR = "RENDERQ_CONTROLLER"
BROWSE_SECONDS = 3.0

Browser = Callable[[float], Awaitable[str | None]]
"""Looks for a controller for up to the given seconds; returns ``host:port`` or None."""

_HOST_PORT = re.compile(r"^(\[[^\]\s]+\]|[^\s:\[\]]+):\d{1,5}$")


async def resolve_controller(
    flag: str | None,
    environ: Mapping[str, str] = os.environ,
    browse: Browser | None = None,
) -> str:
    """The controller's ``host:port``: ``flag``, else ``$RENDERQ_CONTROLLER``, else mDNS."""
    if flag:
        return _checked(flag, "--controller")
    if environ.get(ENV_VAR):
        return _checked(environ[ENV_VAR], ENV_VAR)
    address = await (browse or browse_mdns)(BROWSE_SECONDS)
    if address is None:
        raise ControllerNotFound(
            f"no controller found over mDNS; pass --controller HOST:PORT or set {ENV_VAR}"
        )
    return address


def _checked(address: str, origin: str) -> str:
    if not _HOST_PORT.match(address.strip()):
        raise InvalidArgument(f"{origin}: {address!r} is not HOST:PORT (for example 10.0.0.5:7420)")
    return address.strip()


async def browse_mdns(seconds: float) -> str | None:
    """The first controller that answers on the LAN within ``seconds``, or None."""
    names: asyncio.Queue[str] = asyncio.Queue()

    def on_change(zeroconf: Zeroconf, service_type: str, name: str, state_change: ServiceStateChange) -> None:
        if state_change is ServiceStateChange.Added:
            names.put_nowait(name)

    try:
        async with AsyncZeroconf(ip_version=IPVersion.V4Only) as zc:
            browser = AsyncServiceBrowser(zc.zeroconf, CONTROLLER_SERVICE, handlers=[on_change])
            try:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(seconds):
                        while True:
                            address = await _resolve(zc.zeroconf, await names.get(), seconds)
                            if address:
                                return address
            finally:
                await browser.async_cancel()
    except OSError as error:
        # No multicast-capable interface (containers, some VPNs): same outcome as silence.
        log.debug("mdns browse failed error=%s", error)
    return None


async def _resolve(zeroconf: Zeroconf, name: str, seconds: float) -> str | None:
    info = AsyncServiceInfo(CONTROLLER_SERVICE, name)
    if not await info.async_request(zeroconf, int(seconds * 1000)) or not info.port:
        return None
    addresses = info.parsed_addresses(IPVersion.V4Only)
    if not addresses:
        return None
    host = addresses[0]
    log.debug("controller found over mdns name=%s host=%s port=%d", name, host, info.port)
    return f"{host}:{info.port}"
