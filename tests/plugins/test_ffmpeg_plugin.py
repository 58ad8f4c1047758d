"""The ``ffmpeg`` plugin: one encode per task, its options, what it refuses, and its parser
on output recorded from the real ffmpeg (tests/plugins/logs/ffmpeg/README.md)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from renderq.plugins.base import CommandSpec, ErrorLine, ExpectedOutput, ParameterError, ParseEvent, Progress
from renderq.plugins.ffmpeg import FfmpegOutputParser, FfmpegPlugin

plugin = FfmpegPlugin()
LOGS = Path(__file__).parent / "logs" / "ffmpeg"
FRAMES = "{renders}/frame_%04d.png"


def build(frames: list[int], **params: Any) -> list[CommandSpec]:
    return plugin.build_commands(
        plugin.validate({"input": FRAMES, "output": "{renders}/shot.mp4", **params}), frames
    )


def refusal(**params: Any) -> ParameterError:
    with pytest.raises(ParameterError) as caught:
        plugin.validate({"input": FRAMES, "output": "{renders}/shot.mp4", **params})
    return caught.value


def parse(name: str) -> list[ParseEvent]:
    """The events of a recorded log, cut into lines as the agent cuts them (at \\r and \\n)."""
    parser = FfmpegOutputParser()
    text = (LOGS / name).read_text()
    return [event for line in re.split(r"[\r\n]", text) if line.strip() for event in parser.feed(line)]


def test_the_task_is_one_encode_and_the_movie_is_the_last_frames_output() -> None:
    [command] = build(list(range(1001, 1025)))
    assert command.argv == [
        "ffmpeg", "-hide_banner", "-nostdin", "-y", "-loglevel", "level+info",
        "-framerate", "24", "-start_number", "1001", "-i", FRAMES,
        "-frames:v", "24", "-c:v", "libx264", "-pix_fmt", "yuv420p", "-crf", "18",
        "{renders}/shot.mp4",
    ]  # fmt: skip
    assert command.frames == list(range(1001, 1025))
    assert command.expected_outputs == [ExpectedOutput(1024, "{renders}/shot.mp4")]
    assert plugin.renderer == "ffmpeg"


def test_h265_fps_quality_start_number_and_audio() -> None:
    [command] = build(
        [1, 2, 3], codec="h265", fps=23.976, quality=28, start_number=0, audio="{project}/mix.wav"
    )
    assert command.argv[6:10] == ["-framerate", "23.976", "-start_number", "0"]
    assert command.argv[12:] == [
        "-i", "{project}/mix.wav", "-map", "0:v:0", "-map", "1:a:0", "-c:a", "aac", "-shortest",
        "-frames:v", "3", "-c:v", "libx265", "-pix_fmt", "yuv420p", "-tag:v", "hvc1", "-crf", "28",
        "{renders}/shot.mp4",
    ]  # fmt: skip


def test_prores_ignores_quality() -> None:
    [command] = build([1], codec="prores", quality=30, output="{renders}/shot.mov")
    assert "-crf" not in command.argv
    assert command.argv[-7:] == [
        "-c:v", "prores_ks", "-profile:v", "3", "-pix_fmt", "yuv422p10le", "{renders}/shot.mov",
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("params", "field", "message"),
    [
        (
            {"input": "{renders}/frame_{frame:04d}.png"},
            "input",
            "'input' is an ffmpeg pattern: write %04d for the frame number, not {frame}",
        ),
        (
            {"input": "{renders}/frame.png"},
            "input",
            "'input' must name the frame number once, as %d or %04d (ffmpeg's image pattern), "
            "not '{renders}/frame.png'",
        ),
        ({"input": "frames/f_%04d.png"}, "input", "'input' is the relative path 'frames/f_%04d.png'"),
        ({"output": "{renders}/shot.gif"}, "output", "'output' must end in .mp4, .mov, .mkv for h264"),
        ({"codec": "prores"}, "output", "'output' must end in .mov for prores, not '{renders}/shot.mp4'"),
        ({"codec": "vp9"}, "codec", "'codec' must be one of h264, h265, prores, not 'vp9'"),
        ({"fps": 0}, "fps", "'fps' must be above 0 and at most 1000, not 0"),
        ({"quality": 52}, "quality", "'quality' must be from 0 to 51, not 52"),
        ({"start_number": -1}, "start_number", "'start_number' must be 0 or more, not -1"),
        ({"audio": "mix.wav"}, "audio", "'audio' is the relative path 'mix.wav'"),
    ],
)
def test_refusals_name_the_field_in_a_sentence(params: dict[str, Any], field: str, message: str) -> None:
    error = refusal(**params)
    assert error.field == field
    assert error.message.startswith(message), error.message


def test_progress_is_the_fraction_of_the_frames_encoded() -> None:
    events = parse("encode_120_frames.log")
    assert all(isinstance(e, Progress) and e.frame is None for e in events), events
    fractions = [e.fraction for e in events if isinstance(e, Progress)]
    assert fractions[0] == pytest.approx(1 / 120) and fractions[-1] == 1.0
    assert fractions == sorted(fractions) and len(fractions) == 20


def test_errors_are_ffmpegs_error_lines() -> None:
    assert parse("missing_input.log") == [
        ErrorLine(
            "ffmpeg: image2: Could find no file with path 'missing_%04d.png' and index in the range 1-5"
        ),
        ErrorLine("ffmpeg: missing_%04d.png: No such file or directory"),
    ]


def test_no_progress_before_ffmpeg_said_how_many_frames_it_reads() -> None:
    parser = FfmpegOutputParser()
    assert parser.feed("[info] frame=   12 fps=0.0 q=0.0 size=0kB time=00:00:00.00") == []
    assert parser.feed("frame=12 not at info level") == []
    assert parser.feed("[warning] deprecated pixel format used") == []
