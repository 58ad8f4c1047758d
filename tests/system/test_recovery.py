"""Nothing is lost when processes die: real controller and agents, killed with SIGKILL."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.waiting import eventually

from .conftest import Farm

pytestmark = pytest.mark.system


def gated_command(gate_dir: Path) -> list[str]:
    """A task that says it started, then waits for its gate file (the test opens it)."""
    return [
        "--",
        "sh",
        "-c",
        f"echo started {{frame}}; while [ ! -e {gate_dir}/{{frame}} ]; do sleep 0.05; done",
    ]


def frames_of(farm: Farm, job_id: str) -> list[dict[str, Any]]:
    frames: list[dict[str, Any]] = farm.cli.json("frames", job_id)
    return frames


def test_killed_agent_task_is_requeued_and_completes_on_the_other(
    farm_factory: Callable[[], Farm], tmp_path: Path
) -> None:
    farm: Farm = farm_factory()
    farm.add_agent("a1")
    farm.add_agent("a2")
    farm.start_agent("a1")
    farm.start_agent("a2")
    controller = farm.start_controller()
    controller.wait_for_line(rf"agent online agent=\S+ address=127.0.0.1:{farm.agent_ports['a1']}")
    controller.wait_for_line(rf"agent online agent=\S+ address=127.0.0.1:{farm.agent_ports['a2']}")
    gates = tmp_path / "gates"
    gates.mkdir()
    job_id = str(farm.cli.json("submit", "command", "--frames", "1", *gated_command(gates))["id"])
    assigned = controller.wait_for_line(rf"assigned job={job_id} task=\d+ attempt=\d+ agent=(\S+)")
    victim_id = assigned.group(1)
    victim = next(p for p in farm.agents.values() if p.agent_id == victim_id)
    survivor = next(p for p in farm.agents.values() if p.agent_id != victim_id)
    killed_at = time.monotonic()
    victim.kill()
    controller.wait_for_line(rf"assigned job={job_id} task=\d+ attempt=\d+ agent={survivor.agent_id}")
    requeue_s = time.monotonic() - killed_at
    print(f"requeue after agent kill -9: {requeue_s:.1f} s (agent timeout 3 s)")
    (gates / "1").touch()
    assert farm.cli.run("wait", job_id, "--timeout", "120").returncode == 0
    (frame,) = frames_of(farm, job_id)
    assert frame["state"] == "completed"
    assert frame["agent_id"] == survivor.agent_id
    assert frame["attempt_count"] == 2


def test_controller_killed_mid_job_restarts_and_finishes_every_frame_once(
    farm_factory: Callable[[], Farm], tmp_path: Path
) -> None:
    farm: Farm = farm_factory()
    farm.add_agent("a1")
    farm.start_agent("a1", "--slots", "2")
    controller = farm.start_controller()
    gates = tmp_path / "gates"
    gates.mkdir()
    job_id = str(farm.cli.json("submit", "command", "--frames", "1-6", *gated_command(gates))["id"])
    (gates / "1").touch()
    (gates / "2").touch()
    eventually(
        "frames 1 and 2 completed",
        lambda: sum(f["state"] == "completed" for f in frames_of(farm, job_id)) >= 2,
    )
    controller.kill()
    controller.stop()
    # While the controller is dead, running frames finish; their results wait in the outbox.
    for n in range(3, 7):
        (gates / str(n)).touch()
    farm.start_controller()
    assert farm.cli.run("wait", job_id, "--timeout", "120").returncode == 0
    frames = frames_of(farm, job_id)
    assert [int(f["number"]) for f in frames] == [1, 2, 3, 4, 5, 6]
    assert all(f["state"] == "completed" for f in frames)
    job = farm.cli.json("job", job_id)
    assert job["frames_completed"] == 6
