"""A task process is noted with the time just after its start (its pid may be reused): on
the clock of psutil's ``create_time``, which the agent's next start compares it with."""

from __future__ import annotations

import subprocess

import psutil

from renderq.agent.leftovers import NOTED_WITHIN, noted_now, same_process


def test_a_process_noted_after_its_start_is_recognised() -> None:
    child = subprocess.Popen(["sleep", "30"])
    try:
        noted = noted_now()
        started = psutil.Process(child.pid).create_time()
        assert same_process(started, noted), (started, noted)
        assert same_process(started, started), "a note of the exact start, as older agents wrote it"
    finally:
        child.kill()
        child.wait()


def test_a_process_that_started_after_the_note_is_another() -> None:
    noted = noted_now() - 1.0  # the task's note; its pid was then reused a second later
    child = subprocess.Popen(["sleep", "30"])
    try:
        assert not same_process(psutil.Process(child.pid).create_time(), noted)
    finally:
        child.kill()
        child.wait()


def test_a_process_far_older_than_the_note_is_another() -> None:
    assert not same_process(1000.0, 1000.0 + NOTED_WITHIN + 1)
