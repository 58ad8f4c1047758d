"""The TUI end to end, as an operator over SSH sees it: a real terminal (tmux), real keys.

A real farm (controller and agent processes), then `renderq tui --controller ADDR` in a
detached tmux session of 80x24 with ``RENDERQ_TOKEN`` in its environment. Keys go in
with ``tmux send-keys``; what the screen shows comes back with ``tmux capture-pane``.
The tmux server is this test's own (``tmux -L``), killed at the end.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ..system.harness import require
from .conftest import DEADLINE, TuiFarm

pytestmark = pytest.mark.system

ANSI = re.compile(r"\x1b\[[0-9;]*m")
TMUX_CONF = """\
set -g remain-on-exit on
set -s escape-time 0
set -g history-limit 0
set -g default-terminal "screen-256color"
"""


class Terminal:
    """One tmux pane of 80x24 running a command, on a tmux server of its own."""

    def __init__(self, directory: Path, command: list[str], env: dict[str, str]) -> None:
        self.socket = f"renderq-test-{os.getpid()}-{time.monotonic_ns()}"
        self.session = "tui"
        conf = directory / "tmux.conf"
        conf.write_text(TMUX_CONF)
        options = [arg for name, value in env.items() for arg in ("-e", f"{name}={value}")]
        self.tmux(
            "-f", str(conf), "new-session", "-d", "-s", self.session, "-x", "80", "-y", "24",
            "-c", str(directory), *options, subprocess.list2cmdline(command),
        )  # fmt: skip

    def tmux(self, *args: str) -> str:
        result = subprocess.run(
            ["tmux", "-L", self.socket, *args], capture_output=True, text=True, timeout=DEADLINE
        )
        if result.returncode != 0:
            raise AssertionError(f"tmux {' '.join(args)} failed: {result.stderr.strip()}")
        return result.stdout

    def screen(self) -> str:
        return self.tmux("capture-pane", "-p", "-t", self.session)

    def keys(self, *keys: str) -> None:
        """Keys by tmux name (``Enter``, ``Tab``, ``C-s``, ``n``)."""
        self.tmux("send-keys", "-t", self.session, *keys)

    def type(self, text: str) -> None:
        self.tmux("send-keys", "-t", self.session, "-l", text)

    def styled(self) -> list[str]:
        """The screen's lines with their colours (ANSI escapes kept)."""
        return self.tmux("capture-pane", "-p", "-e", "-t", self.session).splitlines()

    def key_then_repaint(self, key: str, label: str = "") -> None:
        """Send one key and wait until the screen (or the form line of ``label``) repaints.

        Waiting for the repaint before the next key matters: Textual under tmux drops a
        Tab that reaches it in one read with other keys (also in a bare Textual 8.2.8 app
        of three Inputs), so keys go one at a time, each after the last one's effect.
        """
        before = self._line(label) if label else self.styled()
        self.keys(key)
        end = time.monotonic() + DEADLINE
        while (self._line(label) if label else self.styled()) == before:
            if time.monotonic() > end:
                where = f"the {label!r} line" if label else "the screen"
                raise AssertionError(f"{where} did not change after {key}; the screen:\n{self.screen()}")
            time.sleep(0.05)

    def _line(self, label: str) -> str:
        """The styled form line whose field is ``label`` (focus changes its colours)."""
        pattern = re.compile(rf"^\W*{re.escape(label)}\s{{2,}}")
        for line in self.styled():
            if pattern.match(ANSI.sub("", line)):
                return line
        raise AssertionError(f"no form line for {label!r}; the screen:\n{self.screen()}")

    def wait_for(self, what: str, pattern: str, timeout: float = DEADLINE) -> re.Match[str]:
        """Poll the screen until ``pattern`` shows (a regex over the whole screen)."""
        end = time.monotonic() + timeout
        while True:
            screen = self.screen()
            match = re.search(pattern, screen, re.MULTILINE)
            if match:
                return match
            if time.monotonic() > end:
                raise AssertionError(
                    f"timed out after {timeout:.0f} s waiting for {what} ({pattern!r}); the screen:\n{screen}"
                )
            time.sleep(0.1)

    def close(self) -> None:
        subprocess.run(["tmux", "-L", self.socket, "kill-server"], capture_output=True, timeout=DEADLINE)


@pytest.fixture
def terminal(tui_farm: TuiFarm, tmp_path: Path) -> Iterator[Terminal]:
    require(shutil.which("tmux") is not None, "tmux (Debian package tmux)")
    token = tui_farm.credentials().token
    assert token
    command = [sys.executable, "-m", "renderq", "tui", "--controller", tui_farm.address]
    term = Terminal(tmp_path, command, {"RENDERQ_TOKEN": token})
    try:
        yield term
    finally:
        term.close()


def test_an_operator_submits_a_job_watches_it_finish_and_reads_its_log(terminal: Terminal) -> None:
    said = f"hello-from-the-tmux-task-{os.getpid()}"
    terminal.wait_for("the TUI connected, with no jobs yet", r"●.*no active jobs")

    terminal.keys("n")
    terminal.wait_for("the submit form", r"Submit a job")
    terminal.wait_for("the plugins loaded", r"\d+ plugins: type a letter, or enter opens the list")
    terminal.key_then_repaint("Enter")
    terminal.wait_for("the list of plugins open", r"esc Dismiss menu")
    terminal.key_then_repaint("c")  # jumps to the first plugin whose name starts with it
    terminal.keys("Enter")
    terminal.wait_for("the command plugin chosen", r"plugin \*\s+command")
    terminal.wait_for("the command plugin's parameters", r"argv \*")

    terminal.key_then_repaint("Tab", "name")
    terminal.type("tmux-job")
    terminal.wait_for("the name typed", r"name\s+tmux-job")
    terminal.key_then_repaint("Tab", "frames *")
    terminal.type("1")
    terminal.wait_for("the frames typed", r"frames \*\s+1\s")
    terminal.key_then_repaint("Tab", "argv *")  # the plugin's parameters follow the frames
    terminal.type(f"echo {said}")
    terminal.wait_for("the command typed in the argv field", rf"argv \*\s+echo {said}")
    terminal.keys("C-s")

    row = terminal.wait_for("the job's row completed", r"^\s*(\d+)\s+tmux-job\s+completed")
    terminal.wait_for("the form closed", r"Jobs\s+Farm")
    job_id = row.group(1)

    terminal.keys("l")
    terminal.wait_for(f"job {job_id}'s log with the line its task printed", rf"^{said}\s*$")
