"""The ``ffmpeg`` plugin: encode a job's frames, an image sequence, into one movie.

An encode cannot be split between nodes, so a task's frames become one ffmpeg command
that reads them in order from the pattern (``-start_number`` the task's first frame unless
the job says otherwise, ``-frames:v`` their count). Submit the whole range as one task
(``--chunk`` at least the frame count). The movie is the last frame's expected output, so
it is hashed and sent back when the encode exits 0.

ffmpeg runs with ``-loglevel level+info`` so each line carries its level: ``[error]`` and
``[fatal]`` lines explain a failure, and the ``frame=`` statistics give progress.
"""

from __future__ import annotations

import re
from typing import Any

from renderq.plugins.app_support import check_node_path
from renderq.plugins.base import (
    CommandSpec,
    ErrorLine,
    ExpectedOutput,
    OutputParser,
    Parameter,
    ParameterError,
    ParamType,
    ParseEvent,
    Plugin,
    Progress,
)
from renderq.plugins.template import token_names

CODECS: dict[str, list[str]] = {
    "h264": ["-c:v", "libx264", "-pix_fmt", "yuv420p"],
    "h265": ["-c:v", "libx265", "-pix_fmt", "yuv420p", "-tag:v", "hvc1"],
    "prores": ["-c:v", "prores_ks", "-profile:v", "3", "-pix_fmt", "yuv422p10le"],
}
"""Each codec's encoder options; h264 and h265 take ``-crf`` from ``quality``."""
_CONTAINERS = {"h264": (".mp4", ".mov", ".mkv"), "h265": (".mp4", ".mov", ".mkv"), "prores": (".mov",)}
_PATTERN = re.compile(r"%0?\d*d")
_MAX_FPS = 1000.0
_MAX_CRF = 51


class FfmpegPlugin(Plugin):
    name = "ffmpeg"
    description = "Encode a job's frames (an image sequence) into one movie with ffmpeg: one task."
    renderer = "ffmpeg"
    parameters = (
        Parameter(
            "input",
            ParamType.PATH,
            "the frames as an ffmpeg image pattern, %04d for the zero-padded frame number, e.g. "
            "{renders}/frame_%04d.png (this job's folder) or another job's frames on shared storage "
            "(with --paths-on-nodes, as the pattern names no one file)",
            required=True,
        ),
        Parameter(
            "output",
            ParamType.PATH,
            "the movie, e.g. {renders}/shot.mp4 (.mp4, .mov or .mkv; .mov for prores); "
            "sent back as the last frame's output",
            required=True,
        ),
        Parameter("codec", ParamType.CHOICE, "video codec", default="h264", choices=tuple(CODECS)),
        Parameter("fps", ParamType.NUMBER, "frames per second of the movie", default=24.0),
        Parameter(
            "quality",
            ParamType.INTEGER,
            f"constant rate factor (CRF) of h264 and h265, 0 (lossless) to {_MAX_CRF}; "
            "prores ignores it (profile HQ)",
            default=18,
        ),
        Parameter(
            "start_number",
            ParamType.INTEGER,
            "the number in the pattern of the task's first frame; the task's first frame when left out",
        ),
        Parameter("audio", ParamType.PATH, "a sound file laid under the movie, cut to its length"),
    )

    def check(self, params: dict[str, Any]) -> None:
        _check_input(params["input"])
        output: str = params["output"]
        check_node_path("output", output)
        containers = _CONTAINERS[params["codec"]]
        if not output.lower().endswith(containers):
            raise ParameterError(
                "output",
                f"'output' must end in {', '.join(containers)} for {params['codec']}, not {output!r}",
            )
        if not 0 < params["fps"] <= _MAX_FPS:
            raise ParameterError(
                "fps", f"'fps' must be above 0 and at most {_MAX_FPS:g}, not {params['fps']:g}"
            )
        if not 0 <= params["quality"] <= _MAX_CRF:
            raise ParameterError(
                "quality", f"'quality' must be from 0 to {_MAX_CRF}, not {params['quality']}"
            )
        start = params.get("start_number")
        if start is not None and start < 0:
            raise ParameterError("start_number", f"'start_number' must be 0 or more, not {start}")
        if params.get("audio") is not None:
            check_node_path("audio", params["audio"])

    def build_commands(self, params: dict[str, Any], frames: list[int]) -> list[CommandSpec]:
        start = params.get("start_number")
        argv = [
            "ffmpeg", "-hide_banner", "-nostdin", "-y", "-loglevel", "level+info",
            "-framerate", f"{params['fps']:g}",
            "-start_number", str(frames[0] if start is None else start),
            "-i", params["input"],
        ]  # fmt: skip
        audio = params.get("audio")
        if audio is not None:
            argv += ["-i", audio, "-map", "0:v:0", "-map", "1:a:0", "-c:a", "aac", "-shortest"]
        argv += ["-frames:v", str(len(frames)), *CODECS[params["codec"]]]
        if params["codec"] != "prores":
            argv += ["-crf", str(params["quality"])]
        argv.append(params["output"])
        return [
            CommandSpec(argv, list(frames), expected_outputs=[ExpectedOutput(frames[-1], params["output"])])
        ]

    def output_parser(self) -> OutputParser:
        return FfmpegOutputParser()


