"""Test frames on the command line: submit's flags, and the estimate in `renderq job` and
`renderq jobs` (the same words the TUI shows)."""

from __future__ import annotations

import json

from renderq.client.estimates import estimate_text, span
from renderq.v1 import resources_pb2 as rs

from .conftest import CliRunner, FakeFarm
from .test_listings import running_job


def estimated(job_id: int = 3, cost: float = 12.4) -> rs.Job:
    job = running_job(job_id, test_frames="first,last", stop_on_test_failure=True)
    job.estimate.frames_measured = 2
    job.estimate.total_render_time.seconds = 3 * 3600 + 20 * 60
    job.estimate.time_left.seconds = 3900
    job.estimate.cost = cost
    return job


def test_spans_read_in_hours_and_minutes() -> None:
    assert [span(s) for s in (12000, 3900, 300, 42, 0)] == [
        "3 h 20 min",
        "1 h 05 min",
        "5 min",
        "42 s",
        "0 s",
    ]


def test_the_estimate_in_one_line_with_its_cost_only_when_there_is_one() -> None:
    assert estimate_text(estimated()) == "est. 3 h 20 min render time, 1 h 05 min left, $12.40"
    assert estimate_text(estimated(cost=0.0)) == "est. 3 h 20 min render time, 1 h 05 min left"
    assert estimate_text(running_job()) == ""


def test_submit_sends_the_test_frame_settings(cli: CliRunner, farm: FakeFarm) -> None:
    result = cli(
        "submit", "command", "--frames", "1-100", "--test-frames", "first,50,last",
        "--stop-on-test-failure", "--hold-after-test", "--", "true",
    )  # fmt: skip
    assert result.code == 0, result.err
    job = farm.requests["CreateJob"][0].job
    assert (job.test_frames, job.stop_on_test_failure, job.hold_after_test) == ("first,50,last", True, True)


def test_submit_without_test_frames_asks_for_none(cli: CliRunner, farm: FakeFarm) -> None:
    cli("submit", "demo", "--frames", "1")
    job = farm.requests["CreateJob"][0].job
    assert (job.test_frames, job.stop_on_test_failure, job.hold_after_test) == ("", False, False)


def test_job_shows_its_test_frames_and_estimate(cli: CliRunner, farm: FakeFarm) -> None:
    farm.jobs = {3: estimated()}
    out = cli("job", "3").out
    lines = dict(line.split(":", 1) for line in out.splitlines())
    assert lines["test frames"].strip() == "first,last; stop the job if one fails"
    assert lines["estimate"].strip() == (
        "est. 3 h 20 min render time, 1 h 05 min left, $12.40 (from 2 test frame(s))"
    )


def test_job_before_its_test_frames_ended_says_when_its_estimate_comes(
    cli: CliRunner, farm: FakeFarm
) -> None:
    farm.jobs = {3: running_job(3, test_frames="middle", hold_after_test=True)}
    out = cli("job", "3").out
    assert "middle; hold the job after them" in out
    assert "after the test frames" in out


def test_job_without_test_frames_has_no_such_lines(cli: CliRunner, farm: FakeFarm) -> None:
    farm.jobs = {3: running_job(3)}
    out = cli("job", "3").out
    assert "test frames" not in out and "estimate" not in out


def test_jobs_table_has_an_estimate_column_only_when_a_job_has_one(cli: CliRunner, farm: FakeFarm) -> None:
    farm.jobs = {3: running_job(3)}
    assert "ESTIMATE" not in cli("jobs").out
    farm.jobs = {3: running_job(3), 4: estimated(4)}
    out = cli("jobs").out
    assert "ESTIMATE" in out.splitlines()[0]
    assert "est. 3 h 20 min render time" in out


def test_jobs_json_carries_the_estimate(cli: CliRunner, farm: FakeFarm) -> None:

    farm.jobs = {4: estimated(4)}
    (job,) = json.loads(cli("jobs", "--json").out)
    assert job["estimate"]["frames_measured"] == 2
    assert job["estimate"]["cost"] == 12.4
