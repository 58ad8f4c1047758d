"""The ``python`` plugin: the interpreter, per-frame or per-task commands, what it refuses, its parser."""

from __future__ import annotations

from typing import Any

import pytest

from renderq.plugins.base import CommandSpec, ExpectedOutput, ParameterError, Progress, TaskFailed
from renderq.plugins.python import PythonPlugin

plugin = PythonPlugin()


def build(frames: list[int], **params: Any) -> list[CommandSpec]:
    return plugin.build_commands(plugin.validate(params), frames)


def refusal(**params: Any) -> ParameterError:
    with pytest.raises(ParameterError) as caught:
        plugin.validate(params)
    return caught.value


def test_the_agents_python_runs_the_script_once_per_task() -> None:
    [command] = build([4, 5, 6], script="{project}/gen.py", args=["--from", "{start}", "--to", "{end}"])
    assert command.argv == ["{python}", "{project}/gen.py", "--from", "4", "--to", "6"]
    assert command.frames == [4, 5, 6]


def test_frame_token_runs_it_once_per_frame_with_its_output() -> None:
    commands = build(
        [1, 2],
        script="/studio/tools/sd.py",
        args=["--seed", "{frame}", "--out", "{renders}/img_{frame:03d}.png"],
        outputs="{renders}/img_{frame:03d}.png",
    )
    assert [c.argv for c in commands] == [
        ["{python}", "/studio/tools/sd.py", "--seed", "1", "--out", "{renders}/img_001.png"],
        ["{python}", "/studio/tools/sd.py", "--seed", "2", "--out", "{renders}/img_002.png"],
    ]
    assert [c.expected_outputs for c in commands] == [
        [ExpectedOutput(1, "{renders}/img_001.png")],
        [ExpectedOutput(2, "{renders}/img_002.png")],
    ]


def test_another_interpreter_may_be_named() -> None:
    [command] = build([1], script="/s/gen.py", python="/opt/venvs/gen/bin/python")
    assert command.argv == ["/opt/venvs/gen/bin/python", "/s/gen.py"]


def test_gpus_are_documented_as_the_reservation() -> None:
    [args] = [p for p in plugin.parameters if p.name == "args"]
    assert "--task-gpus" in args.help and "CUDA_VISIBLE_DEVICES" in args.help


def test_script_is_required() -> None:
    error = refusal(args=["x"])
    assert error.field == "script" and "needs the parameter 'script'" in error.message


def test_a_relative_script_is_refused() -> None:
    error = refusal(script="gen.py")
    assert (error.field, error.message) == (
        "script",
        "'script' is the relative path 'gen.py'; give an absolute path on storage the render nodes "
        "share, or one that starts with {project}",
    )


def test_a_relative_interpreter_is_refused() -> None:
    assert refusal(script="/s/gen.py", python="venv/bin/python").field == "python"


def test_unknown_tokens_in_args_are_named() -> None:
    error = refusal(script="/s/gen.py", args=["{fram}"])
    assert error.field == "args" and "unknown token {fram}" in error.message


def test_outputs_know_only_the_frame_token() -> None:
    error = refusal(script="/s/gen.py", outputs="{renders}/{start}.png")
    assert error.field == "outputs" and "unknown token {start}" in error.message


def test_the_parser_speaks_open_job_description() -> None:
    parser = plugin.output_parser()
    assert parser.completes_on_exit
    assert parser.feed("openjd_progress: 25") == [Progress(0.25)]
    assert parser.feed("openjd_fail: out of GPU memory") == [TaskFailed("out of GPU memory")]
    assert parser.feed("step 3/50") == []


def test_a_scripts_output_is_not_held_back_in_a_pipe() -> None:
    commands = plugin.build_commands(plugin.validate({"script": "/studio/gen.py"}), [1, 2])
    assert [c.environment for c in commands] == [{"PYTHONUNBUFFERED": "1"}]
