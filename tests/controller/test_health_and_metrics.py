"""The controller's health service, server reflection and Prometheus metrics.

Health and reflection answer without a token (probes and schema browsers carry none),
while a FarmService call built from what reflection tells still needs one. The metrics
move by exactly what a job did, read over HTTP as Prometheus reads them.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import urllib.error
import urllib.request
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf import descriptor_pool, message_factory
from google.protobuf.duration_pb2 import Duration
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import ProtoReflectionDescriptorDatabase
from prometheus_client.parser import text_string_to_metric_families

from renderq import __version__, tokens
from renderq.controller.auth import is_open
from renderq.controller.config import ControllerConfig
from renderq.controller.main import ListenError, serve
from renderq.durations import Durations
from renderq.private_files import write_private
from renderq.v1 import agent_service_pb2 as apb
from renderq.v1 import farm_service_pb2 as fpb
from renderq.v1 import resources_pb2 as pb

from .conftest import (
    DEADLINE,
    FARM_KEY,
    ScriptedAgent,
    farm_client,
    start_controller,
    stop_controller,
    until_agent_online,
)
from .test_link_protocol import command_job, job_reaches

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING
FARM_SERVICE = "renderq.v1.FarmService"

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def scrape(port: int) -> Samples:
    """Every sample of the endpoint on ``port``, as Prometheus parses the text format."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=DEADLINE) as response:
        assert response.headers["Content-Type"].startswith("text/plain")
        text = response.read().decode()
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


@dataclass
class Running:
    """An in-process controller with its metrics endpoint."""

    task: asyncio.Task[None]
    port: int
    metrics_port: int
    data_dir: Path

    async def scrape(self) -> Samples:
        # Off the event loop: the endpoint answers on it.
        return await asyncio.to_thread(scrape, self.metrics_port)


@contextlib.asynccontextmanager
async def controller(data_dir: Path, agents: tuple[str, ...] = ()) -> AsyncIterator[Running]:
    metrics_port = free_port()
    task, port = await start_controller(data_dir, list(agents), metrics_listen=f"127.0.0.1:{metrics_port}")
    try:
        yield Running(task, port, metrics_port, data_dir)
    finally:
        await stop_controller(task)


def test_only_health_and_reflection_are_open() -> None:
    assert is_open("grpc.health.v1.Health")
    assert is_open("grpc.reflection.v1alpha.ServerReflection")
    assert is_open("grpc.reflection.v1.ServerReflection")
    assert not is_open(FARM_SERVICE)
    assert not is_open("grpc.health.v1.HealthX")
    assert not is_open("renderq.v1.AgentService")


def test_a_duration_on_a_bound_counts_in_that_bucket_as_prometheus_le_says() -> None:
    durations = Durations((1.0, 2.0))
    for seconds in (1.0, 2.5, 0.5):
        durations.observe(seconds)
    family = durations.family("renderq_test_seconds", "test")
    samples = {(s.name, s.labels.get("le", "")): s.value for s in family.samples}
    assert samples[("renderq_test_seconds_bucket", "1.0")] == 2
    assert samples[("renderq_test_seconds_bucket", "2.0")] == 2
    assert samples[("renderq_test_seconds_bucket", "+Inf")] == 3
    assert samples[("renderq_test_seconds_count", "")] == 3
    assert samples[("renderq_test_seconds_sum", "")] == 4.0


async def test_health_is_serving_then_not_serving_as_the_controller_stops(tmp_path: Path) -> None:
    async with controller(tmp_path) as running:
        channel = grpc.aio.insecure_channel(f"127.0.0.1:{running.port}")
        health = health_pb2_grpc.HealthStub(channel)
        for service in ("", FARM_SERVICE):
            answer = await health.Check(health_pb2.HealthCheckRequest(service=service), timeout=DEADLINE)
            assert answer.status == SERVING, service
        watch = health.Watch(health_pb2.HealthCheckRequest(service=FARM_SERVICE), timeout=DEADLINE)
        assert (await watch.read()).status == SERVING
        await stop_controller(running.task)
        # Said to the watcher before the port closes.
        assert (await watch.read()).status == NOT_SERVING
        watch.cancel()
        await channel.close()


def reflected_list_jobs(port: int, token: str | None) -> tuple[list[str], Any]:
    """The services reflection lists, and ListJobs called with messages built only from
    the reflected descriptors (as grpcurl does), with ``token`` if given."""
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        database = ProtoReflectionDescriptorDatabase(channel)
        services = list(database.get_services())
        pool = descriptor_pool.DescriptorPool(database)
        method = pool.FindServiceByName(FARM_SERVICE).FindMethodByName("ListJobs")
        # Classes made at run time from descriptors: their fields are unknown to the type checker.
        request_class: Any = message_factory.GetMessageClass(method.input_type)
        response_class = message_factory.GetMessageClass(method.output_type)
        call = channel.unary_unary(
            f"/{FARM_SERVICE}/ListJobs",
            request_serializer=request_class.SerializeToString,
            response_deserializer=response_class.FromString,
        )
        metadata = [(tokens.METADATA_KEY, f"Bearer {token}")] if token else []
        return services, call(request_class(page_size=10), metadata=metadata, timeout=DEADLINE)


