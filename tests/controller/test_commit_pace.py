"""Commits are paced: a quick one keeps the commit interval, a slow one (a busy farm's)
makes the next wait as long as it took, so the store never takes the event loop's CPU, but
never long: events and acks wait for the next commit."""

from __future__ import annotations

import pytest

from renderq.controller.recorder import COMMIT_INTERVAL, LONGEST_PAUSE, pause_after


def test_a_quick_commit_keeps_the_interval() -> None:
    assert pause_after(0.004) == pytest.approx(COMMIT_INTERVAL - 0.004)


def test_a_slow_commit_is_followed_by_as_long_a_rest() -> None:
    assert pause_after(0.15) == pytest.approx(0.15)
    assert pause_after(0.06) == pytest.approx(0.06), "past half the interval the rest grows with it"


def test_a_commit_of_seconds_is_followed_by_half_a_second_at_most() -> None:
    assert pause_after(3.6) == LONGEST_PAUSE
