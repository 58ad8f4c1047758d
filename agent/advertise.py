"""Announcing the agent over mDNS, so a controller on the LAN finds it with no setup.

Plugging a node in and starting the agent is the whole setup: the controller browses
``_renderq-agent._tcp`` and dials what it finds. The TXT record carries what the
controller needs before the first dial (id, port, slots, pool, tags).
"""

from __future__ import annotations

import ipaddress
import logging

from zeroconf import NonUniqueNameException
from zeroconf.asyncio import AsyncZeroconf

from renderq import __version__
from renderq.agent.config import AgentConfig
from renderq.mdns import AGENT_SERVICE, listen_addresses, service_info

log = logging.getLogger(__name__)


def advertised_addresses(config: AgentConfig, listen_host: str) -> list[str]:
    """The addresses to announce: the configured one, else those the agent listens on.

    Raises ValueError when ``config.advertise_address`` is not an IP address.
    """
    if config.advertise_address:
        try:
            return [str(ipaddress.ip_address(config.advertise_address))]
        except ValueError:
            raise ValueError(
                f"the advertise address {config.advertise_address!r} is not an IP address (like 192.168.1.20)"
            ) from None
    return listen_addresses(listen_host)


class Advertiser:
    def __init__(self, agent_id: str, port: int, config: AgentConfig, addresses: list[str]) -> None:
        properties = {
            "id": agent_id,
            "version": __version__,
            "port": str(port),
            "slots": str(config.slots),
            "pool": config.pool,
            "tags": ",".join(config.tags),
        }
        self._info = service_info(AGENT_SERVICE, agent_id, port, properties, addresses)
        self._zeroconf: AsyncZeroconf | None = None

    async def start(self) -> None:
        """Register the service; a LAN without multicast only costs a warning."""
        self._zeroconf = AsyncZeroconf()
        try:
            await (await self._zeroconf.async_register_service(self._info))
        except NonUniqueNameException:
            log.warning(
                "another agent on the LAN advertises this id (was its agent-id file copied?) name=%s",
                self._info.name,
            )
            return
        except OSError as exc:
            log.warning("cannot advertise over mDNS error=%s", exc)
            return
        log.info(
            "advertising over mDNS name=%s addresses=%s",
            self._info.name, ",".join(self._info.parsed_addresses()),
        )  # fmt: skip

    async def stop(self) -> None:
        """Withdraw the service (goodbye packets) and close the sockets."""
        if self._zeroconf is not None:
            await self._zeroconf.async_close()
            self._zeroconf = None
