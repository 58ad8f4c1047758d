"""Every plugin the farm knows, one instance each, looked up by name."""

from __future__ import annotations

from renderq.plugins.aftereffects import AfterEffectsPlugin
from renderq.plugins.base import Plugin
from renderq.plugins.blender import BlenderPlugin
from renderq.plugins.command import CommandPlugin
from renderq.plugins.demo import DemoPlugin
from renderq.plugins.ffmpeg import FfmpegPlugin
from renderq.plugins.python import PythonPlugin

BUILT_IN: tuple[Plugin, ...] = (
    AfterEffectsPlugin(),
    BlenderPlugin(),
    CommandPlugin(),
    DemoPlugin(),
    FfmpegPlugin(),
    PythonPlugin(),
)
"""The plugins renderq ships, one instance each."""

_PLUGINS: dict[str, Plugin] = {p.name: p for p in sorted(BUILT_IN, key=lambda p: p.name)}


def get_plugin(name: str) -> Plugin | None:
    return _PLUGINS.get(name)


def all_plugins() -> list[Plugin]:
    """Sorted by name."""
    return list(_PLUGINS.values())
