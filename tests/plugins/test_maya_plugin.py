"""The ``maya`` plugin: Maya's Render command lines for Arnold and its parser over written logs."""

from __future__ import annotations

from typing import Any

import pytest

from renderq.plugins.base import ErrorLine, FrameSaved, FrameStarted, Progress, TaskFailed, WarningLine
from renderq.plugins.maya import LICENCE_REFUSED, WATERMARK_ALLOWED, MayaPlugin
from tests.plugins.app_logs import argvs, of_type, parse_lines, parse_log, refusal

plugin = MayaPlugin()
SCENE = "/mnt/shots/sh 010/scenes/light_v3.ma"


def test_a_chunk_renders_as_one_range_with_the_scene_last() -> None:
    assert argvs(plugin, [1, 2, 3], scene=SCENE) == [
        [
            "Render", "-r", "arnold", "-s", "1", "-e", "3", "-b", "1",
            "-rd", "{renders}",
            "-ai:threads", "0", "-ai:ltc", "1", "-ai:lve", "2", "-ai:alf", "1",
            SCENE,
        ]
    ]  # fmt: skip


def test_one_frame_and_the_optional_flags() -> None:
    [line] = argvs(
        plugin,
        [7],
        scene="P:\\shots\\sh 010\\light.mb",
        project="P:\\shots\\sh 010",
        camera="renderCam",
        output="P:\\renders\\sh 010",
        image_prefix="<Scene>_<RenderLayer>",
        threads=8,
    )
    assert line[3:9] == ["-s", "7", "-e", "7", "-b", "1"]
    assert line[line.index("-cam") + 1] == "renderCam"
    assert line[line.index("-proj") + 1] == "P:\\shots\\sh 010"
    assert line[line.index("-rd") + 1] == "P:\\renders\\sh 010"
    assert line[line.index("-im") + 1] == "<Scene>_<RenderLayer>"
    assert line[line.index("-ai:threads") + 1] == "8"
    assert line[-1] == "P:\\shots\\sh 010\\light.mb"


def test_stepped_frames_render_as_one_process_each_run() -> None:
    lines = argvs(plugin, [1, 11, 12], scene=SCENE)
    assert [line[3:7] for line in lines] == [["-s", "1", "-e", "1"], ["-s", "11", "-e", "12"]]


def test_watermarks_allowed_keeps_arnold_going_and_tells_the_parser() -> None:
    [line] = argvs(plugin, [1], scene=SCENE, allow_watermark=True)
    assert line[line.index("-ai:alf") + 1] == "0"
    assert WATERMARK_ALLOWED in line[line.index("-preRender") + 1]
    assert line[-1] == SCENE


def test_paths_are_path_parameters_so_mapping_applies() -> None:
    kinds = {p.name: p.type.value for p in plugin.parameters}
    assert (kinds["scene"], kinds["project"], kinds["output"]) == ("path", "path", "path")


@pytest.mark.parametrize(
    ("params", "field", "message"),
    [
        ({"scene": "/mnt/a.blend"}, "scene", "'scene' must be a .ma or .mb file"),
        ({"scene": "scenes/a.ma"}, "scene", "'scene' is the relative path 'scenes/a.ma'"),
        ({"project": "shots"}, "project", "relative path"),
        ({"camera": ""}, "camera", "'camera' is empty"),
        ({"camera": "-s"}, "camera", "starts with '-'"),
        ({"threads": -1}, "threads", "from 0 (every core) to 1024, not -1"),
        ({"allow_watermark": "yes"}, "allow_watermark", "must be true or false"),
        ({"renderer": "vray"}, "renderer", "maya has no parameter 'renderer'"),
    ],
)
def test_bad_parameters_are_named(params: dict[str, Any], field: str, message: str) -> None:
    error = refusal(plugin, **{"scene": SCENE, **params})
    assert error.field == field
    assert message in error.message


def test_success_starts_each_frame_reports_its_progress_and_saves_it() -> None:
    events = parse_log(plugin, "maya", "success.log")
    assert of_type(events, FrameStarted) == [FrameStarted(1), FrameStarted(2)]
    assert [(p.frame, p.fraction) for p in of_type(events, Progress)] == [
        (1, 0.0), (1, 0.2), (1, 0.6), (1, 1.0), (2, 0.0), (2, 0.5), (2, 1.0),
    ]  # fmt: skip
    assert of_type(events, FrameSaved) == [
        FrameSaved("/mnt/shots/sh 010/renders/light_v3.0001.exr", 1),
        FrameSaved("/mnt/shots/sh 010/renders/light_v3.0002.exr", 2),
    ]
    # Maya carries on past a missing plug-in: an error line, for the exit code to decide.
    assert of_type(events, ErrorLine) == [
        ErrorLine(
            "file: /usr/autodesk/maya2024/scripts/others/pluginCallbacks.mel line 28: Plug-in, "
            '"bifrostGraph", was not found on MAYA_PLUG_IN_PATH.'
        )
    ]
    assert not of_type(events, TaskFailed)


def test_a_crash_fails_the_task_after_the_error_that_led_to_it() -> None:
    events = parse_log(plugin, "maya", "crash.log")
    assert [s.frame for s in of_type(events, FrameSaved)] == [1]
    assert of_type(events, ErrorLine) == [
        ErrorLine("[volume] fxSmokeShape: cannot load file /mnt/cache/smoke.0002.vdb")
    ]
    [failed] = of_type(events, TaskFailed)
    assert (
        failed.message == "Maya crashed: Fatal Error. Attempting to save in /usr/tmp/render.20261201.1013.ma"
    )


def test_no_licence_fails_the_task_once() -> None:
    events = parse_log(plugin, "maya", "licence.log")
    [failed] = of_type(events, TaskFailed)
    assert failed.message.startswith(LICENCE_REFUSED)
    assert "no license available" in failed.message
    assert "set allow_watermark" in failed.message


def test_no_licence_with_watermarks_allowed_is_only_noted() -> None:
    events = parse_log(plugin, "maya", "licence_allowed.log")
    assert not of_type(events, TaskFailed)
    assert len(of_type(events, ErrorLine)) == 2
    assert [s.frame for s in of_type(events, FrameSaved)] == [1]


def test_noise_is_nothing() -> None:
    noise = [
        "00:00:01   480MB         | starting 32 bucket workers of size 64x64 ...\n",
        "Result: /mnt/a.ma\n",
        "00:00:00   211MB         | Arnold 7.2.4.1 [3b9d7a36] linux x86_64 rlm-14.2.5\n",
    ]
    assert parse_lines(plugin, noise) == []


def test_warnings_of_maya_and_arnold_are_kept_with_the_frame() -> None:
    lines = [
        "// Warning: file: /mnt/a.ma line 12: Unrecognized node type 'xgmPalette'. //\n",
        "00:00:02   480MB WARNING | [texturesys] /mnt/tex/wood.tx: file not found\n",
    ]
    assert parse_lines(plugin, lines) == [
        WarningLine("file: /mnt/a.ma line 12: Unrecognized node type 'xgmPalette'."),
        WarningLine("[texturesys] /mnt/tex/wood.tx: file not found"),
    ]


def test_completes_its_range_on_exit_and_needs_maya_render() -> None:
    assert plugin.output_parser().completes_on_exit
    assert plugin.renderer == "Render"
