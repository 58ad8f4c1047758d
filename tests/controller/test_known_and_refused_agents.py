"""The controller redials every agent it knows, forgets one on request, backs off from
agents that refuse the farm key, and lists those without details they never proved."""

from __future__ import annotations

import logging
from pathlib import Path

import grpc
import pytest

from renderq.controller.links import REFUSED_BACKOFF_MAX, Backoff, Outcome
from renderq.v1 import agent_service_pb2_grpc as agrpc
from renderq.v1 import farm_service_pb2 as fpb
from renderq.v1 import resources_pb2 as pb

from .conftest import ScriptedAgent, farm_client, start_controller, stop_controller, until_agent
from .test_api import refused


async def test_an_agent_known_from_before_is_redialled_after_a_restart_without_flags_or_mdns(
    tmp_path: Path, scripted_agent: ScriptedAgent
) -> None:
    task, port = await start_controller(tmp_path, [scripted_agent.address])
    async with farm_client(tmp_path, port) as stub:
        await until_agent(stub, "online", lambda a: a.status == pb.AGENT_STATUS_ONLINE)
    await stop_controller(task)

    task, port = await start_controller(tmp_path, [])  # no --agent, no mDNS
    async with farm_client(tmp_path, port) as stub:
        agent = await until_agent(stub, "online again", lambda a: a.status == pb.AGENT_STATUS_ONLINE)
    await stop_controller(task)
    assert agent.id == scripted_agent.agent_id
    assert scripted_agent.links == 2


async def test_a_forgotten_agent_is_gone_for_good_and_never_dialled_again(
    tmp_path: Path, scripted_agent: ScriptedAgent, caplog: pytest.LogCaptureFixture
) -> None:
    task, port = await start_controller(tmp_path, [scripted_agent.address])
    async with farm_client(tmp_path, port) as stub:
        await until_agent(stub, "online", lambda a: a.status == pb.AGENT_STATUS_ONLINE)
        details = await refused(
            stub.ForgetAgent(fpb.ForgetAgentRequest(agent_id=scripted_agent.agent_id)),
            grpc.StatusCode.FAILED_PRECONDITION,
        )
        assert "is online" in details
        scripted_agent.accepting = False
        scripted_agent.drop_link()
        await until_agent(stub, "offline", lambda a: a.status == pb.AGENT_STATUS_OFFLINE)
        await stub.ForgetAgent(fpb.ForgetAgentRequest(agent_id=scripted_agent.agent_id))
        assert not (await stub.ListAgents(fpb.ListAgentsRequest())).agents
        await refused(
            stub.ForgetAgent(fpb.ForgetAgentRequest(agent_id=scripted_agent.agent_id)),
            grpc.StatusCode.NOT_FOUND,
        )
    await stop_controller(task)

    caplog.clear()
    with caplog.at_level(logging.INFO, logger="renderq.controller"):
        task, port = await start_controller(tmp_path, [])
    async with farm_client(tmp_path, port) as stub:
        assert not (await stub.ListAgents(fpb.ListAgentsRequest())).agents
    await stop_controller(task)
    dials = [r.getMessage() for r in caplog.records if r.getMessage().startswith("dialling agent")]
    assert not dials, dials


async def test_a_refused_agent_is_listed_without_what_it_did_not_prove(tmp_path: Path) -> None:
    stranger = ScriptedAgent(agent_id="stranger-1", key=None)
    server = grpc.aio.server()
    agrpc.add_AgentServiceServicer_to_server(stranger, server)
    address = f"127.0.0.1:{server.add_insecure_port('127.0.0.1:0')}"
    await server.start()
    task, port = await start_controller(tmp_path, [address])
    try:
        async with farm_client(tmp_path, port) as stub:
            agent = await until_agent(stub, "refused", lambda a: bool(a.problem))
    finally:
        await stop_controller(task)
        await server.stop(grace=None)
    assert "no farm key" in agent.problem
    assert (agent.id, agent.address) == ("stranger-1", address)
    assert agent.hardware == pb.Hardware()
    assert (agent.slots, agent.pool, list(agent.tags)) == (0, "", [])


def test_dials_back_off_to_minutes_from_a_refusing_agent_and_stay_brisk_for_one_that_is_down() -> None:
    backoff = Backoff()
    refusals = [backoff.after([Outcome.REFUSED]) for _ in range(8)]
    assert refusals[0] >= 10
    assert refusals == sorted(refusals)
    assert refusals[-1] == REFUSED_BACKOFF_MAX >= 120
    assert backoff.after([Outcome.LINKED]) < 1
    down = [backoff.after([Outcome.FAILED]) for _ in range(8)]
    assert max(down) <= 5
    # An agent found at two addresses, refusing at one and down at the other, may yet come back.
    assert Backoff().after([Outcome.REFUSED, Outcome.FAILED]) < 1
