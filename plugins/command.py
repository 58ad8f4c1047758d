"""The ``command`` plugin: run any program, once per task or once per frame.

The escape hatch for renderers without a plugin of their own: the program's exit
code is all the farm knows, so a frame is done when its command exits 0.
Open Job Description's ``openjd_progress``/``openjd_fail`` lines add progress and failures.
"""

from __future__ import annotations

from typing import Any

from renderq.plugins.base import (
    CommandSpec,
    ExpectedOutput,
    OutputParser,
    Parameter,
    ParameterError,
    ParamType,
    Plugin,
)
from renderq.plugins.openjd import OpenJDParser
from renderq.plugins.template import check_template, fill_frame_tokens, uses_token

_ARGV_TOKENS = ("frame", "start", "end")


class CommandPlugin(Plugin):
    name = "command"
    description = "Run a program: once per frame when its arguments use {frame}, else once per task."
    parameters = (
        Parameter(
            "argv",
            ParamType.STRING_LIST,
            "the program and its arguments; {frame} runs it once per frame, {start} and {end} are "
            "the first and last frame of the task; {workspace}, {source}, {project}, {renders} and "
            "{python} are the job's places on the agent; {gpus} is the task's GPUs, such as 0,2 "
            "(also its CUDA_VISIBLE_DEVICES), empty when it has none",
            required=True,
        ),
        Parameter(
            "outputs",
            ParamType.STRING,
            "path of each frame's output file, e.g. {renders}/out_{frame:04d}.png; "
            "the file is hashed when the frame completes",
        ),
    )

    def check(self, params: dict[str, Any]) -> None:
        argv: list[str] = params["argv"]
        if not argv:
            raise ParameterError("argv", "'argv' is empty; give the program to run and its arguments")
        if not argv[0].strip():
            raise ParameterError("argv", "'argv' starts with an empty program name")
        for arg in argv:
            check_template("argv", arg, _ARGV_TOKENS)
        outputs = params.get("outputs")
        if outputs is not None:
            if not outputs.strip():
                raise ParameterError("outputs", "'outputs' is empty; leave it out or give a path")
            check_template("outputs", outputs, ("frame",))

    def build_commands(self, params: dict[str, Any], frames: list[int]) -> list[CommandSpec]:
        argv: list[str] = params["argv"]
        if any(uses_token(arg, "frame") for arg in argv):
            return [self._command(argv, params, [frame]) for frame in frames]
        return [self._command(argv, params, frames)]

    def _command(self, argv: list[str], params: dict[str, Any], frames: list[int]) -> CommandSpec:
        values = {"frame": frames[0], "start": frames[0], "end": frames[-1]}
        outputs: str | None = params.get("outputs")
        expected = (
            [ExpectedOutput(frame, fill_frame_tokens(outputs, {"frame": frame})) for frame in frames]
            if outputs
            else []
        )
        return CommandSpec(
            argv=[fill_frame_tokens(arg, values) for arg in argv],
            frames=list(frames),
            expected_outputs=expected,
        )

    def output_parser(self) -> OutputParser:
        """Open Job Description's ``openjd_progress``/``openjd_fail`` lines; frames still
        complete when the program exits 0."""
        return OpenJDParser()
