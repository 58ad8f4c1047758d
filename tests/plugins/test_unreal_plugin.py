"""The ``unreal`` plugin: Movie Render Queue's command line and its parser over written logs."""

from __future__ import annotations

from typing import Any

import pytest

from renderq.plugins.base import ErrorLine, Progress, TaskFailed
from renderq.plugins.unreal import LICENCE_REFUSED, UnrealPlugin
from tests.plugins.app_logs import argvs, of_type, parse_lines, parse_log, refusal

plugin = UnrealPlugin()
PROJECT = "D:\\Projects\\City Showcase\\CityShowcase.uproject"
BASE = {
    "project": PROJECT,
    "map": "/Game/Maps/Stage",
    "sequence": "/Game/Cinematics/Shot010.Shot010",
    "preset": "/Game/Cinematics/Final.Final",
}


def test_one_command_renders_the_task_with_the_preset() -> None:
    assert argvs(plugin, [1, 2, 3, 4], **BASE) == [
        [
            "UnrealEditor-Cmd", PROJECT, "/Game/Maps/Stage", "-game",
            "-MoviePipelineConfig=/Game/Cinematics/Final.Final",
            "-LevelSequence=/Game/Cinematics/Shot010.Shot010",
            "-windowed", "-log", "-StdOut", "-unattended", "-nosplash", "-RenderOffscreen",
        ]
    ]  # fmt: skip


def test_one_frame_is_one_command_too() -> None:
    assert len(argvs(plugin, [1], **BASE)) == 1


def test_a_project_under_the_jobs_folder_passes() -> None:
    assert (
        plugin.validate({**BASE, "project": "{project}/City.uproject"})["project"]
        == "{project}/City.uproject"
    )


def test_paths_are_path_parameters_so_mapping_applies() -> None:
    assert {p.name: p.type.value for p in plugin.parameters}["project"] == "path"


@pytest.mark.parametrize(
    ("params", "field", "message"),
    [
        ({"project": "D:\\City.uasset"}, "project", "'project' must be a .uproject file"),
        ({"project": "City/City.uproject"}, "project", "relative path"),
        ({"map": "Stage"}, "map", "'map' must be an Unreal asset path such as /Game/Folder/Name"),
        ({"sequence": "/Game/Cine/Shot 010"}, "sequence", "(no spaces)"),
        ({"preset": "-ExecCmds=quit"}, "preset", "asset path"),
        ({"resx": 1920}, "resx", "unreal has no parameter 'resx'"),
    ],
)
def test_bad_parameters_are_named(params: dict[str, Any], field: str, message: str) -> None:
    error = refusal(plugin, **{**BASE, **params})
    assert error.field == field
    assert message in error.message


@pytest.mark.parametrize("field", ["project", "map", "sequence", "preset"])
def test_each_is_required(field: str) -> None:
    assert refusal(plugin, **{k: v for k, v in BASE.items() if k != field}).field == field


def test_success_reports_the_share_of_frames_done() -> None:
    events = parse_log(plugin, "unreal", "success.log")
    assert of_type(events, Progress) == [Progress(0.25), Progress(0.5), Progress(0.75), Progress(1.0)]
    # A harmless engine error is left to the exit code.
    assert of_type(events, ErrorLine) == [
        ErrorLine("Failed to find a render target pool entry for a transient texture (ignored)")
    ]
    assert not of_type(events, TaskFailed)


def test_a_crash_fails_the_task_with_unreals_reason() -> None:
    events = parse_log(plugin, "unreal", "crash.log")
    assert of_type(events, Progress) == [Progress(0.25), Progress(0.5)]
    [failed] = of_type(events, TaskFailed)
    assert failed.message.startswith("Unreal crashed: [File:D:\\build\\Engine")
    assert failed.message.endswith("GPU crashed or D3D Device Removed.")


def test_a_plugins_refused_licence_fails_the_task() -> None:
    [failed] = of_type(parse_log(plugin, "unreal", "licence.log"), TaskFailed)
    assert failed.message.startswith(LICENCE_REFUSED)
    assert "License check failed" in failed.message


def test_a_movie_render_queue_error_fails_the_task_though_unreal_exits_0() -> None:
    assert of_type(parse_log(plugin, "unreal", "missing_sequence.log"), TaskFailed) == [
        TaskFailed(
            "Movie Render Queue: Failed to load Sequence specified by job: /Game/Cinematics/Shot099.Shot099"
        )
    ]


def test_noise_is_nothing() -> None:
    noise = [
        "[2026.12.01-10.30.05:002][  4]LogShaderCompilers: Display: Shaders left to compile 312\n",
        "[2026.12.01-10.30.16:930][ 93]LogMovieRenderPipeline: Finished rendering last shot.\n",
        "LogInit: Display: Running engine for game: CityShowcase\r\n",
    ]
    assert parse_lines(plugin, noise) == []


def test_completes_on_exit_and_needs_unreal() -> None:
    assert plugin.output_parser().completes_on_exit
    assert plugin.renderer == "UnrealEditor-Cmd"
