"""``renderq up`` in a terminal that goes away (SIGHUP, an SSH session dropped) or killed
with SIGKILL leaves no renderq process of its farm behind, and the next ``up`` on the
same port starts at once."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import threading
from pathlib import Path

import psutil
import pytest

from tests.waiting import eventually

from .conftest import free_port
from .harness import renderq_argv

pytestmark = pytest.mark.system


class UpInTerminal:
    """``renderq up --no-tui`` with a pseudo-terminal for its stdin, stdout and stderr."""

    def __init__(self, data_dir: Path, port: int) -> None:
        master, slave = os.openpty()
        argv = renderq_argv("up", "--no-tui", "--data-dir", str(data_dir), "--port", str(port))
        self.popen = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, start_new_session=True)
        os.close(slave)
        self.output = ""
        self._changed = threading.Condition()
        threading.Thread(target=self._read, args=(master,), daemon=True).start()

    def _read(self, master: int) -> None:
        while True:
            try:
                data = os.read(master, 4096)
            except OSError:  # the terminal's other side closed
                data = b""
            with self._changed:
                self.output += data.decode(errors="replace")
                self._changed.notify_all()
            if not data:
                os.close(master)
                return

    def wait_for(self, pattern: str, timeout: float = 60.0) -> None:
        with self._changed:
            if not self._changed.wait_for(lambda: re.search(pattern, self.output), timeout):
                raise AssertionError(f"renderq up never printed {pattern!r}; it printed:\n{self.output}")


def farm_processes(data_dir: Path) -> list[psutil.Process]:
    """Every live process whose command line names the farm's data directory."""
    found = []
    for proc in psutil.process_iter(["cmdline", "status"]):
        cmdline = " ".join(proc.info["cmdline"] or [])
        if str(data_dir) in cmdline and proc.info["status"] != psutil.STATUS_ZOMBIE:
            found.append(proc)
    return found


@pytest.mark.parametrize("ending", [signal.SIGHUP, signal.SIGKILL], ids=["sighup", "kill-9"])
def test_up_that_loses_its_terminal_or_is_killed_leaves_nothing_and_starts_again(
    tmp_path: Path, ending: signal.Signals
) -> None:
    data_dir = tmp_path / "farm"
    port = free_port()
    up = UpInTerminal(data_dir, port)
    try:
        up.wait_for(r"Press Ctrl-C")
        assert len(farm_processes(data_dir)) == 3, "up, its controller and its agent"
        os.kill(up.popen.pid, ending)
        up.popen.wait(timeout=60)
        eventually(
            f"no process of the farm is left after {ending.name}",
            lambda: not farm_processes(data_dir),
            timeout=60,
        )
        again = UpInTerminal(data_dir, port)
        try:
            again.wait_for(r"farm up; controller on")
        finally:
            again.popen.send_signal(signal.SIGINT)
            again.popen.wait(timeout=60)
    finally:
        for proc in farm_processes(data_dir):
            proc.kill()
