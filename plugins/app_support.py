"""What the plugins of installed applications (After Effects, Maya, Unreal, 3ds Max) share.

These applications render a run of frames per process and print their own progress,
errors and licence refusals. Their plugins check paths the same way (only what the
path says: the controller may not mount the studio's storage) and split a task's
frames into runs the same way, and their parsers report an error or a failure once.
"""

from __future__ import annotations

import re
from pathlib import PurePosixPath, PureWindowsPath

from renderq.plugins.base import ErrorLine, OutputParser, ParameterError, ParseEvent, TaskFailed
from renderq.plugins.template import check_template, uses_agent_token

LICENCE_FAILURE = re.compile(
    r"\blicen[cs](?:e|ing)\b.*\b(?:fail\w*|expired|invalid|denied|unavailable|not (?:be )?"
    r"(?:available|found|activated|valid)|could not|unable)\b"
    r"|\bnot licen[cs]ed\b|\bsign in required\b",
    re.IGNORECASE,
)
"""A line that says the application may not render here: licence words with a failure's."""


def check_node_path(field: str, value: str, suffixes: tuple[str, ...] = ()) -> None:
    """Refuse a path a render node could not resolve, or a file of the wrong kind.

    ``suffixes`` (lower case, with the dot) are the file types the application opens;
    none for a folder or an output pattern. A relative path would be resolved from each
    node's own working directory, so it must be absolute (POSIX or Windows, as the node
    that runs it sees it) or start from an agent token such as {project}.
    """
    if suffixes and not value.lower().endswith(suffixes):
        raise ParameterError(field, f"{field!r} must be a {' or '.join(suffixes)} file, not {value!r}")
    check_template(field, value, ())
    if uses_agent_token(value):
        return
    if not (PurePosixPath(value).is_absolute() or PureWindowsPath(value).is_absolute()):
        raise ParameterError(
            field,
            f"{field!r} is the relative path {value!r}; give an absolute path on storage the "
            "render nodes share, or one that starts with {project}",
        )


def check_name(field: str, value: str, what: str) -> None:
    """A name passed to the application as one argument: not empty, no line break, not an option."""
    if not value.strip():
        raise ParameterError(field, f"{field!r} is empty; give the {what}")
    if any(c in value for c in "\r\n\0"):
        raise ParameterError(field, f"{field!r} must be one line: the {what}")
    if value.startswith("-"):
        raise ParameterError(
            field, f"{field!r} starts with '-', which the application would read as an option"
        )


def frame_runs(frames: list[int]) -> list[list[int]]:
    """``frames`` cut into runs of consecutive numbers: each run is one start/end range.

    A task's frames are one run unless the job steps (``1-100x5``) or some of them are
    already done after a retry.
    """
    runs: list[list[int]] = []
    for frame in frames:
        if runs and frame == runs[-1][-1] + 1:
            runs[-1].append(frame)
        else:
            runs.append([frame])
    return runs


class AppOutputParser(OutputParser):
    """A parser for an application that renders a whole range per process: its frames
    complete when it exits 0 unless it said the task failed. The agent keeps the last
    error line as the failure's message, so each cause is reported once."""

    completes_on_exit = True

    def __init__(self) -> None:
        self._last_error: str | None = None
        self._failed = False

    @property
    def last_error(self) -> str | None:
        """The cause reported last, for a failure that names none of its own."""
        return self._last_error

    def error(self, message: str) -> list[ParseEvent]:
        message = message.strip()
        if not message or message == self._last_error:
            return []
        self._last_error = message
        return [ErrorLine(message)]

    def fail(self, message: str) -> list[ParseEvent]:
        """The first failure decides the task; later ones only repeat its consequence."""
        if self._failed:
            return self.error(message)
        self._failed = True
        self._last_error = message
        return [TaskFailed(message)]
