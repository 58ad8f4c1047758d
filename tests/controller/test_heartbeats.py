"""Heartbeats keep each agent's load; watchers hear of it when it changed enough to see."""

from __future__ import annotations

import asyncio

from renderq.v1 import agent_service_pb2 as apb
from renderq.v1 import farm_service_pb2 as fpb
from renderq.v1 import farm_service_pb2_grpc as fgrpc
from renderq.v1 import resources_pb2 as pb
from tests.waiting import until

from .conftest import DEADLINE, ScriptedAgent, until_agent_online


def beat(cpu: float) -> apb.LinkResponse:
    return apb.LinkResponse(heartbeat=apb.Heartbeat(load=pb.Load(cpu_percent=cpu, load_average=1.0)))


async def published_loads(stream, until_cpu: float) -> list[float]:  # type: ignore[no-untyped-def]
    """The CPU loads of the agent events on ``stream`` up to one of ``until_cpu``."""
    seen: list[float] = []
    try:
        async with asyncio.timeout(DEADLINE):
            async for event in stream:
                if event.HasField("agent") and event.agent.load.load_average:
                    seen.append(event.agent.load.cpu_percent)
                    if seen[-1] == until_cpu:
                        return seen
    except TimeoutError:
        raise AssertionError(f"the agent's load of {until_cpu} % was not published; saw {seen}") from None
    raise AssertionError(f"the stream ended; saw {seen}")


async def test_a_small_change_of_load_is_kept_but_not_published(
    farm_stub: fgrpc.FarmServiceStub, scripted_agent: ScriptedAgent
) -> None:
    await until_agent_online(farm_stub)
    cursor = (await farm_stub.ListAgents(fpb.ListAgentsRequest())).event_sequence
    stream = farm_stub.WatchEvents(fpb.WatchEventsRequest(after_sequence=cursor))
    try:
        await scripted_agent.send(beat(40.0))
        assert await published_loads(stream, 40.0) == [40.0]
        await scripted_agent.send(beat(42.0))

        async def kept() -> bool:
            return (await farm_stub.ListAgents(fpb.ListAgentsRequest())).agents[0].load.cpu_percent == 42.0

        await until("ListAgents shows the second heartbeat's load", kept)
        # A change answers once it is stored: the same commit would carry the agent.
        await farm_stub.SetLimit(fpb.SetLimitRequest(limit=pb.Limit(name="nuke", capacity=2)))
        await scripted_agent.send(beat(90.0))
        assert await published_loads(stream, 90.0) == [90.0], "2 points of CPU are not worth an event"
    finally:
        stream.cancel()
