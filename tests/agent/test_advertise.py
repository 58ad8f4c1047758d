"""The agent's mDNS advertisement, looked up by a second zeroconf instance on this host."""

from __future__ import annotations

from pathlib import Path

from zeroconf.asyncio import AsyncZeroconf

from renderq import __version__
from renderq.agent.advertise import advertised_addresses
from renderq.agent.server import AgentServer
from renderq.mdns import AGENT_SERVICE
from tests.agent.conftest import DEADLINE, agent_config


async def test_agent_advertises_itself_over_mdns(tmp_path: Path) -> None:
    server = AgentServer(agent_config(tmp_path, mdns=True, advertise_address="127.0.0.1", slots=3))
    await server.start()
    browser = AsyncZeroconf()
    try:
        name = f"{server.agent_id}.{AGENT_SERVICE}"
        info = await browser.async_get_service_info(AGENT_SERVICE, name, timeout=int(DEADLINE * 1000))
    finally:
        await browser.async_close()
        await server.stop()

    assert info is not None, f"no answer for {name} within {DEADLINE} s"
    assert info.port == server.port
    assert info.parsed_addresses() == ["127.0.0.1"]
    assert info.decoded_properties == {
        "id": server.agent_id,
        "version": __version__,
        "port": str(server.port),
        "slots": "3",
        "pool": "test-pool",
        "tags": "fast,test",
    }


def test_advertised_addresses_follow_the_settings(tmp_path: Path) -> None:
    config = agent_config(tmp_path)

    assert advertised_addresses(agent_config(tmp_path, advertise_address="10.1.2.3"), "0.0.0.0") == [
        "10.1.2.3"
    ]
    assert advertised_addresses(config, "192.168.7.7") == ["192.168.7.7"]
    found = advertised_addresses(config, "0.0.0.0")
    assert found
    assert "127.0.0.1" not in found or found == ["127.0.0.1"]
