"""What a job's test frames ending does to the job: with ``stop_on_test_failure`` a test
frame failed for good fails the job, with ``hold_after_test`` the job waits for an
operator, and their render times give its estimate.

A stopped job's other frames are cancelled, not failed: the job ends FAILED with the test
frame's error, and ``renderq retry JOB`` (failed and cancelled frames) renders the test
frames first again, then the rest. A held job is SUSPENDED as an operator's suspend would
leave it, so ``renderq resume JOB`` lets the rest start.
"""

from __future__ import annotations

import logging

from renderq.controller.model import Job, Task
from renderq.controller.state_rules import StateRules
from renderq.controller.test_frames import estimate, failed_test, held_reason, is_test_task, tests_open
from renderq.states import JOB_FINAL
from renderq.v1 import resources_pb2 as pb

log = logging.getLogger(__name__)


def after_test_task(rules: StateRules, job: Job, task: Task) -> None:
    """``task`` of ``job`` ended (settled): if it held test frames, stop or hold the job as
    its settings ask. Call before the job's state is derived again."""
    if not is_test_task(job, task) or job.state in JOB_FINAL or job.state == pb.JOB_STATE_SUSPENDED:
        return
    failed = failed_test(job)
    if failed is not None and job.stop_on_test_failure:
        error = f"test frame {failed.number} failed: {failed.error_message}"
        rules.stop_active(job, pb.FRAME_STATE_CANCELLED, error)
        job.last_error = error
        log.warning("job stopped by its test frame job=%d frame=%d", job.id, failed.number)
    elif job.hold_after_test and not tests_open(job):
        was, job.state = job.state, pb.JOB_STATE_SUSPENDED
        rules.stop_active(job, pb.FRAME_STATE_SUSPENDED, "job held after its test frames")
        rules.refresh_job(job, was)
        log.info("job held after its test frames job=%d", job.id)


def refresh_estimate(rules: StateRules, job: Job) -> None:
    """Derive ``job``'s estimate again (a frame of it completed, or it was restored)."""
    if job.test_frame_numbers:
        job.estimate = estimate(job, rules.state.agents)


def test_frames_restored(rules: StateRules, job: Job) -> None:
    """What is derived, not stored, after a restart: the estimate, and the reason of a job
    held after its test frames."""
    refresh_estimate(rules, job)
    if job.state == pb.JOB_STATE_SUSPENDED:
        job.state_reason = held_reason(job)
