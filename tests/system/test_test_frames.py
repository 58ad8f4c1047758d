"""Test frames with real processes: only they start, then the rest, and the job's
estimate from their render times shows in ``renderq job --json``; a failing test frame
with ``--stop-on-test-failure`` fails the job before any other frame starts.

Tasks are shell commands that note their start in a folder of the test's (named by the
job's ``RQ_BOX`` variable) and wait for a gate file the test creates, so the test decides
when each one ends.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from tests.waiting import eventually

from .conftest import Farm
from .test_scheduling import go_online, make_box, marks, submit

pytestmark = pytest.mark.system

GATED = (
    'touch "$RQ_BOX/started/{frame}"; '
    'while [ ! -e "$RQ_BOX/gates/{frame}" ]; do sleep 0.05; done; '
    'if [ -e "$RQ_BOX/broken/{frame}" ]; then echo "missing texture wood.png" >&2; exit 3; fi'
)
"""Notes its start, waits for its gate, then fails if the test marked its frame broken."""


def when(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))


def job_of(farm: Farm, job_id: str) -> dict[str, Any]:
    job: dict[str, Any] = farm.cli.json("job", job_id)
    return job


def test_only_the_test_frames_start_then_the_rest_and_the_job_shows_its_estimate(
    farm_factory: Callable[[], Farm], tmp_path: Path
) -> None:
    farm: Farm = farm_factory()
    farm.add_agent("a1")
    farm.start_agent("a1", "--slots", "4", "--cost-per-hour", "3")
    go_online(farm)
    box = make_box(tmp_path / "box", "started", "broken")
    job = submit(
        farm,
        "--frames",
        "1-8",
        "--test-frames",
        "first,last",
        "--env",
        f"RQ_BOX={box}",
        "--",
        "sh",
        "-c",
        GATED,
    )
    eventually("both test frames started", lambda: marks(box / "started") == {"1", "8"})
    frames = {f["number"]: f for f in farm.cli.json("frames", job)}
    assert {n for n, f in frames.items() if f.get("test")} == {1, 8}, frames
    assert "estimate" not in job_of(farm, job)  # none before a test frame completed
    for frame in range(1, 9):
        (box / "gates" / str(frame)).touch()
    assert farm.cli.run("wait", job, "--timeout", "60").returncode == 0

    frames = {f["number"]: f for f in farm.cli.json("frames", job)}
    tests_ended = max(when(frames[n]["end_time"]) for n in (1, 8))
    others_started = min(when(f["start_time"]) for n, f in frames.items() if n not in (1, 8))
    assert others_started >= tests_ended, frames
    estimate = job_of(farm, job)["estimate"]
    assert estimate["frames_measured"] == 2, estimate
    mean = sum(frames[n]["render_time"] for n in (1, 8)) / 2
    assert mean > 0
    assert estimate["total_render_time"] == pytest.approx(8 * mean, abs=1e-3)
    assert estimate["cost"] == pytest.approx(8 * mean / 3600 * 3, abs=0.01)
    assert "est. " in farm.cli.run("job", job).stdout


def test_a_failing_test_frame_stops_the_job_before_any_other_frame_starts(
    farm_factory: Callable[[], Farm], tmp_path: Path
) -> None:
    farm: Farm = farm_factory()
    farm.add_agent("a1")
    farm.start_agent("a1", "--slots", "4")
    go_online(farm)
    box = make_box(tmp_path / "box", "started", "broken")
    (box / "broken" / "3").touch()
    (box / "gates" / "3").touch()
    job = submit(
        farm, "--frames", "1-5", "--test-frames", "3", "--stop-on-test-failure", "--max-retries", "0",
        "--env", f"RQ_BOX={box}", "--", "sh", "-c", GATED,
    )  # fmt: skip
    waited = farm.cli.run("wait", job, "--timeout", "60", check=False)
    assert waited.returncode != 0
    assert "test frame 3 failed: exited with code 3: missing texture wood.png" in waited.stderr
    stopped = job_of(farm, job)
    assert stopped["state"] == "failed", stopped
    assert stopped["last_error"].startswith("test frame 3 failed: "), stopped
    states = {f["number"]: f["state"] for f in farm.cli.json("frames", job)}
    assert states == {1: "cancelled", 2: "cancelled", 3: "failed", 4: "cancelled", 5: "cancelled"}
    assert marks(box / "started") == {"3"}