async def test_reflection_lists_farm_service_and_a_reflected_call_needs_a_token(tmp_path: Path) -> None:
    async with controller(tmp_path) as running:
        async with farm_client(tmp_path, running.port) as stub:
            await stub.CreateJob(fpb.CreateJobRequest(job=command_job("1-3", 1)))
        admin = tokens.read_local(tmp_path)
        services, answer = await asyncio.to_thread(reflected_list_jobs, running.port, admin)
        assert FARM_SERVICE in services
        assert "grpc.health.v1.Health" in services
        # A dynamic message from the reflected descriptors, not the generated stubs.
        assert type(answer) is not fpb.ListJobsResponse
        assert [job.frames for job in answer.jobs] == ["1-3"]
        with pytest.raises(grpc.RpcError) as refused:
            await asyncio.to_thread(reflected_list_jobs, running.port, None)
        assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED


async def render(agent: ScriptedAgent, assign: apb.AssignTask, seconds: float) -> None:
    """The scripted agent renders every frame of ``assign`` in ``seconds`` each."""
    aid = assign.attempt_id
    await agent.send(agent.event(aid, started=apb.TaskStarted(pid=1)))
    for n in assign.commands[0].frames:
        took = Duration()
        took.FromMilliseconds(int(seconds * 1000))
        await agent.send(agent.event(aid, frame_completed=apb.FrameCompleted(frame=n, render_time=took)))
    await agent.send(agent.event(aid, finished=apb.TaskFinished(exit_code=0)))


async def fail(agent: ScriptedAgent, assign: apb.AssignTask) -> None:
    aid = assign.attempt_id
    frames = list(assign.commands[0].frames)
    await agent.send(agent.event(aid, started=apb.TaskStarted(pid=1)))
    await agent.send(
        agent.event(aid, finished=apb.TaskFinished(exit_code=3, error_message="boom", failed_frames=frames))
    )


async def test_metrics_move_by_what_a_job_did(tmp_path: Path, scripted_agent: ScriptedAgent) -> None:
    async with (
        controller(tmp_path, (scripted_agent.address,)) as running,
        farm_client(tmp_path, running.port) as stub,
    ):
        await until_agent_online(stub)
        before = await running.scrape()
        job = (await stub.CreateJob(fpb.CreateJobRequest(job=command_job("1-5", 5)))).job
        await render(scripted_agent, (await scripted_agent.next_request("assign")).assign, 2.0)
        await job_reaches(stub, job.id, pb.JOB_STATE_COMPLETED)
        failing = (await stub.CreateJob(fpb.CreateJobRequest(job=command_job("9", 1, retries=1)))).job
        for _ in range(2):
            await fail(scripted_agent, (await scripted_agent.next_request("assign")).assign)
        await job_reaches(stub, failing.id, pb.JOB_STATE_FAILED)
        after = await running.scrape()

    def moved(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert moved("renderq_frames_completed_total") == 5
    assert moved("renderq_frame_render_seconds_count") == 5
    assert moved("renderq_frame_render_seconds_sum") == pytest.approx(10.0)
    assert moved("renderq_frame_render_seconds_bucket", le="1.0") == 0
    assert moved("renderq_frame_render_seconds_bucket", le="2.5") == 5
    assert moved("renderq_frames_failed_total") == 1
    assert moved("renderq_frame_failures_total") == 2
    assert moved("renderq_dispatch_delay_seconds_count") == 3  # one task, then one task tried twice
    assert moved("renderq_store_commits_total") > 0
    assert value(after, "renderq_store_commit_seconds_count") == value(after, "renderq_store_commits_total")
    assert value(after, "renderq_frames", state="completed") == 5
    assert value(after, "renderq_frames", state="failed") == 1
    assert value(after, "renderq_jobs", state="completed") == 1
    assert value(after, "renderq_jobs", state="failed") == 1
    assert value(after, "renderq_tasks", state="completed") == 1
    assert value(after, "renderq_agents", status="online", mode="enabled") == 1
    assert value(after, "renderq_slots", pool="default") == 2
    assert value(after, "renderq_slots_used", pool="default") == 0
    assert value(after, "renderq_event_subscribers") >= 0
    assert value(after, "renderq_build_info", role="controller", version=__version__) == 1


async def test_event_subscribers_and_their_lag_are_seen(tmp_path: Path) -> None:
    async with controller(tmp_path) as running, farm_client(tmp_path, running.port) as stub:
        listing = await stub.ListJobs(fpb.ListJobsRequest())
        stream = stub.WatchEvents(fpb.WatchEventsRequest(after_sequence=listing.event_sequence))
        await stub.CreateJob(fpb.CreateJobRequest(job=command_job("1-2", 1)))
        await stream.read()  # the stream is open and has delivered
        samples = await running.scrape()
        assert value(samples, "renderq_event_subscribers") == 1
        assert value(samples, "renderq_event_subscriber_max_lag_events") >= 0
        assert value(samples, "renderq_events_published_total") >= 1
        stream.cancel()


async def test_metrics_endpoint_answers_only_its_path(tmp_path: Path) -> None:
    async with controller(tmp_path) as running:

        def fetch(path: str) -> int:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{running.metrics_port}{path}") as response:
                    return int(response.status)
            except urllib.error.HTTPError as e:
                return e.code

        assert await asyncio.to_thread(fetch, "/metrics") == 200
        assert await asyncio.to_thread(fetch, "/other") == 404


async def test_a_taken_metrics_port_stops_the_start_with_a_sentence(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        config = ControllerConfig(
            listen="127.0.0.1:0", data_dir=tmp_path, mdns=False, metrics_listen=f"127.0.0.1:{port}"
        )
        write_private(config.key_file, FARM_KEY)
        with pytest.raises(ListenError, match=f"cannot serve metrics on 127.0.0.1:{port}"):
            await serve(config)
