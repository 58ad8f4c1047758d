"""The ``demo`` plugin: its command, its parameters, and a real run of what it builds."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from renderq.agent.task_setup import fill_tokens
from renderq.demo.png import SIGNATURE
from renderq.plugins.base import ErrorLine, FrameSaved, FrameStarted, ParameterError, ParseEvent
from renderq.plugins.blender_output import BlenderOutputParser
from renderq.plugins.demo import DemoPlugin

plugin = DemoPlugin()


def refusal(**params: Any) -> ParameterError:
    with pytest.raises(ParameterError) as caught:
        plugin.validate(params)
    return caught.value


def test_one_command_renders_the_whole_task_with_the_agents_python() -> None:
    [command] = plugin.build_commands(plugin.validate({}), [1, 2, 9])
    assert command.argv == [
        "{python}", "-m", "renderq.demo.pattern",
        "--frames", "1,2,9",
        "--output", "{renders}/demo_{frame:04d}.png",
        "--width", "320", "--height", "180",
        "--seconds-per-frame", "0.2",
    ]  # fmt: skip
    assert command.frames == [1, 2, 9]


def test_needs_no_renderer_and_reads_output_like_blender() -> None:
    assert plugin.renderer == ""
    assert isinstance(plugin.output_parser(), BlenderOutputParser)


@pytest.mark.parametrize(
    ("params", "field", "message"),
    [
        ({"width": 0}, "width", "'width' must be from 1 to 8192 pixels, not 0"),
        ({"height": 9000}, "height", "'height' must be from 1 to 8192 pixels, not 9000"),
        (
            {"seconds_per_frame": -1},
            "seconds_per_frame",
            "'seconds_per_frame' must be from 0 to 3600, not -1",
        ),
        ({"output": "{renders}/demo.png"}, "output", "'output' must contain {frame}"),
        ({"output": "{renders}/{shot}_{frame}.png"}, "output", "unknown token {shot}"),
        ({"width": "wide"}, "width", "'width' must be a number"),
    ],
)
def test_bad_parameters_are_named(params: dict[str, Any], field: str, message: str) -> None:
    error = refusal(**params)
    assert error.field == field
    assert message in error.message


def test_the_built_command_renders_real_frames(tmp_path: Path) -> None:
    params = plugin.validate({"width": 32, "height": 18, "seconds_per_frame": 0})
    [command] = plugin.build_commands(params, [2, 5])
    tokens = {"{python}": sys.executable, "{renders}": str(tmp_path / "renders")}
    result = subprocess.run(
        [fill_tokens(arg, tokens) for arg in command.argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout
    parser = plugin.output_parser()
    events: list[ParseEvent] = [e for line in result.stdout.splitlines() for e in parser.feed(line)]
    assert [e for e in events if isinstance(e, FrameStarted)] == [FrameStarted(2), FrameStarted(5)]
    saved = [e for e in events if isinstance(e, FrameSaved)]
    assert saved == [
        FrameSaved(str(tmp_path / "renders" / "demo_0002.png"), 2),
        FrameSaved(str(tmp_path / "renders" / "demo_0005.png"), 5),
    ]
    assert all(Path(s.path).read_bytes().startswith(SIGNATURE) for s in saved)
    assert not [e for e in events if isinstance(e, ErrorLine)]
