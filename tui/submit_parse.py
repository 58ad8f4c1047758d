"""How the submit form's text becomes the values sent: each parser returns the value or
raises ValueError with the sentence shown under the field.

Sizes (``8GiB``) and durations (``2h``) are read by ``renderq.client.units``, as the
command line reads them.
"""

from __future__ import annotations

import math
import re
import shlex
from collections.abc import Callable
from typing import Any

from renderq.client.units import parse_duration
from renderq.frame_range import parse_frames

Parse = Callable[[str], Any]
"""Turns a field's text into the value to send; raises ValueError saying what is wrong."""
SEPARATORS = re.compile(r"[,\s]+")
"""Between ids or names: ``41 42``, ``41,42`` and ``41, 42`` are the same."""


def whole(least: int | None = None, most: int | None = None) -> Parse:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise ValueError(f"{text!r} is not a whole number") from None
        if least is not None and most is not None and not least <= value <= most:
            raise ValueError(f"must be between {least} and {most}, not {value}")
        if least is not None and value < least:
            raise ValueError(f"must be {least} or more, not {value}")
        return value

    return parse


def number(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a number") from None
    if not math.isfinite(value):
        raise ValueError(f"must be a finite number, not {text}")
    return value


def words(text: str) -> list[str]:
    """A command line split as a shell would (quotes group, backslashes escape)."""
    try:
        return shlex.split(text)
    except ValueError as e:
        raise ValueError(f"cannot split this into words as a shell would: {str(e).lower()}") from None


def frame_range(text: str) -> str:
    parse_frames(text)  # FrameRangeError is a ValueError whose message says what is wrong
    return text


def job_ids(text: str) -> list[int]:
    """``41 42`` or ``41,42``: the jobs this one waits for."""
    ids = []
    for word in SEPARATORS.split(text.strip()):
        if not word.isdigit() or int(word) < 1:
            raise ValueError(f"{word!r} is not a job id; write job ids such as 41 42")
        ids.append(int(word))
    return ids


def names(text: str) -> list[str]:
    """``maya, nuke``: names separated by commas (or spaces, which no name holds)."""
    return [name for name in SEPARATORS.split(text.strip()) if name]


def environment(text: str) -> dict[str, str]:
    """``KEY=VALUE`` words, quoted as in a shell."""
    pairs = {}
    for word in words(text):
        key, equals, value = word.partition("=")
        if not equals or not key:
            raise ValueError(f"{word!r} is not KEY=VALUE")
        pairs[key] = value
    return pairs


def duration(text: str) -> float:
    """Seconds in ``90``, ``90s``, ``30m``, ``2h`` or ``1d``; more than none (an empty
    field is none)."""
    seconds = parse_duration(text)
    if seconds <= 0:
        raise ValueError("must be more than 0 seconds; leave it empty for none")
    return seconds
