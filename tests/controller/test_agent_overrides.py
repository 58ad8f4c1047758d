"""SetAgentOverrides: an operator's slots, tags, pool and cost win over what the agent
announces, at once, across a restart of the controller and a new hello of the agent;
clearing one hands the setting back to the agent."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf import field_mask_pb2

from renderq.agent import server as agent_server
from renderq.agent.config import AgentConfig
from renderq.agent.server import AgentServer
from renderq.v1 import agent_service_pb2_grpc as agrpc
from renderq.v1 import farm_service_pb2 as fpb
from renderq.v1 import farm_service_pb2_grpc as fgrpc
from renderq.v1 import resources_pb2 as pb

from ..agent.conftest import agent_config
from ..waiting import until
from .conftest import (
    ScriptedAgent,
    farm_client,
    start_controller,
    stop_controller,
    until_agent,
    until_agent_online,
)
from .test_api import refused
from .test_auth import make_token
from .test_link_protocol import command_job

AGENT = "scripted-1"


def override(
    stub: fgrpc.FarmServiceStub,
    paths: list[str],
    agent_id: str = AGENT,
    tags: list[str] | None = None,
    **values: object,
) -> Awaitable[fpb.SetAgentOverridesResponse]:
    """Override (or clear, for a path without a value) the settings ``paths`` names."""
    settings = pb.AgentSettings(**values)  # type: ignore[arg-type]
    if tags is not None:
        settings.tags.SetInParent()
        settings.tags.tags.extend(tags)
    request = fpb.SetAgentOverridesRequest(
        agent_id=agent_id, overrides=settings, update_mask=field_mask_pb2.FieldMask(paths=paths)
    )
    return stub.SetAgentOverrides(request)


async def get_agent(stub: fgrpc.FarmServiceStub, agent_id: str = AGENT) -> pb.Agent:
    return (await stub.GetAgent(fpb.GetAgentRequest(agent_id=agent_id))).agent


def settings_of(agent: pb.Agent) -> tuple[int, str, list[str], float]:
    return agent.slots, agent.pool, list(agent.tags), agent.cost_per_hour


async def create(stub: fgrpc.FarmServiceStub, job: pb.Job) -> pb.Job:
    """Accepted even when no agent could run it yet: an override may change that."""
    return (await stub.CreateJob(fpb.CreateJobRequest(job=job, allow_unmatched=True))).job


async def test_a_tags_override_lets_a_job_needing_the_tag_start_and_a_reset_takes_it_away(
    farm_stub: fgrpc.FarmServiceStub, scripted_agent: ScriptedAgent
) -> None:
    await until_agent_online(farm_stub)
    needy = command_job(frames="1", chunk=1)
    needy.requirements.tags.append("x")
    job = await create(farm_stub, needy)
    why = await farm_stub.ExplainJob(fpb.ExplainJobRequest(job_id=job.id))
    (verdict,) = why.agents
    assert "tag 'x'" in verdict.reason and "has no tags" in verdict.reason, verdict.reason

    agent = (await override(farm_stub, ["tags"], tags=["x", "fast"])).agent
    assert list(agent.tags) == ["x", "fast"]
    assert (list(agent.overrides.tags.tags), list(agent.announced.tags.tags)) == (["x", "fast"], [])
    assign = (await scripted_agent.next_request("assign")).assign
    assert assign.job_id == job.id, "the job started on the agent as soon as it had the tag"

    cleared = (await override(farm_stub, ["tags"])).agent
    assert list(cleared.tags) == [] and not cleared.overrides.HasField("tags")
    emptied = (await override(farm_stub, ["tags"], tags=[])).agent
    assert emptied.overrides.HasField("tags") and list(emptied.tags) == [], "an empty list is an override"


async def test_a_slots_override_runs_more_tasks_at_once_and_a_reset_restores_the_announced_slots(
    farm_stub: fgrpc.FarmServiceStub, scripted_agent: ScriptedAgent
) -> None:
    await until_agent_online(farm_stub)
    job = await create(farm_stub, command_job(frames="1-4", chunk=1))
    first = [(await scripted_agent.next_request("assign")).assign for _ in range(2)]
    assert (await get_agent(farm_stub)).slots_used == 2, "the agent announced 2 slots"

    agent = (await override(farm_stub, ["slots"], slots=4)).agent
    assert (agent.slots, agent.overrides.slots, agent.announced.slots) == (4, 4, 2)
    more = [(await scripted_agent.next_request("assign")).assign for _ in range(2)]
    assert {a.job_id for a in first + more} == {job.id}
    assert len({a.task_id for a in first + more}) == 4, "four tasks run at once"

    restored = (await override(farm_stub, ["slots"])).agent
    assert (restored.slots, restored.overrides.HasField("slots")) == (2, False)
    assert restored.slots_used == 4, "lowering the slots stops nothing that runs"


async def test_pool_and_cost_overrides_are_in_force_at_once_and_reset_together(
    farm_stub: fgrpc.FarmServiceStub, scripted_agent: ScriptedAgent
) -> None:
    await until_agent_online(farm_stub)
    pooled = command_job(frames="1", chunk=1)
    pooled.pool = "gpu"
    job = await create(farm_stub, pooled)

    agent = (await override(farm_stub, ["pool", "cost_per_hour"], pool="gpu", cost_per_hour=2.5)).agent
    assert settings_of(agent) == (2, "gpu", [], 2.5)
    assert (agent.announced.pool, agent.announced.cost_per_hour) == ("default", 0.0)
    assign = (await scripted_agent.next_request("assign")).assign
    assert assign.job_id == job.id, "the agent took the job of its new pool"

    everything = ["slots", "tags", "pool", "cost_per_hour"]
    reset = (await override(farm_stub, everything)).agent
    assert settings_of(reset) == (2, "default", [], 0.0)
    assert reset.overrides == pb.AgentSettings()


async def test_a_cost_override_makes_the_scheduler_prefer_the_agent_now_cheaper(
    tmp_path: Path, scripted_agent: ScriptedAgent
) -> None:
    async with scripted(ScriptedAgent(agent_id="scripted-2")) as other:
        task, port = await start_controller(tmp_path, [scripted_agent.address, other.address])
        async with farm_client(tmp_path, port) as stub:
            for agent_id in (AGENT, other.agent_id):
                await until_agent(stub, f"{agent_id} online", online(agent_id))
            await override(stub, ["cost_per_hour"], cost_per_hour=5.0)
            first = await create(stub, command_job(frames="1", chunk=1))
            assert (await other.next_request("assign")).assign.job_id == first.id
            # The other agent now has fewer free slots, yet stays the cheaper one.
            await override(stub, ["cost_per_hour"], other.agent_id, cost_per_hour=1.0)
            second = await create(stub, command_job(frames="1", chunk=1))
            assert (await other.next_request("assign")).assign.job_id == second.id
            await override(stub, ["cost_per_hour"])  # back to the 0 it announced
            third = await create(stub, command_job(frames="1", chunk=1))
            assert (await scripted_agent.next_request("assign")).assign.job_id == third.id
        await stop_controller(task)


def online(agent_id: str) -> Callable[[pb.Agent], bool]:
    return lambda agent: agent.id == agent_id and agent.status == pb.AGENT_STATUS_ONLINE


@asynccontextmanager
async def scripted(agent: ScriptedAgent) -> AsyncIterator[ScriptedAgent]:
    """Another scripted agent, served on its own port."""
    server = grpc.aio.server()
    agrpc.add_AgentServiceServicer_to_server(agent, server)
    agent.address = f"127.0.0.1:{server.add_insecure_port('127.0.0.1:0')}"
    await server.start()
    try:
        yield agent
    finally:
        await server.stop(grace=None)


@pytest.mark.parametrize(
    ("paths", "values", "words"),
    [
        (["slots"], {"slots": 0}, "overrides.slots: must be from 1 to 1024, not 0"),
        (["slots"], {"slots": 5000}, "overrides.slots: must be from 1 to 1024, not 5000"),
        (["cost_per_hour"], {"cost_per_hour": -1.0}, "overrides.cost_per_hour: must not be negative"),
        (["tags"], {"tags": ["ok", " x"]}, "overrides.tags: ' x' is not a tag"),
        (["tags"], {"tags": ["a,b"]}, "overrides.tags: 'a,b' is not a tag"),
        (["hardware"], {}, "update_mask: 'hardware' cannot be overridden; only slots, tags, pool"),
        ([], {"slots": 3}, "update_mask: name the settings to change"),
    ],
    ids=["slots-0", "slots-5000", "negative-cost", "spaced-tag", "comma-tag", "unknown-path", "empty-mask"],
)
async def test_bad_overrides_are_invalid_argument_with_a_sentence_and_change_nothing(
    farm_stub: fgrpc.FarmServiceStub, paths: list[str], values: dict[str, Any], words: str
) -> None:
    await until_agent_online(farm_stub)
    details = await refused(override(farm_stub, paths, **values), grpc.StatusCode.INVALID_ARGUMENT)
    assert details.startswith(words), details
    agent = await get_agent(farm_stub)
    assert settings_of(agent) == (2, "default", [], 0.0)
    assert agent.overrides == pb.AgentSettings()


async def test_an_unknown_agent_is_not_found(farm_stub: fgrpc.FarmServiceStub) -> None:
    details = await refused(
        override(farm_stub, ["slots"], "node-never-seen", slots=3), grpc.StatusCode.NOT_FOUND
    )
    assert details == "agent 'node-never-seen' does not exist"


async def test_only_an_admin_may_override(tmp_path: Path, scripted_agent: ScriptedAgent) -> None:
    task, port = await start_controller(tmp_path, [scripted_agent.address])
    async with farm_client(tmp_path, port) as admin:
        await until_agent_online(admin)
    for name, role in (("wall-display", pb.ROLE_VIEWER), ("artist", pb.ROLE_OPERATOR)):
        secret = await make_token(tmp_path, port, name, role)
        async with farm_client(tmp_path, port, token=secret) as stub:
            details = await refused(override(stub, ["slots"], slots=8), grpc.StatusCode.PERMISSION_DENIED)
            assert details.startswith(f"SetAgentOverrides needs the admin role; token '{name}'"), details
    async with farm_client(tmp_path, port) as admin:
        assert (await get_agent(admin)).slots == 2
        assert (await override(admin, ["slots"], slots=8)).agent.slots == 8
        record = (await admin.ListAuditRecords(fpb.ListAuditRecordsRequest())).records[0]
        assert (record.method, record.outcome) == ("SetAgentOverrides", "OK")
    await stop_controller(task)


HARDWARE = pb.Hardware(hostname="node", cpu_cores=8, ram_bytes=16 << 30, os="Linux", arch="x86_64")


async def test_overrides_survive_a_controller_restart_and_win_over_a_new_hello(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A real agent: restarted with other settings, its announced values are refreshed
    and the overrides still win."""

    async def probed(config: object = None) -> pb.Hardware:
        return HARDWARE

    monkeypatch.setattr(agent_server, "probe_hardware", probed)
    controller_dir = tmp_path / "controller"
    async with running_agent(agent_config(tmp_path, slots=2, tags=("cpu",), cost_per_hour=1.0)) as first:
        address = f"127.0.0.1:{first.port}"
        task, port = await start_controller(controller_dir, [address])
        async with farm_client(controller_dir, port) as stub:
            agent_id = (await until_agent_online(stub)).id
            paths = ["slots", "pool", "tags"]
            changed = (await override(stub, paths, agent_id, slots=6, pool="gpu", tags=["rtx"])).agent
            assert settings_of(changed) == (6, "gpu", ["rtx"], 1.0)
        await stop_controller(task)

        task, port = await start_controller(controller_dir, [])
        try:
            async with farm_client(controller_dir, port) as stub:
                restored = await get_agent(stub, agent_id)
                assert settings_of(restored) == (6, "gpu", ["rtx"], 1.0), "in force from the database"
                kept = restored.overrides
                assert (kept.slots, kept.pool, list(kept.tags.tags)) == (6, "gpu", ["rtx"])
                assert (restored.announced.slots, restored.announced.pool) == (2, "test-pool")
                await until_agent_online(stub)
        except BaseException:
            await stop_controller(task)
            raise

    restarted = agent_config(
        tmp_path, listen=address, slots=3, pool="render", tags=("cpu", "big"), cost_per_hour=2.0
    )
    try:
        async with running_agent(restarted), farm_client(controller_dir, port) as stub:

            async def announced_anew() -> bool:
                return (await get_agent(stub, agent_id)).announced.slots == 3

            await until("the restarted agent announced its new settings", announced_anew)
            again = await get_agent(stub, agent_id)
            said = again.announced
            assert (said.slots, said.pool, list(said.tags.tags), said.cost_per_hour) == (
                3,
                "render",
                ["cpu", "big"],
                2.0,
            )
            assert settings_of(again) == (6, "gpu", ["rtx"], 2.0), (
                "the overrides win; the cost is the agent's"
            )
    finally:
        await stop_controller(task)


@asynccontextmanager
async def running_agent(config: AgentConfig) -> AsyncIterator[AgentServer]:
    server = AgentServer(config)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()
