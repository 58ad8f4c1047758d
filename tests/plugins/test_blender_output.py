"""The Blender output parser, fed real Blender 3.4 logs recorded by record_blender_logs.py."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TypeVar

from renderq.plugins.base import ErrorLine, FrameSaved, FrameStarted, ParseEvent, Progress
from renderq.plugins.blender_output import BlenderOutputParser

LOGS = Path(__file__).parent / "logs"
T = TypeVar("T")


def parse_lines(lines: list[str]) -> list[ParseEvent]:
    parser = BlenderOutputParser()
    return [event for line in lines for event in parser.feed(line)]


def parse_log(name: str) -> list[ParseEvent]:
    return parse_lines((LOGS / name).read_text().splitlines(keepends=True))


def of_type(events: Sequence[ParseEvent], kind: type[T]) -> list[T]:
    return [e for e in events if isinstance(e, kind)]


def test_each_frame_starts_then_is_saved() -> None:
    events = [e for e in parse_log("render_frames_1-3.log") if not isinstance(e, Progress)]
    assert [type(e).__name__ for e in events] == ["FrameStarted", "FrameSaved"] * 3
    assert of_type(events, FrameStarted) == [FrameStarted(1), FrameStarted(2), FrameStarted(3)]
    saved = of_type(events, FrameSaved)
    assert [s.frame for s in saved] == [1, 2, 3]
    assert [Path(s.path).name for s in saved] == ["frame_0001.png", "frame_0002.png", "frame_0003.png"]


def test_samples_are_progress_of_the_current_frame() -> None:
    progress = of_type(parse_log("render_frames_1-3.log"), Progress)
    for frame in (1, 2, 3):
        fractions = [p.fraction for p in progress if p.frame == frame]
        assert fractions == sorted(fractions)
        assert fractions[0] == 0.0
        assert fractions[-1] == 1.0


def test_scattered_frames_are_told_apart() -> None:
    events = parse_log("render_frames_1_3.log")
    assert of_type(events, FrameStarted) == [FrameStarted(1), FrameStarted(3)]
    assert [s.frame for s in of_type(events, FrameSaved)] == [1, 3]
    assert not of_type(events, ErrorLine)


def test_eevee_samples_are_progress_and_its_egl_chatter_is_no_error() -> None:
    events = parse_log("eevee_frame_1.log")
    assert [p.fraction for p in of_type(events, Progress)] == [1 / 64, 26 / 64, 51 / 64, 1.0]
    assert [s.frame for s in of_type(events, FrameSaved)] == [1]
    assert not of_type(events, ErrorLine)


def test_missing_denoiser_is_one_clear_error() -> None:
    events = parse_log("denoising.log")
    [error] = of_type(events, ErrorLine)
    assert "without OpenImageDenoise" in error.message
    assert "turn off Render Properties > Sampling > Denoise" in error.message
    assert not of_type(events, FrameSaved)


def test_missing_scene_is_an_error_naming_the_file() -> None:
    [error] = of_type(parse_log("missing_scene.log"), ErrorLine)
    assert error.message.startswith("Cannot read file '")
    assert "missing.blend': No such file or directory" in error.message


def test_corrupt_scene_is_an_error() -> None:
    events = parse_log("corrupt_scene.log")
    [error] = of_type(events, ErrorLine)
    assert error.message.startswith("Failed to read blend file '")
    assert error.message.endswith("truncated.blend': Missing DNA block")
    assert not of_type(events, FrameStarted)


def test_python_traceback_reports_only_its_exception() -> None:
    exception = "TypeError: bpy_struct: item.attr = val: CyclesRenderSettings.samples expected an int type"
    assert of_type(parse_log("python_error.log"), ErrorLine) == [ErrorLine(f"{exception}, not str")]


def test_failed_lines_are_errors() -> None:
    assert parse_lines(["Failed to open output file\n"]) == [ErrorLine("Failed to open output file")]


def test_saved_before_any_frame_line_leaves_the_frame_to_the_agent() -> None:
    assert parse_lines(["Saved: '/r/a b.png'\r\n"]) == [FrameSaved("/r/a b.png", None)]


def test_a_repeated_error_is_reported_once() -> None:
    assert parse_lines(["Error: out of memory\n", "Error: out of memory\n"]) == [ErrorLine("out of memory")]
