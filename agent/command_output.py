"""One command's output as the agent reads it: cut into lines for the plugin's parser,
whose events move the attempt's frames along (started, progress, saved, failed).

Kept apart from the runner (agent/runner.py), which starts, watches and ends the
process: this is the part each renderer's plugin shapes.
"""

from __future__ import annotations

import asyncio
import codecs
import logging
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from renderq.plugins.base import (
    ErrorLine,
    FrameSaved,
    FrameStarted,
    OutputParser,
    ParseEvent,
    Progress,
    TaskFailed,
    WarningLine,
)

log = logging.getLogger(__name__)

MAX_WARNINGS = 20
"""Warnings kept per frame: a renderer repeating one for every tile says nothing more."""
MAX_WARNING = 500
MAX_LINE = 64 * 1024
"""Longer output without a line break is cut into lines of this size for the parser."""
_LINE_BREAK = re.compile(r"[\r\n]")


class FrameSink(Protocol):
    """What the output tells about frames goes to the attempt (AttemptRunner)."""

    log_ids: str

    def report_progress(self, frame: int, fraction: float) -> None: ...

    def is_completed(self, frame: int) -> bool: ...

    async def complete_frame(
        self, frame: int, paths: list[Path], render_time: float, warnings: Sequence[str] = ()
    ) -> str: ...


class CommandOutput:
    """One command's output, cut into lines for its parser, whose events move frames along."""

    def __init__(
        self,
        runner: FrameSink,
        cwd: Path,
        frames: list[int],
        expected: dict[int, list[Path]],
        parser: OutputParser,
    ) -> None:
        self._runner = runner
        self._cwd = cwd
        self._frames = frames
        self._expected = expected
        self._parser = parser
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._partial = ""
        self._loop = asyncio.get_running_loop()
        self._current = self._next_frame()
        self._frame_start = self._loop.time()
        self._parser_failed = False
        self.last_error = ""
        self.last_line = ""
        self.failure = ""
        """What the renderer said failed the task (TaskFailed), whatever its exit code."""
        self._warnings: list[str] = []
        """What the renderer warned about since the frame in hand started."""

    async def feed(self, data: bytes) -> None:
        *lines, self._partial = _LINE_BREAK.split(self._partial + self._decoder.decode(data))
        if len(self._partial) >= MAX_LINE:
            lines.append(self._partial)
            self._partial = ""
        for line in lines:
            await self._line(line)

    async def close(self) -> None:
        """The output ended: its last line needs no line break."""
        for line in _LINE_BREAK.split(self._partial + self._decoder.decode(b"", final=True)):
            await self._line(line)
        self._partial = ""

    async def finish(self) -> str:
        """The command exited 0: settle its frames; return why one failed, or ""."""
        if self.failure:
            return self.failure
        todo = [frame for frame in self._frames if not self._runner.is_completed(frame)]
        if not todo:
            return ""
        if not self._parser.completes_on_exit:
            return self.last_error or f"renderer exited without saving frame {todo[0]}"
        share = (self._loop.time() - self._frame_start) / len(todo)
        problems = [
            await self._runner.complete_frame(frame, self._expected.get(frame, []), share, self._warnings)
            for frame in todo
        ]
        return next((problem for problem in problems if problem), "")

    def _next_frame(self) -> int | None:
        return next((frame for frame in self._frames if not self._runner.is_completed(frame)), None)

    async def _line(self, line: str) -> None:
        if not line.strip():
            return
        self.last_line = line.strip()
        for event in self._parse(line):
            await self._apply(event)

    def _parse(self, line: str) -> list[ParseEvent]:
        try:
            return self._parser.feed(line)
        except Exception:
            # A parser bug must not cost the render; say it once per command.
            if not self._parser_failed:
                self._parser_failed = True
                log.exception("output parser failed on a line %s line=%r", self._runner.log_ids, line)
            return []

    async def _apply(self, event: ParseEvent) -> None:
        if isinstance(event, FrameStarted):
            self._current = event.frame
            self._frame_start = self._loop.time()
            self._warnings = []
        elif isinstance(event, Progress):
            frame = event.frame if event.frame is not None else self._current
            self._runner.report_progress(frame or 0, event.fraction)
        elif isinstance(event, FrameSaved):
            await self._saved(event)
        elif isinstance(event, ErrorLine):
            self.last_error = event.message
        elif isinstance(event, WarningLine):
            if event.message not in self._warnings and len(self._warnings) < MAX_WARNINGS:
                self._warnings.append(event.message[:MAX_WARNING])
        elif isinstance(event, TaskFailed):
            self.failure = self.failure or event.message
            self.last_error = event.message

    async def _saved(self, event: FrameSaved) -> None:
        frame = event.frame if event.frame is not None else self._current
        if frame is None or self._runner.is_completed(frame):
            log.debug("saved file not matched to a frame %s path=%s", self._runner.log_ids, event.path)
            return
        # A relative path is relative to the renderer's working directory.
        paths = [self._cwd / event.path, *self._expected.get(frame, [])]
        took = self._loop.time() - self._frame_start
        problem = await self._runner.complete_frame(frame, paths, took, self._warnings)
        if problem:
            self.last_error = problem
            return
        self._current = self._next_frame()
        self._frame_start = self._loop.time()
        self._warnings = []
