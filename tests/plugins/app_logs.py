"""Feeding the written logs of applications that cannot run here (tests/plugins/logs/<app>/)
to a plugin's parser, and building a plugin's commands as the controller would."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, TypeVar

import pytest

from renderq.plugins.base import ParameterError, ParseEvent, Plugin

LOGS = Path(__file__).parent / "logs"
T = TypeVar("T")


def parse_log(plugin: Plugin, app: str, name: str) -> list[ParseEvent]:
    """Every event of one parser fed the log line by line, line endings kept as a pipe gives them."""
    return parse_lines(plugin, (LOGS / app / name).read_text().splitlines(keepends=True))


def parse_lines(plugin: Plugin, lines: Sequence[str]) -> list[ParseEvent]:
    parser = plugin.output_parser()
    return [event for line in lines for event in parser.feed(line)]


def of_type(events: Sequence[ParseEvent], kind: type[T]) -> list[T]:
    return [e for e in events if isinstance(e, kind)]


def argvs(plugin: Plugin, frames: list[int], **params: Any) -> list[list[str]]:
    """The command lines for ``frames`` after validation, checking each covers its frames."""
    commands = plugin.build_commands(plugin.validate(params), frames)
    assert [f for command in commands for f in command.frames] == frames
    return [command.argv for command in commands]


def refusal(plugin: Plugin, **params: Any) -> ParameterError:
    with pytest.raises(ParameterError) as caught:
        plugin.validate(params)
    return caught.value
