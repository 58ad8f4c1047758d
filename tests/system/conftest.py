"""Fixtures that start real `renderq controller` and `renderq agent` processes."""

from __future__ import annotations

import shutil
import socket
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from renderq import farm_key

from .harness import DEBUG_LOG, Cli, Lan, Process, netns_available, renderq_argv, require

pytestmark = pytest.mark.system


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Farm:
    """A controller and agents on loopback, each its own OS process."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.port = free_port()
        self.controller: Process | None = None
        self.agents: dict[str, Process] = {}
        self.agent_ports: dict[str, int] = {}
        self.cli = Cli(f"127.0.0.1:{self.port}", root / "controller")
        self.token = farm_key.to_token(farm_key.load_or_create(root / "controller" / farm_key.FILE_NAME))
        """The join token of this farm's key, given to every agent it starts."""

    def start_controller(self, *extra: str) -> Process:
        addresses = [f"--agent=127.0.0.1:{p}" for p in self.agent_ports.values()]
        proc = Process(
            renderq_argv(
                "controller",
                "--listen",
                f"127.0.0.1:{self.port}",
                "--data-dir",
                str(self.root / "controller"),
                "--no-mdns",
                "--agent-timeout",
                "3",
                *addresses,
                *DEBUG_LOG,
                *extra,
            ),
            "controller",
            self.root,
        )
        proc.wait_for_line(r"renderq controller listening on")
        self.controller = proc
        return proc

    def add_agent(self, name: str) -> int:
        """Reserve a port for an agent (start it with ``start_agent``)."""
        self.agent_ports[name] = free_port()
        return self.agent_ports[name]

    def start_agent(self, name: str, *extra: str, env: dict[str, str] | None = None) -> Process:
        """Start agent ``name`` with flags ``extra``; ``env`` adds to its environment (which
        its tasks inherit, so it can make one node differ from the others)."""
        proc = Process(
            renderq_argv(
                "agent",
                "--listen",
                f"127.0.0.1:{self.agent_ports[name]}",
                "--data-dir",
                str(self.root / name),
                "--no-mdns",
                "--heartbeat-interval",
                "0.5",
                "--join",
                self.token,
                *DEBUG_LOG,
                *extra,
            ),
            name,
            self.root,
            env,
        )
        match = proc.wait_for_line(r"renderq agent (\S+) listening on")
        proc.agent_id = match.group(1)
        self.agents[name] = proc
        return proc

    def stop(self) -> None:
        for proc in [*self.agents.values(), *([self.controller] if self.controller else [])]:
            proc.stop()


@pytest.fixture
def farm_factory(tmp_path: Path) -> Iterator[Callable[[], Farm]]:
    farms: list[Farm] = []

    def make() -> Farm:
        root = tmp_path / f"farm{len(farms)}"
        root.mkdir()
        farm = Farm(root)
        farms.append(farm)
        return farm

    yield make
    for farm in farms:
        farm.stop()


@pytest.fixture
def blender() -> str:
    path = shutil.which("blender")
    require(path is not None, "blender (Debian package blender)")
    assert path is not None
    return path


@pytest.fixture(scope="module")
def lan() -> Iterator[Lan]:
    require(netns_available(), "root and iproute2 for network namespaces")
    network = Lan()
    try:
        network.create(["ctl", "a1", "a2"])
        yield network
    finally:
        network.destroy()
