"""The plugin registry: every plugin once, by name, with a schema whose defaults are valid."""

from __future__ import annotations

import pytest

from renderq.plugins.base import ParamType, Plugin
from renderq.plugins.registry import all_plugins, get_plugin


def test_plugins_are_listed_by_name() -> None:
    names = [p.name for p in all_plugins()]
    assert names == sorted(names) and {"blender", "command", "demo", "ffmpeg", "python"} <= set(names)


def test_a_plugin_is_found_by_name_and_is_always_the_same_instance() -> None:
    blender = get_plugin("blender")
    assert blender is not None and blender is get_plugin("blender")
    assert get_plugin("houdini") is None


@pytest.mark.parametrize("plugin", all_plugins(), ids=lambda p: p.name)
def test_every_parameter_is_described_and_its_default_fits_its_type(plugin: Plugin) -> None:
    assert plugin.description
    for parameter in plugin.parameters:
        assert parameter.help, parameter.name
        if parameter.type is ParamType.CHOICE:
            assert parameter.default in parameter.choices
        if parameter.default is not None:
            expected = {ParamType.INTEGER: int, ParamType.NUMBER: float, ParamType.BOOLEAN: bool}.get(
                parameter.type, str
            )
            assert isinstance(parameter.default, expected), parameter.name
