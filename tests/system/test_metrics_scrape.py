"""Prometheus scrapes of a real controller and a real agent while a job renders: the
counters move by exactly what the job did, and both answer the standard health check."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from tests.controller.test_health_and_metrics import Samples, scrape, value
from tests.waiting import eventually

from .conftest import Farm, free_port
from .harness import DEADLINE

pytestmark = pytest.mark.system

DASHBOARD = Path(__file__).parents[2] / "docs" / "grafana-dashboard.json"


def serving(port: int) -> bool:
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        answer = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=DEADLINE)
    return bool(answer.status == health_pb2.HealthCheckResponse.SERVING)


def test_a_five_frame_job_moves_the_counters_of_controller_and_agent(
    farm_factory: Callable[[], Farm],
) -> None:
    farm = farm_factory()
    controller_metrics, agent_metrics = free_port(), free_port()
    farm.add_agent("a1")
    farm.start_agent("a1", "--metrics-listen", f"127.0.0.1:{agent_metrics}")
    controller = farm.start_controller("--metrics-listen", f"127.0.0.1:{controller_metrics}")
    controller.wait_for_line(r"agent online")
    assert serving(farm.port) and serving(farm.agent_ports["a1"])
    controller_before, agent_before = scrape(controller_metrics), scrape(agent_metrics)

    job_id = str(farm.cli.json("submit", "command", "--frames", "1-5", "--chunk", "2", "--", "true")["id"])
    assert farm.cli.run("wait", job_id, "--timeout", "60").returncode == 0

    controller_after = scrape(controller_metrics)
    agent_after: Samples = {}

    def agent_counted_three_tasks() -> bool:
        agent_after.update(scrape(agent_metrics))
        return value(agent_after, "renderq_agent_task_seconds_count") == 3

    eventually("the agent counted the job's three tasks", agent_counted_three_tasks)

    def moved(before: Samples, after: Samples, name: str) -> float:
        return value(after, name) - value(before, name)

    assert moved(controller_before, controller_after, "renderq_frames_completed_total") == 5
    assert moved(controller_before, controller_after, "renderq_frame_render_seconds_count") == 5
    assert moved(controller_before, controller_after, "renderq_dispatch_delay_seconds_count") == 3
    assert moved(controller_before, controller_after, "renderq_frames_failed_total") == 0
    assert value(controller_after, "renderq_frames", state="completed") == 5
    assert value(controller_after, "renderq_jobs", state="completed") == 1
    assert value(controller_after, "renderq_agents", status="online", mode="enabled") == 1
    assert value(controller_after, "renderq_slots", pool="default") == 1
    assert moved(agent_before, agent_after, "renderq_agent_task_seconds_count") == 3
    assert moved(agent_before, agent_after, "renderq_agent_events_total") > 0
    assert value(agent_after, "renderq_agent_running_tasks") == 0
    assert value(agent_after, "renderq_agent_link_state", state="linked") == 1
    assert value(agent_after, "process_resident_memory_bytes") > 0
    served = {name for name, _ in (*controller_after, *agent_after)}
    charted = set(re.findall(r"renderq_[a-z_]+", DASHBOARD.read_text()))
    assert charted <= served, f"the dashboard charts metrics nobody serves: {sorted(charted - served)}"
