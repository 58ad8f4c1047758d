"""mDNS names and addresses shared by everything that advertises or browses.

Agents advertise ``_renderq-agent._tcp``; the controller browses for them and
advertises ``_renderq._tcp`` so the CLI and TUI find it with no flags.
"""

from __future__ import annotations

import ipaddress
import socket

import psutil
from zeroconf import ServiceInfo

AGENT_SERVICE = "_renderq-agent._tcp.local."
CONTROLLER_SERVICE = "_renderq._tcp.local."


def host_ipv4_addresses() -> list[str]:
    """This host's IPv4 addresses other than loopback; 127.0.0.1 if it has none."""
    found = [
        a.address
        for addrs in psutil.net_if_addrs().values()
        for a in addrs
        if a.family == socket.AF_INET and not ipaddress.ip_address(a.address).is_loopback
    ]
    return found or ["127.0.0.1"]


ANY_HOST = frozenset({"", "0.0.0.0", "::", "[::]", "*"})
"""Listen hosts that mean every interface of this host."""


def listen_addresses(listen_host: str) -> list[str]:
    """The IPv4 addresses a server bound to ``listen_host`` accepts connections on.

    Only these may be advertised: a client that finds any other gets "connection
    refused". Every interface: this host's addresses; an IP: that one; a name such as
    ``localhost``: what it resolves to.
    """
    if listen_host in ANY_HOST:
        return host_ipv4_addresses()
    host = listen_host.strip("[]")
    try:
        return [str(ipaddress.ip_address(host))]
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, None, socket.AF_INET, socket.SOCK_STREAM)
    except OSError:
        return []
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def service_info(
    service: str, instance: str, port: int, properties: dict[str, str], addresses: list[str]
) -> ServiceInfo:
    """A ServiceInfo for ``instance`` of ``service`` at ``addresses``.

    The host record is named after the instance, not the host: nodes cloned from one
    image (or network namespaces on one machine) share a host name, and their address
    records would merge under it.
    """
    return ServiceInfo(
        service,
        f"{instance}.{service}",
        port=port,
        properties=properties,
        parsed_addresses=addresses,
        server=f"{instance}.local.",
    )
