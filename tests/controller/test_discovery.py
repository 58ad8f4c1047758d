"""The controller advertises over mDNS only the addresses its server accepts on."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from pathlib import Path

from zeroconf.asyncio import AsyncZeroconf

from renderq.controller.config import ControllerConfig
from renderq.controller.main import serve
from renderq.mdns import CONTROLLER_SERVICE, host_ipv4_addresses, listen_addresses

from .conftest import DEADLINE


async def test_a_controller_listening_on_loopback_advertises_only_loopback(tmp_path: Path) -> None:
    config = ControllerConfig(listen="127.0.0.1:0", data_dir=tmp_path, mdns=True)
    started: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    task = asyncio.create_task(serve(config, started))
    browser = AsyncZeroconf()
    try:
        async with asyncio.timeout(DEADLINE):
            port = await started
        name = f"renderq-controller-{socket.gethostname()}-{port}.{CONTROLLER_SERVICE}"
        info = await browser.async_get_service_info(CONTROLLER_SERVICE, name, timeout=int(DEADLINE * 1000))
    finally:
        await browser.async_close()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    assert info is not None, f"no answer for {name} within {DEADLINE} s"
    assert info.parsed_addresses() == ["127.0.0.1"]
    assert info.port == port


def test_listen_addresses_are_those_the_server_accepts_on() -> None:
    assert listen_addresses("127.0.0.1") == ["127.0.0.1"]
    assert listen_addresses("localhost") == ["127.0.0.1"]
    assert listen_addresses("[::1]") == ["::1"]
    assert listen_addresses("0.0.0.0") == host_ipv4_addresses()
    assert listen_addresses("") == host_ipv4_addresses()
    assert listen_addresses("no-such-host.invalid") == []
