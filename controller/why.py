"""``ExplainJob``: why a job (or one of its frames) is not running, in words.

What holds the whole job back comes first (its state, its dependencies, a used-up
limit and who holds it); then, for each agent, the first reason the scheduler passes it
over. Those come from ``scheduler.explain``, built on the very predicates ``plan`` uses,
so the answer cannot disagree with what the scheduler does.
"""

from __future__ import annotations

from renderq.controller import scheduler
from renderq.controller.dependencies import frame_waits
from renderq.controller.errors import NoSuchResource
from renderq.controller.farm import Farm
from renderq.controller.holdings import task_memory
from renderq.controller.limit_control import held, usage
from renderq.controller.model import Job
from renderq.controller.state_rules import state_word
from renderq.controller.test_frames import tests_open
from renderq.states import FRAME_ACTIVE
from renderq.v1 import farm_service_pb2 as fpb
from renderq.v1 import resources_pb2 as pb


def explain_job(farm: Farm, job_id: int, frame: int | None) -> fpb.ExplainJobResponse:
    job = farm.state.job(job_id)
    reasons = _frame_reasons(farm, job, frame) if frame is not None else []
    reasons = reasons or _state_reasons(job)
    if reasons:
        return fpb.ExplainJobResponse(reasons=reasons)
    agents = list(farm.state.agents.values())
    task = farm.queue.peek(job)
    if task is None and tests_open(job):
        return fpb.ExplainJobResponse(reasons=[_test_frames_reason(job)])
    memory = task_memory(job, task) if task is not None else None
    holding, verdicts = scheduler.explain(job, agents, farm.limit_control.free(), memory)
    return fpb.ExplainJobResponse(
        reasons=[_with_holders(farm, reason) for reason in holding],
        agents=[fpb.AgentVerdict(agent_id=a, reason=why) for a, why in verdicts],
    )


def _frame_reasons(farm: Farm, job: Job, number: int) -> list[str]:
    frame = job.frames.get(number)
    if frame is None:
        raise NoSuchResource(f"job {job.id} has no frame {number}")
    if frame.state in (pb.FRAME_STATE_ASSIGNED, pb.FRAME_STATE_RENDERING):
        return [f"frame {number} is running, on agent {frame.agent_id}"]
    if frame.state == pb.FRAME_STATE_COMPLETED:
        return [f"frame {number} is completed"]
    if frame.state == pb.FRAME_STATE_FAILED:
        return [f"frame {number} failed for good ({frame.error_message}); `renderq retry {job.id} {number}`"]
    if frame.state == pb.FRAME_STATE_CANCELLED:
        return [f"frame {number} was cancelled; `renderq retry {job.id} {number}`"]
    if frame.state == pb.FRAME_STATE_PENDING and job.frame_by_frame:
        return frame_waits(farm.state.jobs, job, number, farm.state.tasks[frame.task_id].frames)
    return []


def _state_reasons(job: Job) -> list[str]:
    if job.state in (pb.JOB_STATE_WAITING, pb.JOB_STATE_BLOCKED):
        return [job.state_reason]
    if job.state == pb.JOB_STATE_SUSPENDED:
        return [f"job {job.id} is suspended; `renderq resume {job.id}`"]
    if job.state in (pb.JOB_STATE_COMPLETED, pb.JOB_STATE_FAILED, pb.JOB_STATE_CANCELLED):
        return [f"job {job.id} is {state_word(job)}"]
    if not job.pending:
        return [job.state_reason or f"every task of job {job.id} is running or done"]
    return []


def _test_frames_reason(job: Job) -> str:
    """The job's other tasks are held back until its test tasks ended (``WorkQueue.peek``
    gives none): no agent is to blame, so none is judged."""
    running = sum(job.frames[n].state in FRAME_ACTIVE for n in job.test_frame_numbers)
    return f"waiting for its test frames ({running} running)"


def _with_holders(farm: Farm, reason: str) -> str:
    """``limit maya is used up`` -> ``limit maya 5/5 held by jobs 12, 14``."""
    prefix, suffix = "limit ", " is used up"
    if not (reason.startswith(prefix) and reason.endswith(suffix)):
        return reason
    name = reason[len(prefix) : -len(suffix)]
    limit = farm.state.limits.get(name)
    if limit is None:
        return f"limit {name} does not exist any more"
    jobs = ", ".join(str(j) for j in sorted(usage(farm.state).get(name, set()))) or "none"
    return f"limit {name} {held(farm.state).get(name, 0)}/{limit.capacity} held by jobs {jobs}"
