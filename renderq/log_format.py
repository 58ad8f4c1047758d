"""How the servers write their logs: text lines for people, JSON lines for log collectors.

Every log line of the project reads ``event words key=value key=value ...``. The text
format prints it as it is; the JSON format makes one object per line of it, so a
collector (journald, Loki, Elasticsearch) can filter on ``job`` or ``agent`` without a
parser of its own: ``time`` (RFC 3339, UTC), ``level``, ``logger``, ``message`` (the
words), then the trailing ``key=value`` pairs as fields of their own, integers and
decimal numbers as numbers and quoted strings (``why='no such user'``, as ``%r`` writes
them) unquoted. The four names above always mean what they say: a pair of the same name
does not replace them.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import UTC, datetime
from types import TracebackType
from typing import Literal

Level = Literal["DEBUG", "INFO", "WARNING", "ERROR"]
Format = Literal["text", "json"]

TEXT_LAYOUT = "%(asctime)s %(levelname)s %(name)s %(message)s"

_TOKEN = re.compile(
    r"""
    (?P<key>[A-Za-z_][\w.-]*)=
    (?P<value>'(?:[^'\\]|\\.)*'(?=\s|$) | "(?:[^"\\]|\\.)*"(?=\s|$) | \S*)
    | \S+
    """,
    re.VERBOSE,
)
"""A ``key=value`` pair (the value quoted as a repr writes it, or up to the next space), or a word."""
_python_log = logging.getLogger("renderq.python")
_INTEGER = re.compile(r"-?(?:0|[1-9]\d*)")
_DECIMAL = re.compile(r"-?(?:0|[1-9]\d*)\.\d+")


def capture_python_reports() -> None:
    """Send what Python itself prints on stderr (warnings, an exception ignored in a
    ``__del__``, an uncaught exception) through logging, so that every line of a
    server's stderr has the format its collector expects."""
    logging.captureWarnings(True)
    sys.unraisablehook = _log_unraisable
    sys.excepthook = _log_uncaught


def _log_unraisable(report: sys.UnraisableHookArgs) -> None:
    where = f" {report.object!r}" if report.object is not None else ""
    _python_log.warning("%s%s", report.err_msg or "Exception ignored in", where, exc_info=report.exc_value)


def _log_uncaught(kind: type[BaseException], error: BaseException, trace: TracebackType | None) -> None:
    _python_log.critical("uncaught exception", exc_info=(kind, error, trace))


def formatter(log_format: Format) -> logging.Formatter:
    """The formatter for the ``log_format`` setting."""
    return JsonFormatter() if log_format == "json" else logging.Formatter(TEXT_LAYOUT)


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line (newlines inside are escaped)."""

    def format(self, record: logging.LogRecord) -> str:
        words, fields = split_fields(record.getMessage())
        document: dict[str, object] = {
            "time": rfc3339(record.created),
            "level": record.levelname,
            "logger": record.name,
            "message": words,
        }
        document |= {key: value for key, value in fields.items() if key not in document}
        if record.exc_info:
            document["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            document["stack"] = self.formatStack(record.stack_info)
        return json.dumps(document, ensure_ascii=False, default=str)


def rfc3339(created: float) -> str:
    """``2026-12-01T21:14:06.123Z``: milliseconds, because several events share a second."""
    moment = datetime.fromtimestamp(created, UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def split_fields(message: str) -> tuple[str, dict[str, object]]:
    """The words of ``message`` and its trailing ``key=value`` pairs as typed fields.

    Only the pairs at the end are fields: a ``key=value`` among the words (``refused a
    controller peer=ipv4:10.0.0.5:7420: no farm key``) stays part of the message.
    """
    trailing: list[re.Match[str]] = []
    for token in _TOKEN.finditer(message):
        if token["key"]:
            trailing.append(token)
        else:
            trailing = []
    if not trailing:
        return message, {}
    fields = {token["key"]: _typed(token["value"]) for token in trailing}
    return message[: trailing[0].start()].rstrip(), fields


def _typed(text: str) -> object:
    if _INTEGER.fullmatch(text):
        return int(text)
    if _DECIMAL.fullmatch(text):
        return float(text)
    if text[:1] in ("'", '"') and len(text) >= 2 and text[-1] == text[0]:
        return _ESCAPE.sub(_unescaped, text[1:-1])
    return text


_ESCAPE = re.compile(r"\\(x[0-9a-fA-F]{2}|u[0-9a-fA-F]{4}|U[0-9a-fA-F]{8}|.)", re.DOTALL)
"""One escape of a string as ``repr`` writes it."""
_SIMPLE_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", "0": "\0", "a": "\a", "b": "\b", "f": "\f", "v": "\v"}


def _unescaped(escape: re.Match[str]) -> str:
    """The character one escape stands for, read by hand rather than by ``ast.literal_eval``:
    Python 3.11's AST builder keeps its recursion depth in one global, so parsing on a
    logging thread while another thread parses fails with a SystemError."""
    code = escape[1]
    if code[0] in "xuU" and len(code) > 1:
        return chr(int(code[1:], 16))
    return _SIMPLE_ESCAPES.get(code, code)
