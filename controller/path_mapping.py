"""Path mapping: a job's paths rewritten for the OS of the agent that runs it.

Studios mount one share at different places: ``Z:\\projects`` or ``\\\\nas\\projects`` on
Windows, ``/mnt/projects`` on Linux, ``/Volumes/projects`` on macOS. A rule
(``pb.PathMapping``) says what a prefix becomes on agents of one OS. The rules here:

- the longest matching prefix wins, and a prefix matches only at a path-component
  boundary (``/mnt/proj`` never matches ``/mnt/projects``);
- a Windows side (a drive ``X:\\`` or ``X:/``, a UNC share ``\\\\server\\share``) matches
  whatever its case and whichever slash a path uses, as Windows itself does; a POSIX
  side matches exactly;
- the rest of a matched path keeps its names, its separators turned into the target's
  (backslashes for a Windows agent, forward slashes otherwise);
- trailing separators of a rule mean nothing; a path no rule matches is left as it is.

Inside a command-line argument (``map_text``) a path is looked for where one begins: at
the start of the argument, else right after an ``=`` (``--scene=Z:\\projects\\a.blend``);
it runs to the end of the argument, and the first such place a rule matches is mapped.

Everything here is pure. The rules of one OS are compiled once, when they change, into
one regular expression (``PathMapper``), so mapping a task's arguments costs one match per
argument however many rules there are.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from typing import Any

from renderq.plugins.base import CommandSpec, ExpectedOutput, Parameter, ParamType
from renderq.v1 import resources_pb2 as pb

OS_NAMES = {"linux": "Linux", "windows": "Windows", "darwin": "Darwin"}
"""Each OS a rule may name, as ``platform.system()`` spells it (what agents report)."""

_DRIVE = re.compile(r"[A-Za-z]:(?:[\\/]|$)")
_UNC = re.compile(r"\\\\[^\\/]+[\\/][^\\/]+")
"""``\\\\server\\share``: a Windows network path names a server and a share on it."""


def canonical_os(name: str) -> str | None:
    """``name`` (any case) as agents report it; None when it is no OS a rule may name."""
    return OS_NAMES.get(name.strip().lower())


def is_windows_style(path: str) -> bool:
    """A drive (``Z:\\``, ``Z:/``) or a UNC share (``\\\\nas\\projects``)."""
    return bool(_DRIVE.match(path) or path.startswith("\\\\"))


def is_absolute(path: str) -> bool:
    """Absolute as its own style has it: a drive's root or a share, or a POSIX ``/``."""
    return bool(_DRIVE.match(path) or _UNC.match(path)) or path.startswith("/")


def separators(path: str) -> str:
    """What separates the names of ``path``: either slash on Windows, only ``/`` on POSIX."""
    return "\\/" if is_windows_style(path) else "/"


def trimmed(path: str) -> str:
    """``path`` without trailing separators, but never without its root (``Z:\\``, ``/``)."""
    kept = path.rstrip(separators(path))
    if not kept:
        return path[:1]
    if len(kept) == 2 and kept[1] == ":" and is_windows_style(path):
        return path[:3]
    return kept


def identity(from_path: str) -> str:
    """What makes two prefixes the same place: case and slashes folded on a Windows side."""
    kept = trimmed(from_path)
    return kept.lower().replace("\\", "/") if is_windows_style(kept) else kept


def rule_key(mapping: pb.PathMapping) -> str:
    """A rule's identity: a rule for the same place and OS replaces it."""
    return f"{mapping.os} {identity(mapping.from_path)}"


def _prefix_pattern(prefix: str) -> str:
    """The regular expression of ``prefix`` ending at a component boundary."""
    kept = prefix.rstrip(separators(prefix))
    if not is_windows_style(prefix):
        # The root alone ("/") matches every absolute path, but never an empty one.
        return re.escape(kept) + (r"(?=/|$)" if kept else "(?=/)")
    names = re.split(r"[\\/]", kept)
    return "(?i:" + r"[\\/]".join(re.escape(n) for n in names) + r")(?=[\\/]|$)"


def covers(prefix: str, path: str) -> bool:
    """Whether rule prefix ``prefix`` matches ``path`` (at a component boundary)."""
    return re.match(_prefix_pattern(prefix), path) is not None


