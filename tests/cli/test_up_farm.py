"""``renderq up`` runs a real controller and agent until Ctrl-C."""

from __future__ import annotations

import queue
import re
import signal
import subprocess
import threading
from pathlib import Path

import pytest

from .conftest import DEADLINE, RENDERQ, renderq_process

pytestmark = pytest.mark.system


def read_lines(stream: subprocess.Popen[bytes]) -> queue.Queue[str]:
    """Lines of the process's stdout as they come, without blocking the test."""
    lines: queue.Queue[str] = queue.Queue()

    def pump() -> None:
        assert stream.stdout is not None
        for raw in stream.stdout:
            lines.put(raw.decode())
        lines.put("")

    threading.Thread(target=pump, daemon=True).start()
    return lines


def wait_for_line(lines: queue.Queue[str], pattern: str) -> re.Match[str]:
    seen: list[str] = []
    while True:
        try:
            line = lines.get(timeout=DEADLINE)
        except queue.Empty:
            pytest.fail(f"renderq up never printed a line matching {pattern!r}; it printed {seen}")
        match = re.search(pattern, line)
        if match:
            return match
        if not line:
            pytest.fail(f"renderq up ended before printing {pattern!r}; it printed {seen}")
        seen.append(line)


def run(*argv: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([*RENDERQ, *argv], capture_output=True, timeout=DEADLINE, check=False)


def test_up_serves_until_ctrl_c_then_stops_both_children(tmp_path: Path) -> None:
    up = renderq_process("up", "--port", "0", "--data-dir", str(tmp_path), cwd=tmp_path)
    try:
        lines = read_lines(up)
        address = wait_for_line(lines, r"controller on (127\.0\.0\.1:\d+)").group(1)
        wait_for_line(lines, r"RENDERQ_CONTROLLER=.* renderq jobs")
        wait_for_line(lines, r"Press Ctrl-C")
        agents = run("agents", "--controller", address)
        assert agents.returncode == 0, agents.stderr
        up.send_signal(signal.SIGINT)
        assert up.wait(timeout=DEADLINE) == 0
    finally:
        up.kill()
        up.wait()
    assert (tmp_path / "controller.log").exists() and (tmp_path / "agent.log").exists()
    assert run("agents", "--controller", address).returncode == 3
