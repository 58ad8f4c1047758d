"""A backup taken mid-job, while the controller runs, restores to a controller that
finishes the job with every record it held."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.waiting import eventually

from .conftest import Farm
from .test_recovery import frames_of, gated_command

pytestmark = pytest.mark.system


def test_a_backup_taken_mid_job_restores_to_a_controller_that_finishes_the_job(
    farm_factory: Callable[[], Farm], tmp_path: Path
) -> None:
    farm = farm_factory()
    farm.add_agent("a1")
    farm.start_agent("a1", "--slots", "2")
    controller = farm.start_controller()
    gates = tmp_path / "gates"
    gates.mkdir()
    job_id = str(farm.cli.json("submit", "command", "--frames", "1-4", *gated_command(gates))["id"])
    (gates / "1").touch()
    eventually("frame 1 completed", lambda: frames_of(farm, job_id)[0]["state"] == "completed")

    backup = tmp_path / "backups" / "farm.duckdb"
    backup.parent.mkdir()
    summary = farm.cli.json("backup", str(backup))
    assert (summary["jobs"], summary["frames"], summary["path"]) == (1, 4, str(backup))
    assert summary["tokens"] >= 1 and summary["audit_records"] >= 1, summary
    refused = farm.cli.run("backup", str(backup), check=False)
    assert refused.returncode == 2 and "--force" in refused.stderr

    controller.kill()
    controller.stop()
    farm.start_controller("--db", str(backup))
    for n in range(2, 5):
        (gates / str(n)).touch()
    assert farm.cli.run("wait", job_id, "--timeout", "120", timeout=150).returncode == 0
    assert [f["state"] for f in frames_of(farm, job_id)] == ["completed"] * 4
    created = [r for r in farm.cli.json("audit") if r["method"] == "CreateJob"]
    assert [r["target"] for r in created] == [f"job {job_id}"]
