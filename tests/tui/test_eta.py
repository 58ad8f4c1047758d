"""The ETA: none until enough frames rendered here, then frames left times a smoothed render time.

An operator saw "5d 04h" on a job that finished in 90 s: the first frames of a job (the
scene loading) said nothing about the rest. These feed ``FarmView`` the events the
controller sends and read the ETA the tables show.
"""

from __future__ import annotations

from google.protobuf import duration_pb2, timestamp_pb2

from renderq.client.enums import label
from renderq.tui.farm_view import FarmView, eta_seconds
from renderq.v1 import farm_service_pb2 as fpb
from renderq.v1 import resources_pb2 as pb

NOW = 1_780_000_000.0


def job(
    done: int, count: int, state: pb.JobState = pb.JOB_STATE_RUNNING, running: int = 1, failed: int = 0
) -> pb.Job:
    return pb.Job(
        id=7,
        state=state,
        frame_count=count,
        frames_completed=done,
        frames_running=running,
        progress=done / count,
        start_time=timestamp_pb2.Timestamp(seconds=int(NOW) - 10),
    )


def job_event(sequence: int, update: pb.Job) -> fpb.WatchEventsResponse:
    return fpb.WatchEventsResponse(sequence=sequence, change=fpb.CHANGE_TYPE_UPSERTED, job=update)


def rendered(sequence: int, number: int, seconds: float) -> fpb.WatchEventsResponse:
    frame = pb.Frame(
        job_id=7,
        number=number,
        state=pb.FRAME_STATE_COMPLETED,
        render_time=duration_pb2.Duration(seconds=int(seconds), nanos=int(seconds % 1 * 1e9)),
    )
    return fpb.WatchEventsResponse(sequence=sequence, change=fpb.CHANGE_TYPE_UPSERTED, frame=frame)


def test_no_eta_from_the_first_frames_of_a_job() -> None:
    """One frame of 1,000 done 10 s after the start: the old estimate said 2h 46m."""
    view = FarmView()
    view.apply(job_event(1, job(1, 1000)))
    view.apply(rendered(2, 1, 0.5))
    assert view.eta(view.jobs[7]) is None
    view.apply(rendered(3, 2, 0.5))
    view.apply(job_event(4, job(2, 1000)))
    assert view.eta(view.jobs[7]) is None, "two frames are not enough"


def test_the_eta_is_the_frames_left_times_the_render_time_shared_by_the_frames_rendering() -> None:
    view = FarmView()
    view.apply(job_event(1, job(0, 100, running=4)))
    for n in range(1, 4):
        view.apply(rendered(n + 1, n, 20.0))
    view.apply(job_event(5, job(3, 100, running=4)))
    assert view.eta(view.jobs[7]) == 97 * 20.0 / 4


def test_one_slow_frame_moves_the_eta_a_little() -> None:
    view = FarmView()
    view.apply(job_event(1, job(3, 100)))
    for n in range(1, 4):
        view.apply(rendered(n + 1, n, 10.0))
    before = view.eta(view.jobs[7])
    view.apply(rendered(5, 4, 100.0))
    view.apply(job_event(6, job(4, 100)))
    after = view.eta(view.jobs[7])
    assert before is not None and after is not None
    assert before < after < 96 * 100.0 / 2, "smoothed, not the last frame's time"


def test_a_small_job_needs_fewer_frames_and_a_job_between_tasks_keeps_its_pace() -> None:
    """Five percent of a 20-frame job is one frame; a moment with nothing rendering
    (between two tasks) uses the last count of frames rendering at once."""
    view = FarmView()
    view.apply(job_event(1, job(0, 20, running=2)))
    view.apply(rendered(2, 1, 30.0))
    view.apply(job_event(3, job(1, 20, running=0)))
    assert view.eta(view.jobs[7]) == 19 * 30.0 / 2


def test_a_job_that_is_not_running_has_no_eta() -> None:
    view = FarmView()
    view.apply(job_event(1, job(0, 10)))
    for n in range(1, 4):
        view.apply(rendered(n + 1, n, 5.0))
    for state in (pb.JOB_STATE_COMPLETED, pb.JOB_STATE_FAILED, pb.JOB_STATE_SUSPENDED, pb.JOB_STATE_BLOCKED):
        view.apply(job_event(5, job(10, 10, state=state, running=0)))
        assert view.eta(view.jobs[7]) is None, label(pb.JobState, state)
    assert eta_seconds(job(9, 10), None) is None, "no pace seen: no estimate"


def test_a_rendered_frame_marks_its_job_changed_so_its_eta_is_redrawn() -> None:
    view = FarmView()
    view.apply(job_event(1, job(0, 10)))
    view.take_changes()
    view.apply(rendered(2, 1, 5.0))
    assert 7 in view.take_changes().jobs
