"""The controller dies by SIGKILL again and again while frames pour into DuckDB; each
restart rebuilds the farm from the database and the agents' outboxes, and in the end
every frame is completed exactly once."""

from __future__ import annotations

from collections.abc import Callable

import duckdb
import pytest

from renderq.v1 import resources_pb2 as pb
from tests.system.conftest import Farm

from .conftest import assert_every_frame_completed_once, start_farm

pytestmark = pytest.mark.system

FRAMES = 10_000
"""Enough for about a minute of group commits on a small machine, several runs of the
scheduler and the recorder between kills, and a restore that reads thousands of rows."""
KILLS = 3


def stored_frame_states(farm: Farm, job_id: str) -> dict[int, int]:
    """How many of the job's frame rows the database holds in each state."""
    con = duckdb.connect(str(farm.root / "controller" / "renderq.duckdb"), read_only=True)
    try:
        rows = con.execute(
            "SELECT state, count(*) FROM frames WHERE job_id = ? GROUP BY state", [int(job_id)]
        ).fetchall()
    finally:
        con.close()
    return {int(state): int(count) for state, count in rows}


def test_controller_killed_during_heavy_writes_restarts_and_completes_every_frame_once(
    farm_factory: Callable[[], Farm],
) -> None:
    farm: Farm = farm_factory()
    start_farm(farm, ["a1", "a2"], "--slots", "4")
    # Each frame writes one small file, hashed as its output: a frame recorded twice would show.
    output = "{renders}/f{frame}.out"
    job_id = str(
        farm.cli.json(
            "submit",
            "command",
            "--frames",
            f"1-{FRAMES}",
            "--param",
            f"outputs={output}",
            "--",
            "touch",
            output,
        )["id"]
    )
    for kill in range(1, KILLS + 1):
        # Tasks are dispatched in order, one frame each: when task N ends, about N frames are done.
        goal = FRAMES * kill // (KILLS + 1)
        assert farm.controller is not None
        farm.controller.wait_for_line(rf"attempt finished job={job_id} task={goal} ", timeout=240)
        farm.controller.kill()
        farm.controller.stop()
        farm.start_controller()
    assert farm.cli.run("wait", job_id, "--timeout", "300", timeout=330).returncode == 0
    listing = assert_every_frame_completed_once(farm.cli, job_id, FRAMES)
    wrong = [
        f for f in listing if [o["path"].rsplit("/", 1)[1] for o in f["outputs"]] != [f"f{f['number']}.out"]
    ]
    assert not wrong, f"{len(wrong)} frames do not have their one output, e.g. {wrong[:3]}"

    assert farm.controller is not None
    farm.controller.stop()
    assert stored_frame_states(farm, job_id) == {pb.FRAME_STATE_COMPLETED: FRAMES}


def test_a_submitted_job_survives_a_controller_killed_right_after_the_submit_answered(
    farm_factory: Callable[[], Farm],
) -> None:
    farm: Farm = farm_factory()
    controller = farm.start_controller()
    # Big enough that storing it takes longer than the kill that follows the answer.
    job_id = str(farm.cli.json("submit", "command", "--frames", "1-100000", "--", "true")["id"])
    controller.kill()
    controller.stop()
    farm.start_controller()
    job = farm.cli.json("job", job_id)
    assert job["frame_count"] == 100_000


def test_ids_of_deleted_jobs_are_never_issued_again_after_a_kill(farm_factory: Callable[[], Farm]) -> None:
    farm: Farm = farm_factory()
    controller = farm.start_controller()
    deleted = [
        int(farm.cli.json("submit", "command", "--frames", "1-3", "--", "true")["id"]) for _ in range(2)
    ]
    for job_id in deleted:
        assert farm.cli.run("cancel", str(job_id)).returncode == 0
        assert farm.cli.run("delete", str(job_id)).returncode == 0
    controller.kill()
    controller.stop()
    farm.start_controller()
    new = int(farm.cli.json("submit", "command", "--frames", "1", "--", "true")["id"])
    assert new > max(deleted), f"job id {new} was issued before, to a deleted job"
    created = [r["target"] for r in farm.cli.json("audit") if r["method"] == "CreateJob"]
    assert len(set(created)) == len(created) == 3, f"the audit log names one job twice: {created}"
