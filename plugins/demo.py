"""The ``demo`` plugin: render a test pattern with renderq's own renderer.

A farm without Blender still renders real PNG files, with progress to watch, so the
whole path from submit to hashed outputs can be tried on any machine.
"""

from __future__ import annotations

from typing import Any

from renderq.plugins.base import CommandSpec, OutputParser, Parameter, ParameterError, ParamType, Plugin
from renderq.plugins.blender_output import BlenderOutputParser
from renderq.plugins.template import check_template, uses_token

MAX_SIDE = 8192
MAX_SECONDS_PER_FRAME = 3600.0


class DemoPlugin(Plugin):
    name = "demo"
    description = "Render a moving test pattern to PNG with renderq's built-in renderer (no renderer needed)."
    parameters = (
        Parameter("width", ParamType.INTEGER, "image width in pixels", default=320),
        Parameter("height", ParamType.INTEGER, "image height in pixels", default=180),
        Parameter(
            "seconds_per_frame",
            ParamType.NUMBER,
            "how long each frame takes to render, with progress reported along the way",
            default=0.2,
        ),
        Parameter(
            "output",
            ParamType.STRING,
            "path of each frame's PNG; {frame} (with a format spec such as {frame:04d}) is the frame number",
            default="{renders}/demo_{frame:04d}.png",
        ),
    )

    def check(self, params: dict[str, Any]) -> None:
        for side in ("width", "height"):
            if not 1 <= params[side] <= MAX_SIDE:
                raise ParameterError(
                    side, f"{side!r} must be from 1 to {MAX_SIDE} pixels, not {params[side]}"
                )
        seconds = params["seconds_per_frame"]
        if not 0 <= seconds <= MAX_SECONDS_PER_FRAME:
            raise ParameterError(
                "seconds_per_frame",
                f"'seconds_per_frame' must be from 0 to {MAX_SECONDS_PER_FRAME:g}, not {seconds:g}",
            )
        output: str = params["output"]
        check_template("output", output, ("frame",))
        if not uses_token(output, "frame"):
            raise ParameterError(
                "output",
                "'output' must contain {frame} (e.g. demo_{frame:04d}.png) so each frame gets its own file",
            )

    def build_commands(self, params: dict[str, Any], frames: list[int]) -> list[CommandSpec]:
        argv = [
            "{python}", "-m", "renderq.demo.pattern",
            "--frames", ",".join(str(f) for f in frames),
            "--output", params["output"],
            "--width", str(params["width"]),
            "--height", str(params["height"]),
            "--seconds-per-frame", repr(params["seconds_per_frame"]),
        ]  # fmt: skip
        return [CommandSpec(argv=argv, frames=list(frames))]

    def output_parser(self) -> OutputParser:
        return BlenderOutputParser()
