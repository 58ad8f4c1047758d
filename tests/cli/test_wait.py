"""``renderq wait`` follows a job through the event stream to its end."""

from __future__ import annotations

import io
import json
import re

from renderq.cli.progress import JobProgress
from renderq.v1 import farm_service_pb2 as fs
from renderq.v1 import resources_pb2 as rs

from .conftest import CliRunner, FakeFarm


def job(state: int, completed: int = 0, failed: int = 0, error: str = "", reason: str = "") -> rs.Job:
    return rs.Job(
        id=3,
        state=state,  # type: ignore[arg-type]
        frame_count=4,
        frames_completed=completed,
        frames_failed=failed,
        progress=completed / 4,
        last_error=error,
        state_reason=reason,
    )


def job_event(sequence: int, changed: rs.Job) -> tuple[fs.WatchEventsResponse, rs.Job]:
    return fs.WatchEventsResponse(sequence=sequence, change=fs.CHANGE_TYPE_UPSERTED, job=changed), changed


def test_wait_exits_0_when_the_job_completes_through_events(cli: CliRunner, farm: FakeFarm) -> None:
    farm.jobs = {3: job(rs.JOB_STATE_QUEUED)}
    farm.watch_script = [
        job_event(42, job(rs.JOB_STATE_RUNNING, completed=1)),
        job_event(43, job(rs.JOB_STATE_RUNNING, completed=3)),
        job_event(44, job(rs.JOB_STATE_COMPLETED, completed=4)),
    ]
    result = cli("wait", "3")
    assert result.code == 0, result.err
    (watch,) = farm.requests["WatchEvents"]
    assert (watch.job_id, watch.after_sequence) == (3, farm.event_sequence)
    # Not a terminal: one line per state, not per event.
    assert [line.split()[2] for line in result.lines] == ["queued", "running", "completed"]
    assert "4/4 frames" in result.lines[-1]


def test_wait_exits_1_and_says_why_when_the_job_fails(cli: CliRunner, farm: FakeFarm) -> None:
    farm.jobs = {3: job(rs.JOB_STATE_RUNNING)}
    farm.watch_script = [
        job_event(42, job(rs.JOB_STATE_FAILED, completed=3, failed=1, error="frame 4: exit 11"))
    ]
    result = cli("wait", "3")
    assert result.code == 1
    assert "renderq: job 3 failed: frame 4: exit 11" in result.err


def test_wait_reads_the_job_again_after_a_resync(cli: CliRunner, farm: FakeFarm) -> None:
    farm.jobs = {3: job(rs.JOB_STATE_RUNNING)}
    farm.watch_script = [
        (fs.WatchEventsResponse(sequence=50, resync=fs.Resync(sequence=50)), job(rs.JOB_STATE_COMPLETED, 4))
    ]
    result = cli("wait", "3", "--json")
    assert result.code == 0, result.err
    assert json.loads(result.out)["state"] == "completed"
    assert len(farm.requests["GetJob"]) == 2


def test_wait_exits_5_with_the_reason_when_the_job_becomes_blocked(cli: CliRunner, farm: FakeFarm) -> None:
    farm.jobs = {3: job(rs.JOB_STATE_WAITING, reason="waiting for job 27")}
    farm.watch_script = [job_event(42, job(rs.JOB_STATE_BLOCKED, reason="job 27 failed"))]
    result = cli("wait", "3")
    assert result.code == 5
    assert result.err == (
        "renderq: job 3 is blocked: job 27 failed; it runs by itself once that job is retried and completes\n"
    )


def test_wait_on_a_job_blocked_already_returns_at_once(cli: CliRunner, farm: FakeFarm) -> None:
    farm.jobs = {3: job(rs.JOB_STATE_BLOCKED, reason="job 27 was cancelled")}
    result = cli("wait", "3", "--json")
    assert result.code == 5
    assert "WatchEvents" not in farm.requests
    document = json.loads(result.out)
    assert (document["state"], document["state_reason"]) == ("blocked", "job 27 was cancelled")
    assert json.loads(result.err)["error"]["exit_code"] == 5


def test_wait_help_documents_every_exit_code(cli: CliRunner) -> None:
    text = cli("wait", "--help", controller=False).out
    codes = re.findall(r"^  (\d+)\s", text.split("exit codes:")[1], re.MULTILINE)
    assert codes == ["0", "1", "5", "124", "2", "3", "4", "130"]
    assert "blocked" in text


def test_wait_on_a_finished_job_returns_without_watching(cli: CliRunner, farm: FakeFarm) -> None:
    farm.jobs = {3: job(rs.JOB_STATE_CANCELLED)}
    assert cli("wait", "3").code == 1
    assert "WatchEvents" not in farm.requests


def test_wait_gives_up_with_124_after_its_timeout(cli: CliRunner, farm: FakeFarm) -> None:
    farm.jobs = {3: job(rs.JOB_STATE_RUNNING)}
    result = cli("wait", "3", "--timeout", "0.2")
    assert result.code == 124
    assert "job 3 did not end within 0.2s" in result.err


def test_wait_on_a_missing_job_is_not_found(cli: CliRunner) -> None:
    result = cli("wait", "99")
    assert result.code == 2
    assert result.err.strip() == "renderq: job 99 does not exist (NOT_FOUND)"


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_on_a_terminal_progress_is_one_line_redrawn_in_place() -> None:
    screen = Terminal()
    progress = JobProgress(screen)
    progress.update(job(rs.JOB_STATE_RUNNING, completed=1))
    progress.update(job(rs.JOB_STATE_RUNNING, completed=2, failed=1))
    progress.close()
    text = screen.getvalue()
    assert text.count("\r") == 2
    assert text.count("\n") == 1 and text.endswith("\n")
    assert text.rsplit("\r", 1)[1].startswith("job 3 running   [#####-----]  50%  2/4 frames  1 failed")
