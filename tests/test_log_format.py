"""``--log-format json``: one object per line, the trailing key=value pairs as typed fields."""

from __future__ import annotations

import json
import logging
import re
import sys
from pathlib import Path

import pytest

from renderq.log_format import JsonFormatter, capture_python_reports, formatter, split_fields
from tests.system.harness import Process, renderq_argv

RFC3339_UTC = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")


def record(message: str, *args: object, level: int = logging.INFO) -> logging.LogRecord:
    return logging.LogRecord("renderq.agent.runner", level, __file__, 1, message, args, None)


PEER = "refused a controller peer=ipv4:10.0.0.5:7420: no farm key"
NOTE = "farm key path=/x (renderq join-token prints the line)"


@pytest.mark.parametrize(
    ("message", "words", "fields"),
    [
        ("task started job=3 attempt=40 pid=811", "task started", {"job": 3, "attempt": 40, "pid": 811}),
        (
            "agent left agent=n7 why='stopped: SIGTERM'",
            "agent left",
            {"agent": "n7", "why": "stopped: SIGTERM"},
        ),
        ('line not understood line="it\'s = odd"', "line not understood", {"line": "it's = odd"}),
        ("killing grace=2.5 offset=-3 id=007", "killing", {"grace": 2.5, "offset": -3, "id": "007"}),
        (PEER, PEER, {}),
        (NOTE, NOTE, {}),
        ("renderq controller stopped", "renderq controller stopped", {}),
        ("link tls=on cert=", "link", {"tls": "on", "cert": ""}),
        ("odd why='unclosed", "odd", {"why": "'unclosed"}),
    ],
)
def test_trailing_pairs_become_typed_fields_and_the_words_stay_the_message(
    message: str, words: str, fields: dict[str, object]
) -> None:
    assert split_fields(message) == (words, fields)


@pytest.mark.parametrize("value", ["C:\\shots\tA é", "x'y\"z \x01", "line\nbreak \U0001f600", "\\'"])
def test_a_quoted_value_comes_back_as_the_string_that_was_logged(value: str) -> None:
    """Unquoted by hand, not by ``ast.literal_eval``, which fails when two threads parse at once."""
    assert split_fields(f"said value={value!r}") == ("said", {"value": value})


def test_a_json_line_has_time_level_logger_message_and_the_fields() -> None:
    line = JsonFormatter().format(record("frame completed job=%d frame=%d path=%r", 3, 17, "/r/f 0017.png"))
    assert "\n" not in line
    document = json.loads(line)
    assert RFC3339_UTC.fullmatch(document.pop("time"))
    assert document == {
        "level": "INFO",
        "logger": "renderq.agent.runner",
        "message": "frame completed",
        "job": 3,
        "frame": 17,
        "path": "/r/f 0017.png",
    }


def test_the_four_names_are_never_replaced_by_a_pair() -> None:
    document = json.loads(JsonFormatter().format(record("odd level=low message=m logger=x n=1")))
    assert (document["level"], document["message"], document["logger"], document["n"]) == (
        "INFO",
        "odd",
        "renderq.agent.runner",
        1,
    )


def test_an_exception_is_one_field_of_the_same_line() -> None:
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        failed = logging.LogRecord(
            "renderq.x", logging.ERROR, __file__, 1, "task failed job=1", (), sys.exc_info()
        )
    document = json.loads(JsonFormatter().format(failed))
    assert document["job"] == 1 and document["level"] == "ERROR"
    assert document["exception"].startswith("Traceback") and "RuntimeError: boom" in document["exception"]


class Broken:
    def __del__(self) -> None:
        raise RuntimeError("Event loop is closed")


def test_pythons_own_reports_go_through_logging(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(sys, "excepthook", sys.excepthook)
    monkeypatch.setattr(sys, "unraisablehook", sys.unraisablehook)
    capture_python_reports()
    logging.captureWarnings(False)  # pytest keeps the warnings to itself
    Broken()  # dropped at once: the error of its __del__ has no caller to go to
    sys.excepthook(ValueError, ValueError("bug"), None)
    ignored, uncaught = caplog.records
    assert ignored.levelname == "WARNING"
    assert ignored.getMessage().startswith("Exception ignored in <function Broken.__del__")
    assert ignored.exc_info is not None and str(ignored.exc_info[1]) == "Event loop is closed"
    assert (uncaught.levelname, uncaught.getMessage()) == ("CRITICAL", "uncaught exception")


def test_text_stays_the_line_people_read() -> None:
    text = formatter("text").format(record("task started job=%d", 3))
    assert text.endswith(" INFO renderq.agent.runner task started job=3")


def test_an_agent_started_with_log_format_json_logs_json_lines(tmp_path: Path) -> None:
    (tmp_path / "agent.toml").write_text('log_format = "json"\n')
    agent = Process(
        renderq_argv(
            "agent", "--listen", "127.0.0.1:0", "--no-mdns", "--data-dir", str(tmp_path / "agent"),
            "--config", str(tmp_path / "agent.toml"),
        ),
        "agent",
        tmp_path,
    )  # fmt: skip
    try:
        agent.wait_for_line(r'"message": "renderq agent \S+ listening on 127.0.0.1:\d+"')
    finally:
        agent.stop()
    lines = [json.loads(line) for line in agent.lines]
    listening = next(line for line in lines if "listening on" in line["message"])
    assert listening["logger"] == "renderq.agent" and listening["tls"] == "off"
    assert all(RFC3339_UTC.fullmatch(line["time"]) for line in lines)
