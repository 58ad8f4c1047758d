"""The agent's health service and Prometheus metrics.

Health says SERVING once the agent is ready for a link (it listens and holds the farm
key) and NOT_SERVING as it stops; the metrics follow its tasks, its outbox and its link.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from renderq import __version__
from renderq.agent import server as server_module
from renderq.agent.server import AgentServer, AgentStartError
from renderq.v1 import resources_pb2
from tests.agent.conftest import DEADLINE, FakeController, agent_config, shell, task
from tests.controller.test_health_and_metrics import Samples, free_port, scrape, value
from tests.waiting import until

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING
AGENT_SERVICE = "renderq.v1.AgentService"


@pytest.fixture(autouse=True)
def probed(monkeypatch: pytest.MonkeyPatch, hardware: resources_pb2.Hardware) -> None:
    """The hardware probed once per session, as the conftest's agent fixture does."""

    async def known(config: object = None) -> resources_pb2.Hardware:
        return hardware

    monkeypatch.setattr(server_module, "probe_hardware", known)


@contextlib.asynccontextmanager
async def running_agent(tmp_path: Path, **changes: object) -> AsyncIterator[AgentServer]:
    server = AgentServer(agent_config(tmp_path, metrics_listen=f"127.0.0.1:{free_port()}", **changes))
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


async def scraped(agent: AgentServer) -> Samples:
    # Off the event loop: the endpoint answers on it.
    return await asyncio.to_thread(scrape, agent.metrics_port)


async def scraped_once(agent: AgentServer, what: str, name: str, expected: float) -> Samples:
    """The first scrape in which sample ``name`` is ``expected``."""
    samples: Samples = {}

    async def reached() -> bool:
        samples.update(await scraped(agent))
        return value(samples, name) == expected

    await until(what, reached)
    return samples


async def test_health_is_serving_then_not_serving_as_the_agent_stops(tmp_path: Path) -> None:
    async with (
        running_agent(tmp_path) as agent,
        grpc.aio.insecure_channel(f"127.0.0.1:{agent.port}") as channel,
    ):
        health = health_pb2_grpc.HealthStub(channel)
        for service in ("", AGENT_SERVICE):
            answer = await health.Check(health_pb2.HealthCheckRequest(service=service), timeout=DEADLINE)
            assert answer.status == SERVING, service
        watch = health.Watch(health_pb2.HealthCheckRequest(), timeout=DEADLINE)
        assert (await watch.read()).status == SERVING
        stopping = asyncio.create_task(agent.stop("test"))
        assert (await watch.read()).status == NOT_SERVING
        await stopping
        watch.cancel()


async def test_an_agent_without_the_farm_key_is_not_serving(tmp_path: Path) -> None:
    async with running_agent(tmp_path, join=None) as agent:
        assert agent.farm_key is None
        async with grpc.aio.insecure_channel(f"127.0.0.1:{agent.port}") as channel:
            answer = await health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(), timeout=DEADLINE
            )
        assert answer.status == NOT_SERVING


async def test_metrics_follow_tasks_outbox_and_link(tmp_path: Path) -> None:
    async with running_agent(tmp_path, slots=2) as agent:
        first = await scraped(agent)
        assert value(first, "renderq_agent_link_state", state="unlinked") == 1
        assert value(first, "renderq_agent_slots") == 2
        assert value(first, "renderq_build_info", role="agent", version=__version__) == 1
        controller = FakeController(agent.port)
        await controller.connect()
        await controller.assign(task(101, shell("sleep 60")))
        await controller.event(
            "attempt 101 to start", lambda e: e.attempt_id == 101 and e.HasField("started")
        )
        during = await scraped(agent)
        assert value(during, "renderq_agent_running_tasks") == 1
        assert value(during, "renderq_agent_link_state", state="linked") == 1
        assert value(during, "renderq_agent_links_total") == 1
        await controller.cancel(101)
        await controller.finished(101)
        await controller.assign(task(102, shell("exit 0")))
        await controller.finished(102)
        unacked = await scraped_once(agent, "both tasks are counted", "renderq_agent_task_seconds_count", 2)
        assert value(unacked, "renderq_agent_outbox_events") == len(controller.events)
        assert value(unacked, "renderq_agent_events_total") == len(controller.events)
        await controller.ack(controller.events[-1].sequence)
        after = await scraped_once(agent, "the outbox is empty", "renderq_agent_outbox_events", 0)
        await controller.close()
    assert value(after, "renderq_agent_task_seconds_count") == 2
    assert value(after, "renderq_agent_running_tasks") == 0
    assert value(after, "renderq_agent_outbox_events") == 0
    assert value(after, "renderq_agent_memory_bytes") > 0
    assert value(after, "renderq_agent_cpus") > 0


async def test_a_bad_metrics_address_stops_the_start_with_a_sentence(tmp_path: Path) -> None:
    agent = AgentServer(agent_config(tmp_path, metrics_listen="nowhere"))
    with pytest.raises(AgentStartError, match="metrics address 'nowhere' must be host:port"):
        await agent.start()
