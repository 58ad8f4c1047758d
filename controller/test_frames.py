"""Test frames: the few frames of a job rendered before all others, so that a missing
texture or a wrong camera shows in minutes, not in the morning.

``--test-frames first,middle,last`` (or frame numbers) names them; the controller
resolves the words against the job's frames at submit.
"""

from __future__ import annotations

from collections.abc import Sequence

from renderq.controller.errors import InvalidField

MAX_TEST_FRAMES = 20
"""More would be a job of its own."""
_WORDS = ("first", "middle", "last")


def resolve_test_frames(spec: str, frames: Sequence[int]) -> list[int]:
    """The frame numbers ``spec`` names, each once, in the order named; [] for none."""
    resolved: dict[int, None] = {}
    for part in (p.strip() for p in spec.split(",")):
        if not part:
            continue
        if part.lower() in _WORDS:
            index = {"first": 0, "middle": (len(frames) - 1) // 2, "last": len(frames) - 1}[part.lower()]
            resolved[frames[index]] = None
            continue
        try:
            number = int(part)
        except ValueError:
            raise InvalidField(
                "test_frames", f"{part!r} is not a frame: write first, middle, last or frame numbers"
            ) from None
        if number not in frames:
            raise InvalidField("test_frames", f"frame {number} is not among the job's frames")
        resolved[number] = None
    if len(resolved) > MAX_TEST_FRAMES:
        raise InvalidField("test_frames", f"{len(resolved)} test frames; at most {MAX_TEST_FRAMES}")
    return list(resolved)
