"""Test frames: the few frames of a job rendered before all others, so that a missing
texture or a wrong camera shows in minutes, not in the morning.

``--test-frames first,middle,last`` (or frame numbers) names them; the controller
resolves the words against the job's frames at submit.

What follows from them, all derived from the frames' states (so a restart keeps it):
the tasks holding test frames run first and alone (with chunks, a test frame's whole
chunk runs), ``stop_on_test_failure`` ends the job when one fails for good,
``hold_after_test`` suspends it once they ended, and their render times give the job's
estimate.
"""

from __future__ import annotations

import weakref
from collections.abc import Mapping, Sequence

from renderq.controller.errors import InvalidField
from renderq.controller.model import Agent, Frame, Job, Task, duration
from renderq.controller.placement import refusal
from renderq.states import TASK_FINAL
from renderq.v1 import resources_pb2 as pb

MAX_TEST_FRAMES = 20
"""More would be a job of its own."""
_WORDS = ("first", "middle", "last")
HELD_REASON = "held after its test frames: look at them, then renderq resume JOB"
"""``JOB`` becomes the job's id."""


def resolve_test_frames(spec: str, frames: Sequence[int]) -> list[int]:
    """The frame numbers ``spec`` names, each once, in the order named; [] for none."""
    resolved: dict[int, None] = {}
    for part in (p.strip() for p in spec.split(",")):
        if not part:
            continue
        if part.lower() in _WORDS:
            index = {"first": 0, "middle": (len(frames) - 1) // 2, "last": len(frames) - 1}[part.lower()]
            resolved[frames[index]] = None
            continue
        try:
            number = int(part)
        except ValueError:
            raise InvalidField(
                "test_frames", f"{part!r} is not a frame: write first, middle, last or frame numbers"
            ) from None
        if number not in frames:
            raise InvalidField("test_frames", f"frame {number} is not among the job's frames")
        resolved[number] = None
    if len(resolved) > MAX_TEST_FRAMES:
        raise InvalidField("test_frames", f"{len(resolved)} test frames; at most {MAX_TEST_FRAMES}")
    return list(resolved)


def is_test_task(job: Job, task: Task) -> bool:
    """Whether ``task`` holds one of ``job``'s test frames (then the whole chunk runs first)."""
    return bool(job.test_frame_numbers) and any(job.frames[n].test for n in task.frames)


_TEST_TASKS: weakref.WeakKeyDictionary[Job, tuple[int, ...]] = weakref.WeakKeyDictionary()
"""Each job's test tasks (indexes), found once: its frames and tasks never change after submit."""


def test_tasks(job: Job) -> list[Task]:
    """The tasks of ``job`` holding its test frames."""
    indexes = _TEST_TASKS.get(job)
    if indexes is None:
        indexes = _TEST_TASKS[job] = tuple(t.index for t in job.tasks if is_test_task(job, t))
    return [job.tasks[i] for i in indexes]


def tests_open(job: Job) -> bool:
    """Whether some test task of ``job`` has not ended (completed, or failed for good):
    until then none of its other tasks starts."""
    return bool(job.test_frame_numbers) and any(t.state not in TASK_FINAL for t in test_tasks(job))


def failed_test(job: Job) -> Frame | None:
    """The first test frame of ``job`` that failed for good; None if none did."""
    return next(
        (job.frames[n] for n in job.test_frame_numbers if job.frames[n].state == pb.FRAME_STATE_FAILED), None
    )


def held_reason(job: Job) -> str:
    """The reason a suspended job shows when ``hold_after_test`` suspended it: its test
    frames ended and none of its other frames was ever dispatched; "" otherwise (an
    operator's own suspend). Derived, so it survives a restart unstored."""
    if not (job.hold_after_test and job.test_frame_numbers) or tests_open(job):
        return ""
    if any(f.attempt_count and not f.test for f in job.frames.values()):
        return ""
    return HELD_REASON.replace("JOB", str(job.id))


def estimate(job: Job, agents: Mapping[str, Agent]) -> pb.JobEstimate | None:
    """What ``job`` will take, from its completed test frames' render times; None before one completed.

    Total render time is the mean test render time times the job's frames; time left is
    that mean times the frames not yet completed, spread over the agents that could ever
    run the job (at least one); cost is the total in hours times the mean cost per hour of
    the agents that rendered the test frames (0 when those are no longer known)."""
    measured = [
        job.frames[n] for n in job.test_frame_numbers if job.frames[n].state == pb.FRAME_STATE_COMPLETED
    ]
    if not measured:
        return None
    mean = sum(f.render_time for f in measured) / len(measured)
    total = mean * len(job.frames)
    left = len(job.frames) - job.count(pb.FRAME_STATE_COMPLETED)
    width = max(1, sum(1 for a in agents.values() if refusal(job, a) is None))
    rates = [agents[f.agent_id].cost_per_hour for f in measured if f.agent_id in agents]
    rate = sum(rates) / len(rates) if rates else 0.0
    return pb.JobEstimate(
        frames_measured=len(measured),
        total_render_time=duration(total),
        time_left=duration(left * mean / width),
        cost=round(total / 3600 * rate, 2),
    )
