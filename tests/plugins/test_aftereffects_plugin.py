"""The ``aftereffects`` plugin: aerender's command lines and its parser over written logs."""

from __future__ import annotations

from typing import Any

import pytest

from renderq.plugins.aftereffects import LICENCE_REFUSED, AfterEffectsPlugin
from renderq.plugins.base import ErrorLine, Progress, TaskFailed
from tests.plugins.app_logs import argvs, of_type, parse_lines, parse_log, refusal

plugin = AfterEffectsPlugin()
PROJECT = "/mnt/shots/sh 010/comp v2.aep"
BASE = {"project": PROJECT, "comp": "Main Comp"}


def test_a_chunk_renders_as_one_range() -> None:
    assert argvs(plugin, [5, 6, 7, 8], **BASE) == [
        [
            "aerender", "-project", PROJECT, "-comp", "Main Comp",
            "-s", "5", "-e", "8", "-output", "{renders}/frame_[#####].png",
        ]
    ]  # fmt: skip


def test_one_frame_starts_and_ends_on_it() -> None:
    [line] = argvs(plugin, [12], **BASE)
    assert line[line.index("-s") + 1 : line.index("-e") + 2] == ["12", "-e", "12"]


def test_stepped_frames_render_as_one_process_each_run() -> None:
    lines = argvs(plugin, [1, 2, 5, 9, 10], **BASE)
    assert [(line[line.index("-s") + 1], line[line.index("-e") + 1]) for line in lines] == [
        ("1", "2"), ("5", "5"), ("9", "10"),
    ]  # fmt: skip


def test_templates_and_memory_reach_the_command() -> None:
    [line] = argvs(
        plugin,
        [1],
        **BASE,
        output="P:\\renders\\sh 010\\f_[####].exr",
        render_settings="Best Settings",
        output_module="OpenEXR Sequence",
        image_cache_percent=40,
        max_memory_percent=80,
    )
    assert line[line.index("-output") + 1] == "P:\\renders\\sh 010\\f_[####].exr"
    assert line[line.index("-RStemplate") + 1] == "Best Settings"
    assert line[line.index("-OMtemplate") + 1] == "OpenEXR Sequence"
    assert line[line.index("-mem_usage") + 1 :][:2] == ["40", "80"]


def test_paths_are_path_parameters_so_mapping_applies() -> None:
    kinds = {p.name: p.type.value for p in plugin.parameters}
    assert (kinds["project"], kinds["output"]) == ("path", "path")


@pytest.mark.parametrize(
    ("params", "field", "message"),
    [
        ({"project": "/mnt/a.blend"}, "project", "'project' must be a .aep or .aepx file"),
        ({"project": "shots/a.aep"}, "project", "'project' is the relative path 'shots/a.aep'"),
        ({"comp": " "}, "comp", "'comp' is empty; give the composition's name"),
        ({"comp": "-s"}, "comp", "starts with '-'"),
        ({"output": "renders/f_[#####].png"}, "output", "relative path"),
        ({"image_cache_percent": 40}, "max_memory_percent", "-mem_usage takes both"),
        ({"image_cache_percent": 0, "max_memory_percent": 50}, "image_cache_percent", "from 1 to 100, not 0"),
        ({"threads": 4}, "threads", "aftereffects has no parameter 'threads'"),
    ],
)
def test_bad_parameters_are_named(params: dict[str, Any], field: str, message: str) -> None:
    error = refusal(plugin, **{**BASE, **params})
    assert error.field == field
    assert message in error.message


def test_project_and_comp_are_required() -> None:
    assert refusal(plugin, comp="Main Comp").field == "project"
    assert refusal(plugin, project=PROJECT).field == "comp"


def test_a_project_under_the_jobs_folder_passes() -> None:
    assert plugin.validate({**BASE, "project": "{project}/comp.aep"})["project"] == "{project}/comp.aep"


def test_success_reports_each_frame_done_and_nothing_else() -> None:
    events = parse_log(plugin, "aftereffects", "success.log")
    assert events == [Progress(1.0, 5), Progress(1.0, 6), Progress(1.0, 7), Progress(1.0, 8)]


def test_a_crash_fails_the_task_once_even_if_aerender_exits_0() -> None:
    events = parse_log(plugin, "aftereffects", "crash.log")
    assert of_type(events, Progress) == [Progress(1.0, 5), Progress(1.0, 6)]
    [failed] = of_type(events, TaskFailed)
    assert failed.message.startswith("After Effects error: Crash in progress.")
    assert "Out of memory" in failed.message
    assert not of_type(events, ErrorLine)


def test_a_refused_licence_fails_the_task_in_words() -> None:
    events = parse_log(plugin, "aftereffects", "licence.log")
    [failed] = of_type(events, TaskFailed)
    assert failed.message.startswith(LICENCE_REFUSED)
    assert "error 195" in failed.message
    assert [e.message for e in of_type(events, ErrorLine)] == [
        "After Effects error: unable to start rendering without a valid licence."
    ]


def test_an_after_effects_error_alone_is_left_to_the_exit_code() -> None:
    assert parse_lines(plugin, ['After Effects error: missing footage "bg.mov"\r\n']) == [
        ErrorLine('missing footage "bg.mov"')
    ]


def test_completes_its_range_on_exit_and_needs_aerender() -> None:
    assert plugin.output_parser().completes_on_exit
    assert plugin.renderer == "aerender"