def overlaps(from_path: str, to_path: str) -> bool:
    """Whether a path mapped to ``to_path`` could match ``from_path`` again: one lies
    under the other. Rules of an OS that never overlap map every path once and for all."""
    return covers(from_path, to_path) or covers(to_path, from_path)


class PathMapper:
    """The rules of one OS, compiled: one alternation, longest prefix first, each rule its
    own group (so the match says which rule applied)."""

    def __init__(self, rules: Iterable[pb.PathMapping]) -> None:
        self.rules = sorted(rules, key=lambda r: len(trimmed(r.from_path)), reverse=True)
        self._targets = [_target(r) for r in self.rules]
        alternatives = "|".join(f"({_prefix_pattern(r.from_path)})" for r in self.rules)
        self._pattern = re.compile(f"(?:^|(?<==))(?:{alternatives})") if self.rules else None

    def __bool__(self) -> bool:
        return bool(self.rules)

    def map_path_and_rule(self, path: str) -> tuple[str, pb.PathMapping | None]:
        """``path`` on this OS's agents, and the rule that made it (None: unchanged)."""
        match = self._pattern.match(path) if self._pattern else None
        if match is None:
            return path, None
        return self._mapped(match, path), self.rules[_rule_index(match)]

    def map_path(self, path: str) -> str:
        return self.map_path_and_rule(path)[0]

    def map_text(self, text: str) -> str:
        """``text`` (one command-line argument) with the path in it mapped: the first place a
        rule matches, at the start or right after an ``=``, to the end of the argument."""
        match = self._pattern.search(text) if self._pattern else None
        if match is None:
            return text
        return text[: match.start()] + self._mapped(match, text[match.start() :])

    def _mapped(self, match: re.Match[str], path: str) -> str:
        index = _rule_index(match)
        target, separator = self._targets[index]
        rest = path[match.end() - match.start() :]
        for old in separators(self.rules[index].from_path):
            rest = rest.replace(old, separator)
        return _rooted(target + rest, separator)

    def map_parameters(self, parameters: Mapping[str, Any], schema: Sequence[Parameter]) -> dict[str, Any]:
        """A job's parameters with those its plugin's schema calls paths mapped."""
        mapped = dict(parameters)
        for parameter in schema:
            value = mapped.get(parameter.name)
            if parameter.type is ParamType.PATH and isinstance(value, str):
                mapped[parameter.name] = self.map_path(value)
        return mapped

    def map_commands(self, commands: Sequence[CommandSpec]) -> list[CommandSpec]:
        """Each command's arguments, environment values and expected outputs mapped
        (``map_text``, ``map_path``)."""
        return [
            replace(
                c,
                argv=[self.map_text(a) for a in c.argv],
                expected_outputs=[ExpectedOutput(o.frame, self.map_path(o.path)) for o in c.expected_outputs],
                environment={k: self.map_text(v) for k, v in c.environment.items()},
            )
            for c in commands
        ]


NO_RULES = PathMapper(())
"""An OS without rules: every path stays as it is."""


def mappers(rules: Iterable[pb.PathMapping]) -> dict[str, PathMapper]:
    """The rules compiled per OS."""
    by_os: dict[str, list[pb.PathMapping]] = {}
    for rule in rules:
        by_os.setdefault(rule.os, []).append(rule)
    return {os: PathMapper(found) for os, found in by_os.items()}


def _rule_index(match: re.Match[str]) -> int:
    """The rule whose group matched (the only groups are the rules', one per rule)."""
    assert match.lastindex is not None
    return match.lastindex - 1


def _target(rule: pb.PathMapping) -> tuple[str, str]:
    """What a rule's prefix becomes (no trailing separator), and the separator of its OS."""
    separator = "\\" if rule.os == "Windows" else "/"
    return rule.to_path.rstrip(separators(rule.to_path)), separator


def _rooted(path: str, separator: str) -> str:
    """A path mapped to a root (``/``, ``Z:\\``) keeps the root's separator."""
    if not path or (len(path) == 2 and path[1] == ":"):
        return path + separator
    return path
