"""``renderq submit PLUGIN --help``: the usual help, then the plugin's parameters.

Help must work without a controller (and fast), so it reads the plugins this renderq
carries, not the farm's; ``renderq plugins`` lists the farm's own.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any, NoReturn

from renderq.cli.tables import Column, output_width, render_table
from renderq.plugins.base import Parameter, ParamType
from renderq.plugins.registry import all_plugins, get_plugin


def plugin_names() -> str:
    """``blender, command or demo``."""
    names = [p.name for p in all_plugins()]
    return ", ".join(names[:-1]) + f" or {names[-1]}" if len(names) > 1 else "".join(names)


def parameters_help(name: str, width: int) -> str:
    """The parameters of the plugin ``name`` as a table, or a sentence when there is none."""
    plugin = get_plugin(name)
    if plugin is None:
        return (
            f"There is no plugin {name!r} in this renderq (it has {plugin_names()}); "
            "`renderq plugins` lists the farm's."
        )
    columns = [Column("PARAMETER"), Column("TYPE"), Column("DEFAULT", cut=True), Column("MEANING", wrap=True)]
    rows = [
        [p.name + ("*" if p.required else ""), p.type.value, plugin.default_json(p) or "-", _meaning(p)]
        for p in plugin.parameters
    ]
    lines = render_table(columns, rows, width)
    return "\n".join([f"parameters of {name} (--param NAME=VALUE; * required):", *lines])


def _meaning(p: Parameter) -> str:
    if p.type is ParamType.CHOICE:
        return f"{p.help}: {', '.join(p.choices)}"
    return p.help


class PluginHelpAction(argparse.Action):
    """``-h/--help`` that also shows the parameters of the plugin named before it."""

    def __init__(self, option_strings: Sequence[str], dest: str, help: str | None = None) -> None:
        super().__init__(
            option_strings, dest=argparse.SUPPRESS, default=argparse.SUPPRESS, nargs=0, help=help
        )

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> NoReturn:
        parser.print_help()
        plugin = getattr(namespace, "plugin", None)
        if plugin:
            print()
            print(parameters_help(plugin, output_width()))
        parser.exit()
