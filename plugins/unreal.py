"""The ``unreal`` plugin: render a Level Sequence with Movie Render Queue from the command line.

``UnrealEditor-Cmd PROJECT.uproject MAP -game -MoviePipelineConfig=PRESET
-LevelSequence=SEQUENCE ...`` opens the map as a game without a window of its own
(``-RenderOffscreen``), renders the sequence with the saved MRQ preset and quits.
The preset decides the frames, the output folder and the formats: the command line
cannot set a frame range, so a task renders what the preset says and its frames
complete when Unreal exits 0. Submit such a job as one task (a chunk as large as
its frames), with the frames the preset renders.

Unreal logs to stdout with ``-log -StdOut``. Movie Render Queue's lines start
``LogMovieRenderPipeline:``; its errors and Unreal's fatal errors (the line after its
``=== Critical error: ===``) fail the task even when the editor exits 0.
"""

from __future__ import annotations

import re
from typing import Any

from renderq.plugins.app_support import LICENCE_FAILURE, AppOutputParser, check_node_path
from renderq.plugins.base import (
    CommandSpec,
    OutputParser,
    Parameter,
    ParameterError,
    ParamType,
    ParseEvent,
    Plugin,
    Progress,
)

_ASSET = re.compile(r"/[A-Za-z0-9_][A-Za-z0-9_./-]*")
"""An Unreal asset path such as /Game/Cinematics/Shot010.Shot010 (no spaces: Unreal refuses them)."""
_MRQ = "LogMovieRenderPipeline:"
_FRAME_OF = re.compile(r"\bFrame:?\s*(\d+)\s*/\s*(\d+)")
_MRQ_ERROR = re.compile(r"LogMovieRenderPipeline:\s*Error:\s*(.+)$")
_FATAL = re.compile(r"\bFatal error:\s*(.+)$", re.IGNORECASE)
"""The line after ``=== Critical error: ===`` that says what went wrong."""
_ERROR = re.compile(r"^(?:\[[^\]]*\])*\s*\w+:\s*Error:\s*(.+)$")
LICENCE_REFUSED = "a plugin of this node's Unreal has no licence to render"


class UnrealPlugin(Plugin):
    name = "unreal"
    description = (
        "Render an Unreal Level Sequence with Movie Render Queue (UnrealEditor-Cmd); "
        "the MRQ preset decides frames and outputs, so submit one task."
    )
    renderer = "UnrealEditor-Cmd"
    parameters = (
        Parameter(
            "project",
            ParamType.PATH,
            "the .uproject file as the render nodes open it: an absolute path on storage they share, "
            "or a path under {project}",
            required=True,
        ),
        Parameter(
            "map",
            ParamType.STRING,
            "the map to load, as an asset path such as /Game/Maps/Stage",
            required=True,
        ),
        Parameter(
            "sequence",
            ParamType.STRING,
            "the Level Sequence to render (-LevelSequence=), e.g. /Game/Cinematics/Shot010.Shot010",
            required=True,
        ),
        Parameter(
            "preset",
            ParamType.STRING,
            "the saved Movie Render Queue preset (-MoviePipelineConfig=), e.g. /Game/Cinematics/Final.Final; "
            "it sets the frames, the output folder and the formats",
            required=True,
        ),
    )

    def check(self, params: dict[str, Any]) -> None:
        check_node_path("project", params["project"], (".uproject",))
        for field in ("map", "sequence", "preset"):
            if not _ASSET.fullmatch(params[field]):
                raise ParameterError(
                    field,
                    f"{field!r} must be an Unreal asset path such as /Game/Folder/Name (no spaces), "
                    f"not {params[field]!r}",
                )

    def build_commands(self, params: dict[str, Any], frames: list[int]) -> list[CommandSpec]:
        argv = [
            "UnrealEditor-Cmd", params["project"], params["map"], "-game",
            f"-MoviePipelineConfig={params['preset']}",
            f"-LevelSequence={params['sequence']}",
            "-windowed", "-log", "-StdOut", "-unattended", "-nosplash", "-RenderOffscreen",
        ]  # fmt: skip
        return [CommandSpec(argv=argv, frames=list(frames))]

    def output_parser(self) -> OutputParser:
        return UnrealOutputParser()


class UnrealOutputParser(AppOutputParser):
    """Unreal's log: Movie Render Queue's frame counts as progress, its errors and fatal errors."""

    def feed(self, line: str) -> list[ParseEvent]:
        line = line.strip()
        if _MRQ in line:
            frame_of = _FRAME_OF.search(line)
            if frame_of and int(frame_of.group(2)) > 0:
                return [Progress(min(int(frame_of.group(1)) / int(frame_of.group(2)), 1.0))]
            mrq_error = _MRQ_ERROR.search(line)
            if mrq_error:
                return self.fail(f"Movie Render Queue: {mrq_error.group(1)}")
        fatal = _FATAL.search(line)
        if fatal:
            return self.fail(f"Unreal crashed: {fatal.group(1)}")
        if LICENCE_FAILURE.search(line):
            return self.fail(f"{LICENCE_REFUSED}: {line}")
        error = _ERROR.match(line)
        if error:
            return self.error(error.group(1))
        return []
