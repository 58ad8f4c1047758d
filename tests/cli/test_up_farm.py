"""``renderq up`` runs a real controller and agent until Ctrl-C."""

from __future__ import annotations

import os
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


def run(*argv: str, home: Path) -> subprocess.CompletedProcess[bytes]:
    """A verb run by the same user as ``renderq up``: its data lives under ``home``."""
    env = {**os.environ, "XDG_DATA_HOME": str(home)}
    env.pop("RENDERQ_TOKEN", None)
    return subprocess.run([*RENDERQ, *argv], capture_output=True, timeout=DEADLINE, check=False, env=env)


def test_up_serves_until_ctrl_c_then_stops_both_children(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # No --data-dir: the default place (under XDG_DATA_HOME), as a user would run it.
    # (Not the cwd itself: `python -m` would import the data dir `renderq` as the package.)
    monkeypatch.delenv("RENDERQ_DATA_DIR")
    home = tmp_path / "xdg"
    up = renderq_process("up", "--port", "0", cwd=tmp_path, env={"XDG_DATA_HOME": str(home)})
    try:
        lines = read_lines(up)
        address = wait_for_line(lines, r"controller on (127\.0\.0\.1:\d+)").group(1)
        wait_for_line(lines, r"RENDERQ_CONTROLLER=\S+ renderq jobs")
        wait_for_line(lines, r"Press Ctrl-C")
        # Zero-config: the user's own verbs need no token.
        agents = run("agents", "--controller", address, home=home)
        assert agents.returncode == 0, agents.stderr
        up.send_signal(signal.SIGINT)
        assert up.wait(timeout=DEADLINE) == 0
    finally:
        if up.poll() is None:  # a failed check: stop it as Ctrl-C would, so its children stop too
            up.send_signal(signal.SIGINT)
            try:
                up.wait(timeout=DEADLINE)
            except subprocess.TimeoutExpired:
                up.kill()
                up.wait()
    data = home / "renderq"
    assert (data / "controller.log").exists() and (data / "agent.log").exists()
    assert run("agents", "--controller", address, home=home).returncode == 3


def test_verbs_find_the_admin_token_of_a_farm_with_its_own_data_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("RENDERQ_DATA_DIR")
    home, data = tmp_path / "xdg", tmp_path / "farm"
    up = renderq_process(
        "up", "--port", "0", "--data-dir", str(data), cwd=tmp_path, env={"XDG_DATA_HOME": str(home)}
    )
    try:
        lines = read_lines(up)
        address = wait_for_line(lines, r"controller on (127\.0\.0\.1:\d+)").group(1)
        wait_for_line(lines, rf"RENDERQ_CONTROLLER=\S+ RENDERQ_DATA_DIR={re.escape(str(data))} renderq jobs")
        wait_for_line(lines, r"Press Ctrl-C")
        lost = run("whoami", "--controller", address, home=home)
        assert lost.returncode == 4
        assert f"no admin token at {home / 'renderq' / 'admin.token'} (the controller's --data-dir" in (
            lost.stderr.decode()
        )
        found = run("whoami", "--controller", address, "--data-dir", str(data), home=home)
        assert found.returncode == 0, found.stderr
        assert "admin" in found.stdout.decode()
    finally:
        up.send_signal(signal.SIGINT)
        try:
            up.wait(timeout=DEADLINE)
        except subprocess.TimeoutExpired:
            up.kill()
            up.wait()
