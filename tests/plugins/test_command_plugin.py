"""The ``command`` plugin: one command per frame or per task, tokens, outputs, and what it refuses."""

from __future__ import annotations

from typing import Any

import pytest

from renderq.plugins.base import CommandSpec, ExpectedOutput, ParameterError
from renderq.plugins.command import CommandPlugin

plugin = CommandPlugin()


def build(frames: list[int], **params: Any) -> list[CommandSpec]:
    return plugin.build_commands(plugin.validate(params), frames)


def refusal(**params: Any) -> ParameterError:
    with pytest.raises(ParameterError) as caught:
        plugin.validate(params)
    return caught.value


def test_frame_token_gives_one_command_per_frame() -> None:
    commands = build([3, 7], argv=["render", "--frame", "{frame}", "--out", "{renders}/f{frame:04d}.exr"])
    assert [c.argv for c in commands] == [
        ["render", "--frame", "3", "--out", "{renders}/f0003.exr"],
        ["render", "--frame", "7", "--out", "{renders}/f0007.exr"],
    ]
    assert [c.frames for c in commands] == [[3], [7]]


def test_without_frame_token_one_command_renders_the_whole_task() -> None:
    [command] = build([4, 5, 9], argv=["{python}", "make.py", "{start}", "{end}", "{workspace}"])
    assert command.argv == ["{python}", "make.py", "4", "9", "{workspace}"]
    assert command.frames == [4, 5, 9]


def test_agent_tokens_stay_for_the_agent() -> None:
    [command] = build([1], argv=["cp", "{source}/a", "{project}/b", "{renders}/c", "{workspace}/d"])
    assert command.argv == ["cp", "{source}/a", "{project}/b", "{renders}/c", "{workspace}/d"]


def test_outputs_become_an_expected_file_per_frame() -> None:
    [command] = build([1, 2], argv=["run"], outputs="{renders}/out_{frame:04d}.png")
    assert command.expected_outputs == [
        ExpectedOutput(1, "{renders}/out_0001.png"),
        ExpectedOutput(2, "{renders}/out_0002.png"),
    ]


def test_per_frame_commands_expect_only_their_own_frame() -> None:
    commands = build([1, 2], argv=["run", "{frame}"], outputs="{renders}/{frame}.png")
    assert [c.expected_outputs for c in commands] == [
        [ExpectedOutput(1, "{renders}/1.png")],
        [ExpectedOutput(2, "{renders}/2.png")],
    ]


def test_shell_variables_are_not_tokens() -> None:
    [command] = build([1], argv=["sh", "-c", "echo ${HOME} {frame}"])
    assert command.argv == ["sh", "-c", "echo ${HOME} 1"]


def test_completion_is_the_exit_code() -> None:
    assert plugin.output_parser().completes_on_exit


def test_argv_is_required() -> None:
    error = refusal()
    assert error.field == "argv"
    assert "needs the parameter 'argv'" in error.message


def test_empty_argv_is_refused() -> None:
    error = refusal(argv=[])
    assert (error.field, error.message) == (
        "argv",
        "'argv' is empty; give the program to run and its arguments",
    )


def test_empty_program_name_is_refused() -> None:
    error = refusal(argv=["  ", "x"])
    assert (error.field, error.message) == ("argv", "'argv' starts with an empty program name")


def test_unknown_token_is_named() -> None:
    error = refusal(argv=["render", "{fram}"])
    assert error.field == "argv"
    assert error.message.startswith(
        "'argv' uses an unknown token {fram}; the tokens are {frame}, {start}, {end}"
    )


def test_format_spec_that_cannot_format_a_frame_is_refused() -> None:
    error = refusal(argv=["render", "{frame:.2s}"])
    assert error.field == "argv"
    assert "{frame:.2s} has a format spec that cannot format a frame number" in error.message


def test_agent_tokens_take_no_format_spec() -> None:
    assert "the token {renders} takes no format spec" in refusal(argv=["ls", "{renders:>5}"]).message


def test_outputs_only_know_frame_and_agent_tokens() -> None:
    error = refusal(argv=["run"], outputs="{renders}/{start}.png")
    assert error.field == "outputs"
    assert "unknown token {start}" in error.message


def test_argv_must_be_a_list_of_text() -> None:
    error = refusal(argv="render {frame}")
    assert error.field == "argv"
    assert "must be a list of text" in error.message
