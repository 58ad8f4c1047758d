"""The verbs that change something: job control and agent modes. Each prints the new state."""

from __future__ import annotations

import argparse
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Protocol

from google.protobuf import field_mask_pb2

from renderq.cli.connection import client_verb
from renderq.cli.output import print_document, print_json
from renderq.cli.schema import parameter_types
from renderq.client.enums import label
from renderq.v1 import farm_service_pb2 as fpb
from renderq.v1 import resources_pb2 as pb

if TYPE_CHECKING:
    from renderq.cli.connection import ClientVerb, Verbs
    from renderq.v1.farm_service_pb2_grpc import FarmServiceAsyncStub


class _JobAnswer(Protocol):
    @property
    def job(self) -> pb.Job: ...


class _AgentAnswer(Protocol):
    @property
    def agent(self) -> pb.Agent: ...


JOB_ACTIONS: dict[str, tuple[str, Callable[[FarmServiceAsyncStub, int], Awaitable[_JobAnswer]]]] = {
    "cancel": (
        "stop a job for good; running processes are killed",
        lambda stub, job_id: stub.CancelJob(fpb.CancelJobRequest(job_id=job_id)),
    ),
    "suspend": (
        "pause a job; running processes are killed and their frames wait",
        lambda stub, job_id: stub.SuspendJob(fpb.SuspendJobRequest(job_id=job_id)),
    ),
    "resume": (
        "let a suspended job run again",
        lambda stub, job_id: stub.ResumeJob(fpb.ResumeJobRequest(job_id=job_id)),
    ),
}

AGENT_ACTIONS: dict[str, tuple[str, Callable[[FarmServiceAsyncStub, str], Awaitable[_AgentAnswer]]]] = {
    "enable": (
        "let an agent take work again",
        lambda stub, agent_id: stub.EnableAgent(fpb.EnableAgentRequest(agent_id=agent_id)),
    ),
    "disable": (
        "stop giving an agent work",
        lambda stub, agent_id: stub.DisableAgent(fpb.DisableAgentRequest(agent_id=agent_id)),
    ),
    "drain": (
        "let an agent finish what it runs, then take nothing new",
        lambda stub, agent_id: stub.DrainAgent(fpb.DrainAgentRequest(agent_id=agent_id)),
    ),
}


def register(verbs: Verbs, common: argparse.ArgumentParser) -> None:
    for verb, (help_text, job_call) in JOB_ACTIONS.items():
        parser = _add(verbs, common, verb, help_text)
        parser.add_argument("job_id", type=int, metavar="ID")
        parser.set_defaults(run=client_verb(_job_verb(job_call)))

    retry = _add(verbs, common, "retry", "put a job's failed frames (or the FRAMES given) back in the queue")
    retry.add_argument("job_id", type=int, metavar="ID")
    retry.add_argument("frames", nargs="?", default="", metavar="FRAMES", help="frame range, e.g. 5,9-12")
    retry.set_defaults(run=client_verb(_retry))

    priority = _add(verbs, common, "priority", "change a job's priority (0 lowest, 100 highest)")
    priority.add_argument("job_id", type=int, metavar="ID")
    priority.add_argument("priority", type=int, metavar="N")
    priority.set_defaults(run=client_verb(_priority))

    delete = _add(verbs, common, "delete", "delete a finished job and its records")
    delete.add_argument("job_id", type=int, metavar="ID")
    delete.set_defaults(run=client_verb(_delete))

    unblock = _add(verbs, common, "unblock", "let a job use an agent it blocked after repeated failures")
    unblock.add_argument("job_id", type=int, metavar="ID")
    _agent_argument(unblock)
    unblock.set_defaults(run=client_verb(_unblock))

    for verb, (help_text, agent_call) in AGENT_ACTIONS.items():
        parser = _add(verbs, common, verb, help_text)
        _agent_argument(parser)
        parser.set_defaults(run=client_verb(_agent_verb(agent_call)))

    forget = _add(
        verbs,
        common,
        "forget",
        "remove an offline agent from the farm's records for good, so the controller stops "
        "redialling it (admin); one still advertising over mDNS is found again",
    )
    _agent_argument(forget)
    forget.set_defaults(run=client_verb(_forget))


def _agent_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("agent_id", metavar="AGENT", help="agent id, as `renderq agents` lists it")


def _add(verbs: Verbs, common: argparse.ArgumentParser, verb: str, help_text: str) -> argparse.ArgumentParser:
    return verbs.add_parser(verb, parents=[common], help=help_text, description=help_text.capitalize() + ".")


async def _unblock(args: argparse.Namespace, stub: FarmServiceAsyncStub) -> int:
    request = fpb.UnblockAgentRequest(job_id=args.job_id, agent_id=args.agent_id)
    job = (await stub.UnblockAgent(request)).job
    return await show_job(args, stub, job, f"; agent {args.agent_id} may run it again")


async def show_job(args: argparse.Namespace, stub: FarmServiceAsyncStub, job: pb.Job, note: str = "") -> int:
    """The job after a change: ``job ID STATE`` and ``note``, or the whole job under --json."""
    if args.json:
        print_json(job, await parameter_types(stub))
    else:
        print(f"job {job.id} {label(pb.JobState, job.state)}{note}")
    return 0


def _job_verb(call: Callable[[FarmServiceAsyncStub, int], Awaitable[_JobAnswer]]) -> ClientVerb:
    async def verb(args: argparse.Namespace, stub: FarmServiceAsyncStub) -> int:
        return await show_job(args, stub, (await call(stub, args.job_id)).job)

    return verb


def _agent_verb(call: Callable[[FarmServiceAsyncStub, str], Awaitable[_AgentAnswer]]) -> ClientVerb:
    async def verb(args: argparse.Namespace, stub: FarmServiceAsyncStub) -> int:
        agent = (await call(stub, args.agent_id)).agent
        if args.json:
            print_json(agent)
        else:
            print(f"agent {agent.id} {label(pb.AgentMode, agent.mode)}")
        return 0

    return verb


async def _retry(args: argparse.Namespace, stub: FarmServiceAsyncStub) -> int:
    answer = await stub.RetryFrames(fpb.RetryFramesRequest(job_id=args.job_id, frames=args.frames))
    return await show_job(args, stub, answer.job, f", {answer.frames_retried} frames back in the queue")


async def _priority(args: argparse.Namespace, stub: FarmServiceAsyncStub) -> int:
    answer = await stub.UpdateJob(
        fpb.UpdateJobRequest(
            job=pb.Job(id=args.job_id, priority=args.priority),
            update_mask=field_mask_pb2.FieldMask(paths=["priority"]),
        )
    )
    return await show_job(args, stub, answer.job, f", priority {answer.job.priority}")


async def _delete(args: argparse.Namespace, stub: FarmServiceAsyncStub) -> int:
    await stub.DeleteJob(fpb.DeleteJobRequest(job_id=args.job_id))
    if args.json:
        print_document({"deleted": True, "job_id": args.job_id})
    else:
        print(f"job {args.job_id} deleted")
    return 0


async def _forget(args: argparse.Namespace, stub: FarmServiceAsyncStub) -> int:
    await stub.ForgetAgent(fpb.ForgetAgentRequest(agent_id=args.agent_id))
    if args.json:
        print_document({"agent_id": args.agent_id, "forgotten": True})
    else:
        print(f"agent {args.agent_id} forgotten: the controller no longer dials it")
    return 0
