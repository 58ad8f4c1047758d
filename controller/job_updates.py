"""``UpdateJob``: change a job in flight, by field mask.

Priority, name and retries change any job. The scheduling settings (pool, requirements,
reservation, limits, how many failures block an agent, the minimum run time) change a job that has not
ended, and take effect at the next dispatch: running tasks keep going as they started. A
change no known agent could ever meet is refused, as at submit.
"""

from __future__ import annotations

from typing import Any

from renderq.controller.errors import InvalidField, NotPossibleNow
from renderq.controller.job_control import JobControl
from renderq.controller.model import Job
from renderq.controller.validation import (
    check_limits,
    check_max_agent_failures,
    check_max_retries,
    check_min_runtime,
    check_name,
    check_priority,
    check_requirements,
    check_reservation,
)
from renderq.states import JOB_FINAL
from renderq.v1 import resources_pb2 as pb

ANY_TIME = ("priority", "name", "max_retries")
WHILE_UNFINISHED = ("pool", "requirements", "reservation", "limits", "max_agent_failures", "min_runtime")


def update_job(control: JobControl, new: pb.Job, paths: list[str]) -> Job:
    """Apply the fields ``paths`` names from ``new`` to the job ``new.id``."""
    updatable = (*ANY_TIME, *WHILE_UNFINISHED)
    if not paths:
        raise InvalidField("update_mask", f"name the fields to change: {', '.join(updatable)}")
    for path in paths:
        if path not in updatable:
            raise InvalidField("update_mask", f"{path!r} cannot be changed; only {', '.join(updatable)}")
    job = control.state.job(new.id)
    scheduling = [p for p in paths if p in WHILE_UNFINISHED]
    if scheduling and job.state in JOB_FINAL:
        raise NotPossibleNow(f"job {job.id} has ended: {', '.join(scheduling)} can no longer matter")
    changes = _checked(control, job, new, paths)
    if scheduling:
        control.check_some_agent_fits(
            job.plugin,
            changes.get("pool", job.pool),
            changes.get("requirements", job.requirements),
            changes.get("reservation", job.reservation),
        )
    job = control.update(job.id, changes)
    if "priority" in changes:
        control.queue.reordered()
    return job


def _checked(control: JobControl, job: Job, new: pb.Job, paths: list[str]) -> dict[str, Any]:
    """The new values, each checked as at submit."""
    checks = {
        "priority": lambda: check_priority(new.priority),
        "name": lambda: check_name(new.name) or job.name,
        "max_retries": lambda: check_max_retries(new.max_retries),
        "pool": lambda: new.pool.strip(),
        "requirements": lambda: check_requirements(new.requirements),
        "reservation": lambda: check_reservation(new.reservation),
        "limits": lambda: check_limits(new.limits, control.state.limits),
        "max_agent_failures": lambda: check_max_agent_failures(new),
        "min_runtime": lambda: check_min_runtime(new),
    }
    return {path: checks[path]() for path in paths}
