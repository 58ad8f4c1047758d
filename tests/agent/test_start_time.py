"""A task process is noted with its start time (its pid may be reused): read from /proc, it
must be the time psutil gives, which the agent's next start compares it with."""

from __future__ import annotations

import subprocess

import psutil
import pytest

from renderq.agent.leftovers import start_time


def test_a_process_start_time_is_psutils_create_time() -> None:
    child = subprocess.Popen(["sleep", "30"])
    try:
        assert start_time(child.pid) == pytest.approx(psutil.Process(child.pid).create_time(), abs=0.01)
    finally:
        child.kill()
        child.wait()


def test_a_process_that_is_gone_has_none() -> None:
    child = subprocess.Popen(["true"])
    child.wait()
    assert start_time(child.pid) is None
