"""The demo renderer: ``python -m renderq.demo.pattern --frames 1,2,3 --output out_{frame:04d}.png``.

It draws a colour gradient with a disc that moves with the frame number, takes
``--seconds-per-frame`` per frame, and talks like Blender (``Fra:N ... | Sample n/m``,
``Saved: '<path>'``, ``Error: ...``) so the Blender output parser reads it too.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import NoReturn

from renderq.demo.png import encode_png
from renderq.frame_range import FrameRangeError, parse_frames
from renderq.plugins.template import fill_frame_tokens, token_names

STEPS = 10
"""Progress lines per frame (Blender's "samples")."""
MAX_SIDE = 8192


class FrameWriteError(Exception):
    """A frame could not be saved (disk full, no permission); the message says which and why."""


class _ArgumentParser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(2, f"Error: {message}\n")


def pattern_rows(
    width: int, height: int, frame: int, first: int = 0, last: int | None = None
) -> Iterator[bytes]:
    """Rows ``first`` to ``last`` (exclusive) of the frame's image, RGB.

    Built a row at a time with slice assignment, so even a 4K frame takes well under a second.
    """
    red = bytes(255 * x // max(width - 1, 1) for x in range(width))
    blue = bytes(round(127.5 + 127.5 * math.sin(2 * math.pi * x / width + frame / 4)) for x in range(width))
    radius = max(min(width, height) // 5, 1)
    travel = max(width - 2 * radius, 1)
    centre_x = radius + (frame * travel // 24) % travel
    centre_y = height // 2 + round(math.sin(frame / 4) * height / 4)
    for y in range(first, height if last is None else last):
        row = bytearray(3 * width)
        row[0::3] = red
        row[1::3] = bytes([255 * y // max(height - 1, 1)]) * width
        row[2::3] = blue
        dy = y - centre_y
        if abs(dy) <= radius:
            half = math.isqrt(radius * radius - dy * dy)
            x0, x1 = max(centre_x - half, 0), min(centre_x + half + 1, width)
            if x1 > x0:
                row[3 * x0 : 3 * x1] = b"\xff\xf0\xd0" * (x1 - x0)
        yield bytes(row)


def render_frame(frame: int, path: Path, width: int, height: int, seconds: float) -> None:
    """Render in bands, reporting each like a Blender sample, pacing the bands over ``seconds``."""
    start = time.monotonic()
    rows: list[bytes] = []
    for step in range(STEPS + 1):
        if step:
            band = (height * (step - 1) // STEPS, height * step // STEPS)
            rows.extend(pattern_rows(width, height, frame, *band))
            time.sleep(max(start + seconds * step / STEPS - time.monotonic(), 0.0))
        print(f"Fra:{frame} | Time:{_clock(time.monotonic() - start)} | Sample {step}/{STEPS}", flush=True)
    partial = path.with_name(f".{path.name}.partial")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial.write_bytes(encode_png(width, height, rows))
        os.replace(partial, path)  # never leave a half-written frame under the real name
    except OSError as e:
        raise FrameWriteError(f"cannot write frame {frame} to {path}: {e.strerror or e}") from e
    print(f"Saved: '{path}'", flush=True)
    print(f" Time: {_clock(time.monotonic() - start)}", flush=True)


def _clock(seconds: float) -> str:
    minutes, rest = divmod(seconds, 60)
    return f"{int(minutes):02d}:{rest:05.2f}"


def main(argv: list[str] | None = None) -> int:
    parser = _ArgumentParser(prog="python -m renderq.demo.pattern", description=__doc__)
    parser.add_argument("--frames", required=True, help="frames to render, e.g. 1,2,3 or 1-24")
    parser.add_argument(
        "--output", required=True, help="PNG path; {frame} or {frame:04d} is the frame number"
    )
    parser.add_argument("--width", type=int, default=320)
    parser.add_argument("--height", type=int, default=180)
    parser.add_argument("--seconds-per-frame", type=float, default=0.2)
    args = parser.parse_args(argv)
    try:
        frames = parse_frames(args.frames)
    except FrameRangeError as e:
        parser.error(f"--frames: {e}")
    for name in ("width", "height"):
        if not 1 <= getattr(args, name) <= MAX_SIDE:
            parser.error(f"--{name} must be from 1 to {MAX_SIDE}, not {getattr(args, name)}")
    if not 0 <= args.seconds_per_frame < math.inf:
        parser.error(f"--seconds-per-frame must be 0 or more, not {args.seconds_per_frame}")
    if "frame" not in token_names(args.output):
        parser.error("--output must contain {frame} so each frame gets its own file")
    try:
        paths = [Path(fill_frame_tokens(args.output, {"frame": frame})) for frame in frames]
    except ValueError as e:
        parser.error(f"--output: {e}")
    print(f"renderq demo pattern {args.width}x{args.height}, {len(frames)} frames", flush=True)
    for frame, path in zip(frames, paths, strict=True):
        try:
            render_frame(frame, path, args.width, args.height, args.seconds_per_frame)
        except FrameWriteError as e:
            print(f"Error: {e}", file=sys.stderr, flush=True)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
