"""The ``python`` plugin: a Python script with arguments, for image and video generation.

Generation scripts (diffusion models, simulations, compositing in Python) print their
progress in Open Job Description's protocol (``openjd_progress: 40``) and fail with
``openjd_fail: reason``, so one parser serves every script. The interpreter is the
agent's own (``{python}``) unless the job names another, such as a project's virtual
environment. The command is built like ``command``'s: once per frame when the arguments
use {frame}, else once per task.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from renderq.plugins.app_support import check_node_path
from renderq.plugins.base import CommandSpec, OutputParser, Parameter, ParameterError, ParamType, Plugin
from renderq.plugins.command import CommandPlugin
from renderq.plugins.openjd import OpenJDParser
from renderq.plugins.template import check_template

_ARG_TOKENS = ("frame", "start", "end")
_COMMAND = CommandPlugin()
"""Builds the commands: the same per-frame or per-task rule and outputs as ``command``."""


UNBUFFERED = {"PYTHONUNBUFFERED": "1"}
"""A script's output reaches the agent line by line as printed (a pipe would otherwise hold
it back in blocks), so ``openjd_progress`` moves the bar when the script says it."""


class PythonPlugin(Plugin):
    name = "python"
    description = (
        "Run a Python script (image or video generation) once per frame when its arguments use "
        "{frame}, else once per task; openjd_progress/openjd_fail lines report progress and failure."
    )
    parameters = (
        Parameter(
            "script",
            ParamType.PATH,
            "the script as the render nodes open it: an absolute path on storage they share, or a "
            "path under {project}, the job's uploaded folder on each node",
            required=True,
        ),
        Parameter(
            "args",
            ParamType.STRING_LIST,
            "the script's arguments; {frame} runs it once per frame, {start} and {end} are the "
            "first and last frame of the task; {workspace}, {project} and {renders} are the job's "
            "places on the node; {gpus} is the task's GPUs (such as 0,2) from the job's reservation "
            "(--task-gpus), which the agent also exports as CUDA_VISIBLE_DEVICES, so torch and "
            "other CUDA libraries see only those",
        ),
        Parameter(
            "outputs",
            ParamType.STRING,
            "path of each frame's output file, e.g. {renders}/out_{frame:04d}.png; "
            "the file is hashed when the frame completes and sent back to the controller",
        ),
        Parameter(
            "python",
            ParamType.PATH,
            "the interpreter that runs the script, e.g. /opt/venvs/gen/bin/python; "
            "empty runs it with the agent's own Python",
            default="",
        ),
    )

    def check(self, params: dict[str, Any]) -> None:
        check_node_path("script", params["script"])
        if params["python"]:
            check_node_path("python", params["python"])
        for arg in params.get("args", []):
            check_template("args", arg, _ARG_TOKENS)
        outputs = params.get("outputs")
        if outputs is not None:
            if not outputs.strip():
                raise ParameterError("outputs", "'outputs' is empty; leave it out or give a path")
            check_template("outputs", outputs, ("frame",))

    def build_commands(self, params: dict[str, Any], frames: list[int]) -> list[CommandSpec]:
        argv = [params["python"] or "{python}", params["script"], *params.get("args", [])]
        command = {"argv": argv, "outputs": params.get("outputs")}
        return [replace(c, environment=UNBUFFERED) for c in _COMMAND.build_commands(command, frames)]

    def output_parser(self) -> OutputParser:
        return OpenJDParser()
