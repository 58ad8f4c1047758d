"""What a Maya ASCII scene (.ma) says about itself, read without Maya.

A .ma file is MEL: statements ending in ``;`` (``createNode``, ``setAttr``, ``file``,
``currentUnit``, ``select``), where each ``setAttr`` applies to the node created or selected
last. That is regular enough to read the render settings, the cameras and the files a
scene needs on the controller, which has no Maya (nor its licence). A Maya Binary (.mb)
scene is not text and is not read here. ``parse_maya_ascii`` touches no disk;
``look_for_files`` then checks the files where the scene is (the CLI does, on the artist's
machine).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from renderq.plugins.blender_analysis import missing_warnings
from renderq.v1 import resources_pb2 as pb

ANALYSER = "Maya ASCII parser"

_TOKEN = re.compile(r'\s*(?://[^\n]*|"((?:[^"\\]|\\.)*)"|(;)|([^\s;"]+))', re.DOTALL)
_ESCAPES = re.compile(r"\\(.)", re.DOTALL)
_TIME_UNITS = {
    "game": 15.0,
    "film": 24.0,
    "pal": 25.0,
    "ntsc": 30.0,
    "show": 48.0,
    "palf": 50.0,
    "ntscf": 60.0,
}
_FORMATS = {"3": "tif", "7": "iff", "8": "jpeg", "19": "tga", "32": "png", "40": "exr"}
"""defaultRenderGlobals.outFormatControl's usual values (51 defers to .imfkey)."""
_FILE_ATTRIBUTES = {
    ("file", ".ftn"): "image",
    ("AlembicNode", ".fn"): "cache",
    ("gpuCache", ".cfn"): "cache",
    ("audio", ".f"): "sound",
}
"""(node type, attribute) -> the kind of external file that string attribute names."""


@dataclass
class _Node:
    type: str
    name: str
    parent: str = ""


def statements(text: str) -> Iterator[list[str]]:
    """The MEL statements of ``text`` as lists of words, quoted strings unescaped and
    comments left out."""
    words: list[str] = []
    for match in _TOKEN.finditer(text):
        quoted, end, word = match.groups()
        if end:
            if words:
                yield words
            words = []
        elif quoted is not None:
            words.append(_ESCAPES.sub(lambda m: "\n" if m.group(1) == "n" else m.group(1), quoted))
        elif word:
            words.append(word)
    if words:
        yield words


def _flag(words: list[str], *names: str) -> str:
    """The value after the first of ``names`` in ``words``; empty when absent."""
    for index, word in enumerate(words[:-1]):
        if word in names:
            return words[index + 1]
    return ""


class _Reader:
    """The scene's statements applied in order: the node ``setAttr`` refers to, and what
    the analysis keeps of each."""

    def __init__(self) -> None:
        self.analysis = pb.SceneAnalysis(analyser=ANALYSER, fps=24.0, resolution_percentage=100)
        self.node = _Node("", "")
        self.globals: dict[str, str] = {}
        self.resolution: dict[str, str] = {}
        self.playback: dict[str, str] = {}
        self.cameras: dict[str, bool] = {}
        self.cache_parts: dict[str, dict[str, str]] = {}

    def read(self, words: list[str]) -> None:
        command = words[0]
        if command == "createNode" and len(words) > 1:
            self.node = _Node(words[1], _flag(words, "-n", "-name"), _flag(words, "-p", "-parent"))
            if self.node.type == "camera":
                self.cameras[self.node.parent or self.node.name] = True
        elif command == "select" and "-ne" in words:
            self.node = _Node("", words[-1].lstrip(":"))
        elif command == "setAttr" and len(words) > 2:
            self._set(words[1], words[-1])
        elif command == "currentUnit" and (unit := _flag(words, "-t", "-time")):
            self._time_unit(unit)
        elif command == "file" and "-r" in words and len(words) > 1:
            self.analysis.files.add(path=words[-1], kind="reference")
        elif command == "playbackOptions":
            self.playback.update(
                (k, _flag(words, f"-{k}")) for k in ("min", "max", "by") if _flag(words, f"-{k}")
            )

    def _set(self, attribute: str, value: str) -> None:
        node = self.node
        if node.name == "defaultRenderGlobals":
            self.globals[attribute] = value
        elif node.name == "defaultResolution":
            self.resolution[attribute] = value
        elif node.type == "camera" and attribute == ".rnd":
            self.cameras[node.parent or node.name] = value in ("yes", "on", "true", "1")
        elif node.type == "cacheFile" and attribute in (".cp", ".cn"):
            self.cache_parts.setdefault(node.name, {})[attribute] = value
        elif node.type == "script" and attribute == ".b" and "playbackOptions" in value:
            for words in statements(value):
                self.read(words)
        elif kind := _FILE_ATTRIBUTES.get((node.type, attribute)):
            self.analysis.files.add(path=value, kind=kind)

    def _time_unit(self, unit: str) -> None:
        fps = _TIME_UNITS.get(unit)
        if fps is None and (numeric := re.fullmatch(r"(\d+(?:\.\d+)?)fps", unit)):
            fps = float(numeric.group(1))
        if fps is None:
            self.analysis.warnings.append(
                f"the time unit {unit!r} is not one this parser knows; fps left at 24"
            )
            return
        self.analysis.fps = fps

    def finish(self) -> pb.SceneAnalysis:
        analysis, render = self.analysis, self.globals
        start = render.get(".fs") or self.playback.get("min") or "1"
        end = render.get(".ef") or self.playback.get("max") or "10"
        step = render.get(".bfs") or self.playback.get("by") or "1"
        try:
            analysis.frame_start, analysis.frame_end = round(float(start)), round(float(end))
            analysis.frame_step = max(1, round(float(step)))
            analysis.resolution_x = int(self.resolution.get(".w", "640"))
            analysis.resolution_y = int(self.resolution.get(".h", "480"))
        except ValueError as exc:
            analysis.warnings.append(f"a frame or resolution setting is not a number: {exc}")
        analysis.engine = render.get(".ren", "mayaSoftware")
        analysis.output_path = render.get(".ifp", "")
        analysis.output_format = render.get(".imfkey") or _FORMATS.get(render.get(".outf", "7"), "")
        analysis.cameras.extend(pb.SceneCamera(name=n, active=a) for n, a in self.cameras.items())
        for parts in self.cache_parts.values():
            folder, name = parts.get(".cp", ""), parts.get(".cn", "")
            analysis.files.add(path=f"{folder.rstrip('/')}/{name}.xml" if name else folder, kind="cache")
        return analysis


def parse_maya_ascii(text: str) -> pb.SceneAnalysis:
    """The render settings, cameras (renderable ones active) and external files (texture
    files, references, caches, sounds) of a Maya ASCII scene; the files as the scene names
    them, not looked for."""
    reader = _Reader()
    for words in statements(text):
        reader.read(words)
    return reader.finish()


def look_for_files(analysis: pb.SceneAnalysis, folder: Path) -> None:
    """Resolve each file of ``analysis`` (a relative one from ``folder``, where the scene
    is) and note whether it exists and its size; a warning for each missing one."""
    for file in analysis.files:
        resolved = (folder / os.path.expandvars(file.path)).absolute()
        file.resolved_path = os.path.normpath(resolved)
        file.exists = resolved.exists()
        file.size_bytes = resolved.stat().st_size if resolved.is_file() else 0
    analysis.warnings.extend(missing_warnings(analysis))
