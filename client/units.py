"""Reading and writing quantities the way people type and read them: sizes, durations, times."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from google.protobuf import duration_pb2, timestamp_pb2

_UNIT_BYTES = {
    "": 1,
    "b": 1,
    "k": 1024,
    "kib": 1024,
    "kb": 1000,
    "m": 1024**2,
    "mib": 1024**2,
    "mb": 1000**2,
    "g": 1024**3,
    "gib": 1024**3,
    "gb": 1000**3,
    "t": 1024**4,
    "tib": 1024**4,
    "tb": 1000**4,
}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$")
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdSMHD]?)\s*$")
_UNIT_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_size(text: str) -> int:
    """Bytes in ``8GiB``, ``512MiB``, ``1.5G`` (binary), ``500MB`` (decimal) or ``1024``."""
    match = _SIZE.match(text)
    unit = match.group(2).lower() if match else ""
    if not match or unit not in _UNIT_BYTES:
        raise ValueError(
            f"{text!r} is not a size; write bytes or a number with a unit, such as 512MiB or 8GiB"
        )
    return round(float(match.group(1)) * _UNIT_BYTES[unit])


def parse_duration(text: str) -> float:
    """Seconds in ``90``, ``90s``, ``30m``, ``12h`` or ``7d``."""
    match = _DURATION.match(text)
    if not match:
        raise ValueError(
            f"{text!r} is not a duration; write seconds or a number with s, m, h or d, such as 2h"
        )
    return float(match.group(1)) * _UNIT_SECONDS[match.group(2).lower()]


def format_size(size: int) -> str:
    """``1.2 GiB``: one decimal below ten units, none above."""
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            break
        value /= 1024
    if unit == "B":
        return f"{size} B"
    return f"{value:.1f} {unit}" if value < 10 else f"{value:.0f} {unit}"


def format_seconds(seconds: float) -> str:
    """``0.4s``, ``42s``, ``1m 05s``, ``2h 03m``, ``3d 04h``: two units at most."""
    if seconds < 10:
        return f"{seconds:.1f}s"
    whole = round(seconds)
    if whole < 60:
        return f"{whole}s"
    if whole < 3600:
        return f"{whole // 60}m {whole % 60:02d}s"
    if whole < 86400:
        return f"{whole // 3600}h {whole % 3600 // 60:02d}m"
    return f"{whole // 86400}d {whole % 86400 // 3600:02d}h"


def format_duration(duration: duration_pb2.Duration) -> str:
    """A proto Duration; ``-`` when it was never set."""
    if not duration.seconds and not duration.nanos:
        return "-"
    return format_seconds(duration.seconds + duration.nanos / 1e9)


def is_set(stamp: timestamp_pb2.Timestamp) -> bool:
    return bool(stamp.seconds or stamp.nanos)


def format_time(stamp: timestamp_pb2.Timestamp) -> str:
    """Local wall-clock time; ``-`` when it was never set."""
    if not is_set(stamp):
        return "-"
    return stamp.ToDatetime(tzinfo=UTC).astimezone().strftime("%Y-%m-%d %H:%M:%S")


def elapsed(start: timestamp_pb2.Timestamp, end: timestamp_pb2.Timestamp) -> str:
    """Time from ``start`` to ``end``, or to now while ``end`` is unset; ``-`` before start."""
    if not is_set(start):
        return "-"
    stop = end.ToDatetime(tzinfo=UTC) if is_set(end) else datetime.now(UTC)
    return format_seconds(max(0.0, (stop - start.ToDatetime(tzinfo=UTC)).total_seconds()))


def progress_bar(fraction: float, width: int = 10) -> str:
    """``[####------]  40%`` in plain ASCII, which every terminal over SSH renders."""
    fraction = min(1.0, max(0.0, fraction))
    filled = int(fraction * width)
    return f"[{'#' * filled}{'-' * (width - filled)}] {int(fraction * 100):3d}%"
