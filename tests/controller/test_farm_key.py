"""The controller uses only agents that prove the farm key, and never sends the key."""

from __future__ import annotations

import os

import pytest

from renderq.v1 import agent_service_pb2 as apb
from renderq.v1 import farm_service_pb2 as fpb
from renderq.v1 import farm_service_pb2_grpc as fgrpc
from renderq.v1 import resources_pb2 as pb

from .conftest import FARM_KEY, ScriptedAgent, until_agent
from .test_link_protocol import command_job, complete, job_reaches


@pytest.mark.parametrize("agent_key", [None])
async def test_agent_without_the_key_is_listed_with_why_and_given_nothing(
    farm_stub: fgrpc.FarmServiceStub, scripted_agent: ScriptedAgent
) -> None:
    refused = await until_agent(farm_stub, "refused", lambda a: bool(a.problem))
    assert "no farm key" in refused.problem and refused.status == pb.AGENT_STATUS_OFFLINE
    job = (await farm_stub.CreateJob(fpb.CreateJobRequest(job=command_job("1", 1)))).job
    assert (await farm_stub.GetJob(fpb.GetJobRequest(job_id=job.id))).job.state == pb.JOB_STATE_QUEUED
    assert all(r.WhichOneof("kind") != "assign" for r in drain(scripted_agent))
    # Given the key, the same node joins on its next dial and gets the work.
    scripted_agent.key = FARM_KEY
    assign = (await scripted_agent.next_request("assign")).assign
    await complete(scripted_agent, assign)
    await job_reaches(farm_stub, job.id, pb.JOB_STATE_COMPLETED)
    agent = await until_agent(farm_stub, "trusted", lambda a: a.status == pb.AGENT_STATUS_ONLINE)
    assert agent.problem == ""


@pytest.mark.parametrize("agent_key", [os.urandom(32)], ids=["another-farms-key"])
async def test_agent_with_another_farms_key_is_refused(
    farm_stub: fgrpc.FarmServiceStub, scripted_agent: ScriptedAgent
) -> None:
    refused = await until_agent(farm_stub, "refused", lambda a: bool(a.problem))
    assert "not this farm's" in refused.problem


async def test_the_key_never_crosses_the_link_and_the_controller_proves_it(
    farm_stub: fgrpc.FarmServiceStub, scripted_agent: ScriptedAgent
) -> None:
    job = (await farm_stub.CreateJob(fpb.CreateJobRequest(job=command_job("1", 1)))).job
    assign = (await scripted_agent.next_request("assign")).assign
    await complete(scripted_agent, assign)
    await job_reaches(farm_stub, job.id, pb.JOB_STATE_COMPLETED)
    assert scripted_agent.controller_proved == [True]
    sent = b"".join(r.SerializeToString() for r in [assign, *drain(scripted_agent)])
    assert FARM_KEY not in sent


def drain(agent: ScriptedAgent) -> list[apb.LinkRequest]:
    """Every request received and not yet read by the test."""
    out = []
    while not agent.received.empty():
        out.append(agent.received.get_nowait())
    return out
