"""Open Job Description's stdout protocol: progress, failure, status and what is not a message."""

from __future__ import annotations

import pytest

from renderq.plugins.base import Progress, TaskFailed
from renderq.plugins.openjd import FAIL_WITHOUT_REASON, OpenJDParser, openjd_events


@pytest.mark.parametrize(
    ("line", "fraction"),
    [("openjd_progress: 40", 0.4), ("openjd_progress: 12.5\r\n", 0.125), ("openjd_progress:100", 1.0)],
)
def test_progress_is_a_percentage(line: str, fraction: float) -> None:
    assert openjd_events(line) == [Progress(fraction)]


def test_fail_fails_the_task_with_its_message() -> None:
    assert openjd_events("openjd_fail: licence server down") == [TaskFailed("licence server down")]


def test_fail_without_a_reason_still_fails() -> None:
    assert openjd_events("openjd_fail: ") == [TaskFailed(FAIL_WITHOUT_REASON)]


@pytest.mark.parametrize(
    "line",
    [
        "openjd_status: loading assets",
        "openjd_env: KEY=value",
        "openjd_unset_env: KEY",
        "openjd_redacted_env: SECRET=x",
        "openjd_service_ready: listening",
    ],
)
def test_messages_without_an_event_stay_in_the_log_only(line: str) -> None:
    assert openjd_events(line) == []


@pytest.mark.parametrize(
    "line",
    [
        "openjd_progress: forty",
        "openjd_progress: 40%",
        "openjd_progress: nan",
        "openjd_progress: inf",
        "openjd_progress: -5",
        "openjd_progress: 101",
        "openjd_progress:",
        "progress: 40",
        "  said openjd_fail: nothing",
        "openjd_fail licence server down",
        "OPENJD_FAIL: shouting",
    ],
)
def test_malformed_lines_are_no_message(line: str) -> None:
    assert openjd_events(line) == []


def test_the_parser_completes_frames_on_exit() -> None:
    parser = OpenJDParser()
    assert parser.completes_on_exit
    assert parser.feed("openjd_progress: 50") == [Progress(0.5)]
