"""The real Blender runs the command the plugin builds, and the parser follows it."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from renderq.agent.task_setup import fill_tokens
from renderq.plugins.base import ErrorLine, FrameSaved, ParseEvent
from renderq.plugins.blender import BlenderPlugin
from tests.scenes import denoising_copy

pytestmark = pytest.mark.blender

plugin = BlenderPlugin()
DEADLINE = 120.0
"""Seconds a two-frame render of the demo scene may take before the test gives up."""


def render(blender: str, scene: Path, frames: list[int], renders: Path) -> tuple[int, list[ParseEvent], str]:
    """Run the task's command as the agent would: tokens replaced, output fed line by line."""
    [command] = plugin.build_commands(plugin.validate({"scene": str(scene)}), frames)
    argv = [fill_tokens(arg, {"{renders}": str(renders)}) for arg in command.argv]
    argv[0] = blender
    result = subprocess.run(
        argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=DEADLINE, check=False
    )
    parser = plugin.output_parser()
    events = [event for line in result.stdout.splitlines() for event in parser.feed(line)]
    return result.returncode, events, result.stdout


def test_two_frames_render_to_two_pngs(blender: str, demo_scene: Path, tmp_path: Path) -> None:
    code, events, output = render(blender, demo_scene, [1, 2], tmp_path / "renders")
    assert code == 0, output
    saved = [e for e in events if isinstance(e, FrameSaved)]
    assert [(s.frame, Path(s.path)) for s in saved] == [
        (1, tmp_path / "renders" / "frame_0001.png"),
        (2, tmp_path / "renders" / "frame_0002.png"),
    ]
    for s in saved:
        assert Path(s.path).read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    assert not [e for e in events if isinstance(e, ErrorLine)]


def test_a_denoising_scene_renders_without_a_denoiser_where_blender_has_none(
    blender: str, demo_scene: Path, tmp_path: Path
) -> None:
    denoising = denoising_copy(blender, demo_scene, tmp_path / "denoising.blend")
    code, events, output = render(blender, denoising, [1], tmp_path / "renders")
    assert code == 0, output
    assert "renderq: denoising turned off: this Blender has no denoiser" in output
    assert not [e for e in events if isinstance(e, ErrorLine)], output
    assert [e for e in events if isinstance(e, FrameSaved)]
