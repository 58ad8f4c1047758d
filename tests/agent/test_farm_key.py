"""The agent obeys only a controller that proves the farm key."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import grpc
import pytest

from renderq import farm_key
from renderq.agent import server as server_module
from renderq.agent.server import AgentServer
from renderq.v1 import agent_service_pb2 as apb
from renderq.v1 import resources_pb2
from tests.agent.conftest import FARM_KEY, Connect, FakeController, agent_config, shell, task


async def link_end_status(controller: FakeController) -> grpc.aio.AioRpcError:
    await controller.ended()
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await controller._call.read()
    return info.value


async def test_a_controller_without_the_key_is_refused_and_runs_nothing(
    agent: AgentServer, tmp_path: Path
) -> None:
    # Nothing is written after the answer to the agent's hello: a write to a link the
    # agent already ended makes grpc report INTERNAL instead of its status (grpc/grpc#36066).
    wrong = FakeController(agent.port, key=os.urandom(32))
    try:
        await wrong.connect()
        status = await link_end_status(wrong)
    finally:
        await wrong.close()
    assert status.code() == grpc.StatusCode.PERMISSION_DENIED
    assert "proves the farm key" in (status.details() or "")

    marker = tmp_path / "ran"
    pushy = FakeController(agent.port, key=os.urandom(32))
    try:
        await pushy.connect(answer=apb.LinkRequest(assign=task(5, shell(f"touch {marker}"))))
        status = await link_end_status(pushy)
    finally:
        await pushy.close()
    assert status.code() == grpc.StatusCode.PERMISSION_DENIED
    assert not marker.exists()
    assert agent._attempts is not None and agent._attempts.known_ids() == []


async def test_a_rogue_controller_does_not_displace_the_real_link(
    agent: AgentServer, connect: Connect
) -> None:
    real = await connect()
    rogue = FakeController(agent.port, key=os.urandom(32))
    try:
        await rogue.connect()
        await link_end_status(rogue)
    finally:
        await rogue.close()
    await real.assign(task(8, ["true"]))
    assert (await real.finished(8)).exit_code == 0


@pytest.fixture
def canned_probe(hardware: resources_pb2.Hardware, monkeypatch: pytest.MonkeyPatch) -> None:
    """Agents started here answer with the session's probe instead of running Blender again."""

    async def probed(config: object = None) -> resources_pb2.Hardware:
        return hardware

    monkeypatch.setattr(server_module, "probe_hardware", probed)


async def test_an_agent_never_given_the_key_refuses_and_says_why(tmp_path: Path, canned_probe: None) -> None:
    server = AgentServer(agent_config(tmp_path, join=None))
    await server.start()
    controller = FakeController(server.port)
    try:
        hello = await controller.connect()
        status = await link_end_status(controller)
    finally:
        await controller.close()
        await server.stop()
    assert hello.proof == b""
    assert status.code() == grpc.StatusCode.PERMISSION_DENIED
    assert "renderq join-token" in (status.details() or "")


async def test_the_join_token_is_kept_private_for_later_starts(tmp_path: Path, canned_probe: None) -> None:
    config = agent_config(tmp_path)
    first = AgentServer(config)
    await first.start()
    await first.stop()
    mode = stat.S_IMODE(config.key_file.stat().st_mode)
    assert mode == 0o600, oct(mode)
    again = AgentServer(agent_config(tmp_path, join=None))
    await again.start()
    await again.stop()
    assert again.farm_key == FARM_KEY == farm_key.load(config.key_file)
