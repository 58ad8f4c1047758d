"""The agent's note of its running task processes (``task-processes``): a line as each starts
and ends, the file rewritten short once no task runs, and every later line in the new file,
not in the one it replaced (the note is written through a descriptor held open)."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from renderq.agent import leftovers
from renderq.agent.leftovers import TaskRecord


@pytest.fixture
def sleepers() -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for child in started:
        child.kill()
        child.wait()


def sleeper(sleepers: list[subprocess.Popen[bytes]]) -> int:
    child = subprocess.Popen(["sleep", "60"])
    sleepers.append(child)
    return child.pid


def test_the_file_lists_the_processes_still_running(
    tmp_path: Path, sleepers: list[subprocess.Popen[bytes]]
) -> None:
    path = tmp_path / "task-processes"
    record = TaskRecord(path)
    first, second = sleeper(sleepers), sleeper(sleepers)
    record.started(first)
    record.started(second)
    record.ended(first)
    assert set(leftovers._listed(path)) == {second}
    record.close()


def test_lines_after_a_rewrite_go_to_the_new_file(
    tmp_path: Path, sleepers: list[subprocess.Popen[bytes]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(leftovers, "COMPACT_AFTER", 0)
    path = tmp_path / "task-processes"
    record = TaskRecord(path)
    first = sleeper(sleepers)
    record.started(first)
    replaced = path.stat().st_ino
    record.ended(first)  # no task runs: the file is rewritten empty
    assert path.read_text() == ""
    assert path.stat().st_ino != replaced
    second = sleeper(sleepers)
    record.started(second)
    assert set(leftovers._listed(path)) == {second}, "the new line must be in the file as it is now"
    record.close()
