"""Workspaces with real processes: a job renders into its owner's folder on the agent,
`renderq cleanup JOB` removes it and says how much it freed, and a running job's
workspace is refused."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from renderq.agent.workspace import owner_folder

from .conftest import Farm

pytestmark = pytest.mark.system


def test_cleanup_removes_an_ended_jobs_workspace_and_refuses_a_running_one(
    farm_factory: Callable[[], Farm], tmp_path: Path
) -> None:
    farm = farm_factory()
    farm.add_agent("a1")
    farm.start_agent("a1")
    farm.start_controller().wait_for_line(r"agent online")
    render = "printf 'a frame' > {renders}/frame-{frame}.png"
    ended = farm.cli.json("submit", "command", "--frames", "1", "--", "sh", "-c", render)
    farm.cli.run("wait", str(ended["id"]), "--timeout", "60")
    workspace = farm.root / "a1" / "workspaces" / owner_folder(ended["owner"]) / str(ended["id"])
    assert (workspace / "renders" / "frame-1.png").read_bytes() == b"a frame"
    gate = tmp_path / "gate"
    wait = f"while [ ! -e {gate} ]; do sleep 0.05; done"
    running = farm.cli.json("submit", "command", "--frames", "1", "--", "sh", "-c", wait)
    farm.controller.wait_for_line(rf"job state job={running['id']} state=running")  # type: ignore[union-attr]

    refused = farm.cli.run("cleanup", str(running["id"]), check=False)
    cleaned = farm.cli.json("cleanup", str(ended["id"]))

    assert refused.returncode == 2
    assert f"job {running['id']} is running; cancel it or let it end first" in refused.stderr
    assert cleaned["job_ids"] == [ended["id"]]
    [agent] = cleaned["agents"]
    assert (agent["agent_id"], agent["workspaces_removed"], agent["error"]) == (
        farm.agents["a1"].agent_id,
        1,
        "",
    )
    assert agent["bytes_freed"] >= len(b"a frame")
    assert not workspace.exists()
    gate.touch()
    farm.cli.run("wait", str(running["id"]), "--timeout", "60")
