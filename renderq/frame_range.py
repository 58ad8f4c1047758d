"""The frame-range grammar: ``1-100``, ``1-100x5``, ``1,3,7-9``.

Parsing counts frames arithmetically before building any list, so a typo such as
``1-1000000000`` is refused at once instead of filling the controller's memory.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

MAX_FRAMES = 1_000_000
"""Most frames one job may have."""

MAX_FRAME_NUMBER = 2**63 - 1
"""Highest frame number: frames travel and are stored as 64-bit integers."""

_PART = re.compile(r"^(\d+)(?:-(\d+)(?:x(\d+))?)?$")


class FrameRangeError(ValueError):
    """A frame range that cannot be read; the message says why, in words."""


def parse_frames(spec: str, limit: int = MAX_FRAMES) -> list[int]:
    """Return the frames of ``spec`` in the order written, without duplicates."""
    text = spec.replace(" ", "")
    if not text:
        raise FrameRangeError("the frame range is empty; write it like 1-100, 1-100x5 or 1,3,7-9")
    parts: list[range] = []
    total = 0
    for part in text.split(","):
        match = _PART.match(part)
        if match is None:
            raise FrameRangeError(f"{part!r} is not a frame, a range (1-100) or a stepped range (1-100x5)")
        first = _number(match.group(1), part)
        last = _number(match.group(2), part) if match.group(2) is not None else first
        step = _number(match.group(3), part) if match.group(3) is not None else 1
        if last < first:
            raise FrameRangeError(f"{part!r} ends before it starts")
        if step == 0:
            raise FrameRangeError(f"{part!r} has a step of 0; the step must be 1 or more")
        frames = range(first, last + 1, step)
        total += len(frames)
        if total > limit:
            raise FrameRangeError(
                f"the range {spec!r} gives more than {limit:,} frames; at most {limit:,} per job"
            )
        parts.append(frames)
    seen: dict[int, None] = {}
    for frames in parts:
        seen.update(dict.fromkeys(frames))
    return list(seen)


def _number(digits: str, part: str) -> int:
    # Python refuses to convert more than 4,300 digits; far fewer already overflow.
    if len(digits) > 30 or int(digits) > MAX_FRAME_NUMBER:
        raise FrameRangeError(f"{part!r} has a number above {MAX_FRAME_NUMBER:,}, the highest frame number")
    return int(digits)


def format_frames(frames: Iterable[int]) -> str:
    """Write frames compactly, e.g. ``[1, 2, 3, 7, 9, 10]`` as ``1-3,7,9-10``."""
    ordered = sorted(set(frames))
    runs: list[str] = []
    i = 0
    while i < len(ordered):
        j = i
        while j + 1 < len(ordered) and ordered[j + 1] == ordered[j] + 1:
            j += 1
        runs.append(str(ordered[i]) if i == j else f"{ordered[i]}-{ordered[j]}")
        i = j + 1
    return ",".join(runs)


def chunk(frames: list[int], size: int) -> list[list[int]]:
    """Split frames, in order, into tasks of at most ``size`` frames."""
    if size < 1:
        raise FrameRangeError(f"frames per task must be 1 or more, not {size}")
    return [frames[i : i + size] for i in range(0, len(frames), size)]
