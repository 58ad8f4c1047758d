"""Open Job Description's stdout protocol: lines a task prints to tell the farm how it goes.

A script that prints ``openjd_progress: 40`` (percent done), ``openjd_status: loading
assets`` or ``openjd_fail: licence server down`` works the same on renderq as on any
farm that runs Open Job Description jobs, so studio tools need no renderq-specific
output. Each message is a whole line that starts with its name; anything else is plain
output (the log keeps every line either way).

What each message becomes here:

- ``openjd_progress: N``: Progress(N / 100) of the frame being rendered. A value that is
  not a number from 0 to 100 is not progress and stays in the log only.
- ``openjd_fail: MESSAGE``: TaskFailed(MESSAGE): the task fails with it even when the
  process exits 0 (renderq fails on the message itself, not only on the exit status).
- ``openjd_status: TEXT``: renderq has no status field for a running task, so the line
  stays in the task's log, where ``renderq logs`` and the TUI show it.
- ``openjd_env``, ``openjd_unset_env``, ``openjd_redacted_env``: they set variables for
  the later actions of an Open Job Description session entered by an environment;
  renderq runs every command with the job's own environment and has no such session,
  so they stay in the log. A ``openjd_redacted_env`` value is therefore not hidden there.
- ``openjd_service_ready`` and any other name: for services renderq does not run; log only.
"""

from __future__ import annotations

import math
import re

from renderq.plugins.base import OutputParser, ParseEvent, Progress, TaskFailed

_MESSAGE = re.compile(r"^openjd_(?P<name>[a-z_]+):(?P<value>.*)$")
FAIL_WITHOUT_REASON = "the task printed openjd_fail without a reason"
"""The failure message when ``openjd_fail:`` names none: the task still fails."""


def openjd_events(line: str) -> list[ParseEvent]:
    """The events one line of output carries under the protocol; [] for any other line."""
    match = _MESSAGE.match(line.strip())
    if match is None:
        return []
    name, value = match.group("name"), match.group("value").strip()
    if name == "progress":
        percent = _percent(value)
        return [] if percent is None else [Progress(percent / 100)]
    if name == "fail":
        return [TaskFailed(value or FAIL_WITHOUT_REASON)]
    return []


def _percent(value: str) -> float | None:
    """A number from 0 to 100, or None: ``nan``, ``inf`` and ``40%`` are not progress."""
    try:
        percent = float(value)
    except ValueError:
        return None
    if math.isnan(percent) or not 0.0 <= percent <= 100.0:
        return None
    return percent


class OpenJDParser(OutputParser):
    """Progress and failures as the protocol reports them; frames complete when the
    command exits 0, as the protocol says nothing about frames."""

    def feed(self, line: str) -> list[ParseEvent]:
        return openjd_events(line)
