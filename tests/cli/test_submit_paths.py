"""Path parameters are judged where the user typed them, before anything is sent."""

from __future__ import annotations

from pathlib import Path

import pytest

from .conftest import CliRunner, FakeFarm, listed_plugins


@pytest.fixture
def shot(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, farm: FakeFarm) -> Path:
    """A scene in the working directory, and a farm that lists its plugins."""
    farm.plugins = listed_plugins()
    scene = tmp_path / "shot010.blend"
    scene.write_bytes(b"BLENDER")
    monkeypatch.chdir(tmp_path)
    return scene


def sent_scene(farm: FakeFarm) -> str:
    return str(farm.requests["CreateJob"][0].job.parameters["scene"])


def test_a_scene_in_the_working_directory_is_sent_absolute(
    cli: CliRunner, farm: FakeFarm, shot: Path
) -> None:
    result = cli("submit", "blender", "--frames", "1", "--param", "scene=shot010.blend")
    assert result.code == 0, result.err
    assert sent_scene(farm) == str(shot)


def test_a_missing_scene_is_refused_here_with_its_path(cli: CliRunner, farm: FakeFarm, shot: Path) -> None:
    result = cli("submit", "blender", "--frames", "1", "--param", "scene=shot020.blend")
    assert result.code == 2
    assert result.err == (
        "renderq: the scene 'shot020.blend' does not exist on this machine; check the path, or pass "
        "--paths-on-nodes when it is valid only on the render nodes\n"
    )
    assert "CreateJob" not in farm.requests


def test_paths_on_nodes_are_sent_as_typed(cli: CliRunner, farm: FakeFarm, shot: Path) -> None:
    result = cli(
        "submit", "blender", "--frames", "1", "--param", "scene=P:\\shots\\a.blend", "--paths-on-nodes"
    )
    assert result.code == 0, result.err
    assert sent_scene(farm) == "P:\\shots\\a.blend"


def test_a_scene_under_an_agent_token_is_not_looked_for(cli: CliRunner, farm: FakeFarm, shot: Path) -> None:
    assert cli("submit", "blender", "--frames", "1", "--param", "scene={project}/a.blend").code == 0
    assert sent_scene(farm) == "{project}/a.blend"


def test_which_parameters_are_paths_comes_from_the_farms_schema(
    cli: CliRunner, farm: FakeFarm, shot: Path
) -> None:
    farm.plugins = []  # a plugin the farm does not list: the controller judges the job itself
    assert cli("submit", "blender", "--frames", "1", "--param", "scene=shot020.blend").code == 0
    assert sent_scene(farm) == "shot020.blend"
    assert len(farm.requests["ListPlugins"]) == 1
