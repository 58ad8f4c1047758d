"""Path mapping rules (``renderq pathmap``): kept, checked, stored, and compiled per OS.

The farm holds few rules and maps every task's arguments with them, so each change
recompiles the rules of its OS once (``path_mapping.PathMapper``) and dispatch only looks
the compiled mapper up. Rules of one OS never overlap (a path one maps to is never
matched by another, nor by itself): every path is mapped once and for all, whichever
part of dispatch maps it first.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from renderq.controller import path_mapping
from renderq.controller.errors import InvalidField, NoSuchResource, NotPossibleNow
from renderq.controller.model import PathMapping
from renderq.controller.path_mapping import (
    NO_RULES,
    PathMapper,
    canonical_os,
    is_absolute,
    is_windows_style,
)
from renderq.controller.recorder import Recorder
from renderq.v1 import resources_pb2 as pb

log = logging.getLogger(__name__)

MOST_RULES = 1000
MAX_PATH = 4096
"""Most characters of a rule's path (a long Windows path is 32,767; no share is named so deep)."""


class PathMapControl:
    def __init__(self, rec: Recorder) -> None:
        self.rec = rec
        self._rules: dict[str, PathMapping] = {}
        """By ``path_mapping.rule_key``."""
        self._mappers: dict[str, PathMapper] = {}

    def restore(self, records: Iterable[PathMapping]) -> None:
        self._rules = {r.id: r for r in records}
        self._mappers = path_mapping.mappers(r.to_proto() for r in self._rules.values())

    def all(self) -> list[PathMapping]:
        """Every rule, by OS then prefix."""
        return sorted(self._rules.values(), key=lambda r: (r.os, r.from_path.lower(), r.from_path))

    def mapper_for(self, os: str) -> PathMapper:
        """The compiled rules for agents of ``os`` (as they report it: ``platform.system()``)."""
        return self._mappers.get(os, NO_RULES)

    def add(self, mapping: pb.PathMapping) -> PathMapping:
        """Add the rule, or replace the one for the same prefix and OS."""
        os = _os("mapping.os", mapping.os)
        from_path = _path("mapping.from_path", mapping.from_path, "the prefix as jobs write it")
        to_path = _path("mapping.to_path", mapping.to_path, f"where it is on {os} agents")
        if (os == "Windows") != is_windows_style(to_path):
            example = "Z:\\projects or \\\\nas\\projects" if os == "Windows" else "/mnt/projects"
            raise InvalidField(
                "mapping.to_path", f"{_q(to_path)} is not a path on {os}; write it as {example}"
            )
        trimmed = path_mapping.trimmed
        rule = pb.PathMapping(from_path=trimmed(from_path), to_path=trimmed(to_path), os=os)
        key = path_mapping.rule_key(rule)
        self._refuse_overlaps(rule, key)
        if key not in self._rules and len(self._rules) >= MOST_RULES:
            raise NotPossibleNow(f"the farm has {MOST_RULES:,} path mapping rules, the most it keeps")
        record = self._rules[key] = PathMapping(key, rule.from_path, rule.to_path, os)
        self.rec.changed(record)
        self._compile(os)
        log.info("path mapping set from=%s to=%s os=%s", rule.from_path, rule.to_path, os)
        return record

    def delete(self, from_path: str, os: str) -> None:
        os = _os("os", os)
        if not from_path:
            raise InvalidField("from_path", "give the prefix of the rule to delete")
        key = path_mapping.rule_key(pb.PathMapping(from_path=from_path, os=os))
        record = self._rules.pop(key, None)
        if record is None:
            raise NoSuchResource(
                f"there is no path mapping rule for {_q(from_path)} on {os}; {self._known(os)}"
            )
        self.rec.deleted(record)
        self._compile(os)
        log.info("path mapping deleted from=%s os=%s", record.from_path, os)

    def map(self, path: str, os: str) -> tuple[str, pb.PathMapping | None]:
        """What ``path`` becomes on agents of ``os``, and the rule that made it (MapPath)."""
        os = _os("os", os)
        if not path:
            raise InvalidField("path", "give the path to map")
        return self.mapper_for(os).map_path_and_rule(path)

    def _compile(self, os: str) -> None:
        rules = [r.to_proto() for r in self._rules.values() if r.os == os]
        self._mappers[os] = PathMapper(rules)

    def _refuse_overlaps(self, rule: pb.PathMapping, key: str) -> None:
        """A path mapped by one rule of an OS must never match a rule of that OS again (a
        rule onto itself, a share mounted at the same path everywhere, changes nothing)."""
        if rule.from_path != rule.to_path and path_mapping.overlaps(rule.from_path, rule.to_path):
            raise InvalidField(
                "mapping.to_path",
                f"{_q(rule.to_path)} and {_q(rule.from_path)} lie one under the other: "
                "a mapped path would match the rule again",
            )
        new = f"{_q(rule.from_path)} -> {_q(rule.to_path)}"
        for other in self._rules.values():
            if other.os != rule.os or other.id == key:
                continue
            old = f"{_q(other.from_path)} -> {_q(other.to_path)}"
            if path_mapping.overlaps(rule.from_path, other.to_path):
                mapped, by = old, new
            elif path_mapping.overlaps(other.from_path, rule.to_path):
                mapped, by = new, old
            else:
                continue
            raise NotPossibleNow(
                f"on {rule.os}, a path the rule {mapped} maps would be mapped again by {by}; map each "
                "prefix straight to where it is, or delete the other rule first"
            )

    def _known(self, os: str) -> str:
        """The rules of ``os`` in words, for a refusal that names what exists."""
        rules = [r for r in self.all() if r.os == os]
        if not rules:
            return f"there are none for {os} (`renderq pathmap list` shows every rule)"
        return "its rules map " + ", ".join(_q(r.from_path) for r in rules)


def _q(path: str) -> str:
    """A path quoted as people write it (``repr`` would double a Windows path's backslashes)."""
    return f"'{path}'"


def _os(field: str, name: str) -> str:
    os = canonical_os(name)
    if os is None:
        raise InvalidField(field, f"must be Linux, Windows or Darwin (macOS), not {name!r}")
    return os


def _path(field: str, path: str, what: str) -> str:
    """``path`` checked: given, of a sane length, NUL-free, absolute as its style has it."""
    if not path.strip():
        raise InvalidField(field, f"give {what}")
    if len(path) > MAX_PATH:
        raise InvalidField(field, f"is {len(path):,} characters; at most {MAX_PATH:,}")
    if "\0" in path:
        raise InvalidField(field, "holds a NUL character, which no path may")
    if not is_absolute(path):
        raise InvalidField(
            field,
            f"{_q(path)} is not absolute; write {what} in full, such as Z:\\projects, "
            "\\\\nas\\projects or /mnt/projects",
        )
    return path
