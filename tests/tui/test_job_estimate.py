"""The job screen's summary says the job's estimate, in the CLI's words, once its test frames gave one."""

from __future__ import annotations

from renderq.tui.job_screen import job_summary
from renderq.v1 import resources_pb2 as pb


def test_the_summary_shows_the_estimate_only_once_there_is_one() -> None:
    job = pb.Job(id=3, name="shot010", frame_count=10, test_frames="first")
    assert "est." not in job_summary(3, job, None).plain
    job.estimate.frames_measured = 1
    job.estimate.total_render_time.seconds = 600
    job.estimate.time_left.seconds = 540
    job.estimate.cost = 2.5
    assert job_summary(3, job, None).plain.splitlines()[-1] == "est. 10 min render time, 9 min left, $2.50"