def _check_input(pattern: str) -> None:
    if "frame" in token_names(pattern):
        raise ParameterError(
            "input", "'input' is an ffmpeg pattern: write %04d for the frame number, not {frame}"
        )
    check_node_path("input", pattern)
    if len(_PATTERN.findall(pattern)) != 1:
        raise ParameterError(
            "input",
            f"'input' must name the frame number once, as %d or %04d (ffmpeg's image pattern), "
            f"not {pattern!r}",
        )


_LEVEL = re.compile(r"^(?:\[(?P<source>[^\]@]+?)(?: @ 0x[0-9a-f]+)?\] )?\[(?P<level>[a-z]+)\] (?P<text>.*)$")
_DURATION = re.compile(r"^\s*Duration: (\d+):(\d\d):(\d\d(?:\.\d+)?)")
_INPUT_FPS = re.compile(r"^\s*Stream #0:\d+.*: Video: .*?(\d+(?:\.\d+)?) fps")
_FRAME = re.compile(r"^frame=\s*(\d+)\b")


class FfmpegOutputParser(OutputParser):
    """Reads ffmpeg's ``level+info`` output. Progress is the frames encoded (``frame=``)
    over the frames the first input holds, which ffmpeg states before encoding (its
    ``Duration`` times its frame rate); ``[error]`` and ``[fatal]`` lines are the errors.
    The encode's frames complete when ffmpeg exits 0."""

    def __init__(self) -> None:
        self._duration: float | None = None
        self._total: int | None = None

    def feed(self, line: str) -> list[ParseEvent]:
        match = _LEVEL.match(line.strip())
        if match is None:
            return []
        level, text = match.group("level"), match.group("text")
        if level in ("error", "fatal"):
            source = match.group("source")
            return [ErrorLine(f"ffmpeg: {source}: {text}" if source else f"ffmpeg: {text}")]
        if level != "info":
            return []
        frame = _FRAME.match(text)
        if frame is not None:
            return [Progress(min(1.0, int(frame.group(1)) / self._total))] if self._total else []
        self._read_input(text)
        return []

    def _read_input(self, text: str) -> None:
        """Only the first input's duration and frame rate count: an audio input comes later."""
        duration = _DURATION.match(text)
        if duration is not None and self._duration is None:
            hours, minutes, seconds = duration.groups()
            self._duration = int(hours) * 3600 + int(minutes) * 60 + float(seconds)
            return
        fps = _INPUT_FPS.match(text)
        if fps is not None and self._duration is not None and self._total is None:
            self._total = max(1, round(self._duration * float(fps.group(1))))
