"""The ``3dsmax`` plugin: 3dsmaxcmd's command lines and its parser over written logs."""

from __future__ import annotations

from typing import Any

import pytest

from renderq.plugins.base import ErrorLine, Progress, TaskFailed
from renderq.plugins.max3ds import LICENCE_REFUSED, Max3dsPlugin
from tests.plugins.app_logs import argvs, of_type, parse_lines, parse_log, refusal

plugin = Max3dsPlugin()
SCENE = "C:\\shots\\sh 010\\scenes\\city_v12.max"


def test_a_chunk_renders_as_one_range() -> None:
    assert argvs(plugin, [10, 11, 12], scene=SCENE) == [
        [
            "3dsmaxcmd", SCENE, "-start:10", "-end:12",
            "-outputName:{renders}/frame_.png", "-v:5", "-showRFW:0",
        ]
    ]  # fmt: skip


def test_one_frame_with_camera_and_size() -> None:
    [line] = argvs(
        plugin,
        [7],
        scene=SCENE,
        output="\\\\nas\\renders\\sh 010\\city_.exr",
        camera="Cam 01",
        width=1920,
        height=1080,
    )
    assert line[2:4] == ["-start:7", "-end:7"]
    assert "-outputName:\\\\nas\\renders\\sh 010\\city_.exr" in line
    assert line[-3:] == ["-camera:Cam 01", "-width:1920", "-height:1080"]


def test_stepped_frames_render_as_one_process_each_run() -> None:
    lines = argvs(plugin, [1, 3, 4], scene=SCENE)
    assert [line[2:4] for line in lines] == [["-start:1", "-end:1"], ["-start:3", "-end:4"]]


def test_paths_are_path_parameters_so_mapping_applies() -> None:
    kinds = {p.name: p.type.value for p in plugin.parameters}
    assert (kinds["scene"], kinds["output"]) == ("path", "path")


@pytest.mark.parametrize(
    ("params", "field", "message"),
    [
        ({"scene": "C:\\a.ma"}, "scene", "'scene' must be a .max file"),
        ({"scene": "scenes\\a.max"}, "scene", "relative path"),
        ({"output": "out_.png"}, "output", "relative path"),
        ({"camera": "-start:1"}, "camera", "starts with '-'"),
        ({"width": 1920}, "height", "give width and height together, or neither"),
        ({"width": 0, "height": 10}, "width", "from 1 to 32768 pixels, not 0"),
        ({"threads": 2}, "threads", "3dsmax has no parameter 'threads'"),
    ],
)
def test_bad_parameters_are_named(params: dict[str, Any], field: str, message: str) -> None:
    error = refusal(plugin, **{"scene": SCENE, **params})
    assert error.field == field
    assert message in error.message


def test_success_reports_percentages_of_each_frame_and_each_frame_done() -> None:
    events = parse_log(plugin, "3dsmax", "success.log")
    assert [(p.frame, p.fraction) for p in of_type(events, Progress)] == [
        (None, 0.0), (None, 0.45), (None, 1.0), (10, 1.0),
        (11, 0.5), (11, 1.0),
        (12, 0.5), (12, 1.0),
    ]  # fmt: skip
    assert not [e for e in events if not isinstance(e, Progress)]


def test_a_failed_job_fails_the_task_naming_its_cause_once() -> None:
    events = parse_log(plugin, "3dsmax", "crash.log")
    assert of_type(events, ErrorLine) == [ErrorLine("Missing map: \\\\nas\\textures\\bark_diffuse_8k.tx")]
    assert of_type(events, TaskFailed) == [
        TaskFailed("Error occured while rendering job: Missing map: \\\\nas\\textures\\bark_diffuse_8k.tx")
    ]


def test_no_licence_fails_the_task() -> None:
    events = parse_log(plugin, "3dsmax", "licence.log")
    [failed] = of_type(events, TaskFailed)
    assert failed.message.startswith(LICENCE_REFUSED)
    assert "Licensing error 20" in failed.message


def test_noise_is_nothing() -> None:
    noise = [
        "2026/12/01 10:20:31 ; Scene loaded\r\n",
        "Job Completed Successfully\n",
        "Licensing: checked out\n",
    ]
    assert parse_lines(plugin, noise) == []


def test_completes_its_range_on_exit_and_needs_3dsmaxcmd() -> None:
    assert plugin.output_parser().completes_on_exit
    assert plugin.renderer == "3dsmaxcmd"
