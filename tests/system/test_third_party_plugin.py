"""A plugin from an installed distribution, with real processes: the controller and the
agent both load it (the controller to check the job and build its commands, the agent to
parse its output), and `renderq plugins` shows where it came from and which ones broke."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.plugins.test_entry_points import EXPECTED_BROKEN, STAMP_ORIGIN, write_plugin_package

from .conftest import Farm

pytestmark = pytest.mark.system


@pytest.fixture
def installed_farm(farm_factory: Callable[[], Farm], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Farm:
    """A controller and one agent with the package on their PYTHONPATH (the processes the
    farm starts inherit this environment)."""
    site = write_plugin_package(tmp_path / "site")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(site), os.environ.get("PYTHONPATH")])))
    farm = farm_factory()
    farm.add_agent("a1")
    farm.start_agent("a1")
    farm.start_controller().wait_for_line(r"agent online")
    return farm


def test_a_job_of_a_third_party_plugin_runs_to_completion(installed_farm: Farm) -> None:
    farm = installed_farm
    job_id = str(farm.cli.json("submit", "stamp", "--frames", "1-2", "--param", "text=hello")["id"])
    assert farm.cli.run("wait", job_id, "--timeout", "60").returncode == 0
    frames = farm.cli.json("frames", job_id)
    assert [f["state"] for f in frames] == ["completed", "completed"]
    # Only the plugin's own parser reports the file a frame saved: the agent used it.
    outputs = [(Path(o["path"]).name, o["size_bytes"]) for f in frames for o in f["outputs"]]
    assert outputs == [("stamp_0001.txt", 5), ("stamp_0002.txt", 5)]


def test_the_agent_warns_at_start_about_each_plugin_left_out(installed_farm: Farm) -> None:
    agent = installed_farm.agents["a1"]
    for name in EXPECTED_BROKEN:
        agent.wait_for_line(rf"plugin left out, its jobs cannot run here name={name} ")
    assert installed_farm.controller is not None
    installed_farm.controller.wait_for_line(r"plugin left out, its jobs cannot run here name=missing ")


def test_plugins_lists_its_origin_and_the_broken_ones_with_their_errors(installed_farm: Farm) -> None:
    listed = installed_farm.cli.run("plugins", as_json=True)
    origins = {p["name"]: p["origin"] for p in json.loads(listed.stdout)}
    assert origins["stamp"] == STAMP_ORIGIN and origins["blender"] == "built in"
    warnings = [json.loads(line)["warning"]["message"] for line in listed.stderr.splitlines()]
    assert len(warnings) == len(EXPECTED_BROKEN)
    assert any(
        "'missing'" in w and "ImportError: the houdini module is not installed" in w for w in warnings
    ), warnings
    text = installed_farm.cli.run("plugins")
    assert "renderq-stamp 1.0" in text.stdout
    assert "plugin 'blender' from renderq-stamp 1.0" in text.stderr
