"""Every plugin the farm knows, one instance each, looked up by name.

Besides the built-in ones, any installed distribution may add plugins through the entry
point group ``renderq.plugins``: each entry point names a Plugin subclass or instance. The
controller validates and builds commands with a plugin and the agent parses its output
with it, so both load the same group. A third-party plugin that cannot be used is left
out and reported (``broken_plugins``), never fatal: the farm runs on without it.
"""

from __future__ import annotations

import functools
import logging
import re
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points

from renderq.plugins.aftereffects import AfterEffectsPlugin
from renderq.plugins.base import Plugin
from renderq.plugins.blender import BlenderPlugin
from renderq.plugins.command import CommandPlugin
from renderq.plugins.demo import DemoPlugin
from renderq.plugins.ffmpeg import FfmpegPlugin
from renderq.plugins.max3ds import Max3dsPlugin
from renderq.plugins.maya import MayaPlugin
from renderq.plugins.python import PythonPlugin
from renderq.plugins.unreal import UnrealPlugin

BUILT_IN: tuple[Plugin, ...] = (
    AfterEffectsPlugin(),
    BlenderPlugin(),
    CommandPlugin(),
    DemoPlugin(),
    FfmpegPlugin(),
    Max3dsPlugin(),
    MayaPlugin(),
    PythonPlugin(),
    UnrealPlugin(),
)
"""The plugins renderq ships, one instance each."""

ENTRY_POINT_GROUP = "renderq.plugins"
"""Where installed distributions declare their plugins."""
BUILT_IN_ORIGIN = "built in"

_NAME = re.compile(r"[a-z][a-z0-9_-]{0,63}")
"""A plugin's name is a word typed after ``renderq submit`` and stored in every job."""

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BrokenPlugin:
    """A third-party plugin left out: its entry point's name, where it came from, and why."""

    name: str
    origin: str
    error: str


@dataclass(frozen=True)
class _Loaded:
    plugins: dict[str, Plugin]
    """By name, sorted."""
    origins: dict[str, str]
    broken: list[BrokenPlugin]


class _Refused(Exception):
    """Why an entry point's object cannot be a plugin, in words."""


def get_plugin(name: str) -> Plugin | None:
    return _loaded().plugins.get(name)


def all_plugins() -> list[Plugin]:
    """Sorted by name."""
    return list(_loaded().plugins.values())


def origin_of(name: str) -> str:
    """Where plugin ``name`` came from: ``"built in"``, or ``"<distribution> <version>
    (<module>:<attr>)"`` for one an entry point added. Raises KeyError for no such plugin."""
    return _loaded().origins[name]


def broken_plugins() -> list[BrokenPlugin]:
    """The third-party plugins left out, in the order their entry points were found."""
    return list(_loaded().broken)


def log_broken_plugins() -> None:
    """Warn in the log about each plugin left out, once as a server starts, so that an
    operator reading it learns why that plugin's jobs fail there. Loading does not log:
    every CLI command loads the plugins for its help, and must not print log lines."""
    for broken in broken_plugins():
        log.warning(
            "plugin left out, its jobs cannot run here name=%s origin=%s error=%s",
            broken.name, broken.origin, broken.error,
        )  # fmt: skip


def forget_loaded_plugins() -> None:
    """Load the entry points again at the next use (tests put new distributions on sys.path)."""
    _loaded.cache_clear()


@functools.cache
def _loaded() -> _Loaded:
    """Built-in plugins, then third-party ones; done at first use, not at import, so a CLI
    verb that needs no plugin does not import every installed plugin's modules."""
    plugins = {p.name: p for p in BUILT_IN}
    origins = dict.fromkeys(plugins, BUILT_IN_ORIGIN)
    broken: list[BrokenPlugin] = []
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        origin = _origin(entry)
        try:
            plugin = _plugin(entry, origins)
        except _Refused as exc:
            broken.append(BrokenPlugin(entry.name, origin, str(exc)))
            continue
        plugins[plugin.name] = plugin
        origins[plugin.name] = origin
    return _Loaded(dict(sorted(plugins.items())), origins, broken)


def _origin(entry: EntryPoint) -> str:
    dist = entry.dist
    name = f"{dist.name} {dist.version}" if dist is not None else "an unknown distribution"
    return f"{name} ({entry.value})"


def _plugin(entry: EntryPoint, origins: dict[str, str]) -> Plugin:
    """The plugin ``entry`` names, checked; raises _Refused saying what is wrong."""
    try:
        loaded = entry.load()
        plugin = loaded() if isinstance(loaded, type) and issubclass(loaded, Plugin) else loaded
    except Exception as exc:  # a third-party module may raise anything while importing
        raise _Refused(f"could not be loaded: {type(exc).__name__}: {exc}") from exc
    if not isinstance(plugin, Plugin):
        raise _Refused(f"it is a {type(plugin).__name__}, not a renderq Plugin subclass or instance")
    name = getattr(plugin, "name", None)
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise _Refused(
            f"its name {name!r} is not a lowercase word "
            "(a-z, 0-9, _ and -, starting with a letter, at most 64 characters)"
        )
    if name in origins:
        taken_by = "the built-in one" if origins[name] == BUILT_IN_ORIGIN else f"the one from {origins[name]}"
        raise _Refused(f"its name {name!r} is taken by {taken_by}")
    return plugin
