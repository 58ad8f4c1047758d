"""Reads Blender's command-line output: frames started, samples done, files saved, errors.

``demo/pattern.py`` prints the same shapes (``Fra:N``, ``Sample n/m``,
``Saved: '<path>'``, ``Error: ...``) so one parser serves both renderers.
"""

from __future__ import annotations

import re

from renderq.plugins.base import ErrorLine, FrameSaved, FrameStarted, OutputParser, ParseEvent, Progress

_FRA = re.compile(r"^Fra:(-?\d+)\b")
_CYCLES_SAMPLE = re.compile(r"\| Sample (\d+)/(\d+)")
_EEVEE_SAMPLE = re.compile(r"\| Rendering (\d+) / (\d+) samples")
_SAVED = re.compile(r"^Saved: '(.*)'\s*$")
_ERROR = re.compile(r"^Error: (.+)$")
_FAILED = re.compile(r"^Failed\b.*$")
_TRACEBACK = "Traceback (most recent call last):"
_SCRIPT_FAILED = "script failed, "
# Cycles' messages when the denoiser is missing or unusable (intern/cycles/integrator/denoiser.cpp).
_DENOISER = re.compile(
    r"without OpenImageDenoise|OpenImageDenoiser? is not supported|No device available to denoise"
    r"|denois\w* failed|failed to denoise",
    re.IGNORECASE,
)

DENOISER_MISSING = (
    "this node's Blender cannot denoise (it is built without OpenImageDenoise) and the scene "
    "has denoising on: turn off Render Properties > Sampling > Denoise, or render on a node "
    "whose Blender has OpenImageDenoise"
)


class BlenderOutputParser(OutputParser):
    """One instance per Blender process: it remembers the frame being rendered, since
    Blender's ``Saved:`` line does not repeat the frame number.

    The agent takes the last error line as the frame's error message, so the parser
    reports each cause once and drops Blender's echoes and epilogues of it.
    """

    completes_on_exit = False

    def __init__(self) -> None:
        self._frame: int | None = None
        self._in_traceback = False
        self._exception: str | None = None
        self._last_error: str | None = None

    def feed(self, line: str) -> list[ParseEvent]:
        line = line.rstrip("\r\n")
        if self._in_traceback:
            if line[:1].isspace():
                return []
            # The first line after the indented stack is the exception itself.
            self._in_traceback = False
            self._exception = line.strip()
            return self._error(self._exception)
        fra = _FRA.match(line)
        if fra:
            return self._frame_line(int(fra.group(1)), line)
        saved = _SAVED.match(line)
        if saved:
            return [FrameSaved(saved.group(1), self._frame)]
        if _TRACEBACK in line:
            self._in_traceback = True
            return []
        if _DENOISER.search(line):
            return self._error(DENOISER_MISSING)
        error = _ERROR.match(line)
        if error:
            message = error.group(1).strip()
            if self._exception and message.startswith(_SCRIPT_FAILED):
                # Blender's epilogue to the exception just reported; the exception says more.
                return []
            return self._error(message)
        if _FAILED.match(line):
            return self._error(line.strip())
        return []

    def _frame_line(self, frame: int, line: str) -> list[ParseEvent]:
        events: list[ParseEvent] = []
        if frame != self._frame:
            self._frame = frame
            events.append(FrameStarted(frame))
        sample = _CYCLES_SAMPLE.search(line) or _EEVEE_SAMPLE.search(line)
        if sample:
            done, total = int(sample.group(1)), int(sample.group(2))
            if total > 0:
                events.append(Progress(min(done / total, 1.0), frame))
        return events

    def _error(self, message: str) -> list[ParseEvent]:
        """Blender often says one thing several times; report it once."""
        if not message or message == self._last_error:
            return []
        self._last_error = message
        return [ErrorLine(message)]
